#include "common/cad_build_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {
namespace {

using fields::CheckKeys;
using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::array<std::pair<std::string_view, CadNodeKind>, 7> kKinds = {{
    {"box", CadNodeKind::kBox},
    {"cylinder", CadNodeKind::kCylinder},
    {"sphere", CadNodeKind::kSphere},
    {"union", CadNodeKind::kUnion},
    {"difference", CadNodeKind::kDifference},
    {"intersection", CadNodeKind::kIntersection},
    {"fillet", CadNodeKind::kFillet},
}};

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusOr<const Struct*> Object(const Value& v, absl::string_view field,
                                     absl::string_view shape) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid(field, absl::StrCat("must be an object ", shape));
  }
  return &v.struct_value();
}

// A length in (0, kMaxCadMagnitude].
absl::StatusOr<double> Length(const Struct& s, absl::string_view key, absl::string_view prefix) {
  const std::string field = absl::StrCat(prefix, key);
  const Value* v = Find(s, key);
  if (v == nullptr) return Invalid(field, "required");
  if (v->kind_case() != Value::kNumberValue || !(v->number_value() > 0) ||
      !(v->number_value() <= kMaxCadMagnitude)) {
    return Invalid(field, absl::StrCat("must be a number > 0 and <= ", kMaxCadMagnitude));
  }
  return v->number_value();
}

absl::StatusOr<bool> OptionalBool(const Struct& s, absl::string_view key, absl::string_view prefix,
                                  bool fallback) {
  const Value* v = Find(s, key);
  if (v == nullptr) return fallback;
  return fields::Bool(*v, absl::StrCat(prefix, key));
}

class NodeParser {
 public:
  absl::StatusOr<CadNode> Parse(const Value& v, const std::string& field, int depth) {
    if (depth > kMaxCadDepth) {
      return Invalid(field, absl::StrCat("nested deeper than ", kMaxCadDepth, " levels"));
    }
    if (++nodes_ > kMaxCadNodes) {
      return Invalid(field, absl::StrCat("the shape has more than ", kMaxCadNodes, " nodes"));
    }
    KILN_ASSIGN_OR_RETURN(
        const Struct* s,
        Object(v, field,
               R"(with one of "box", "cylinder", "sphere", "union", "difference", )"
               R"("intersection", "fillet" (and optionally "rotate", "translate")))"));
    const std::string prefix = absl::StrCat(field, ".");
    KILN_RETURN_IF_ERROR(CheckKeys(*s, prefix,
                                   {"box", "cylinder", "sphere", "union", "difference",
                                    "intersection", "fillet", "rotate", "translate"}));
    CadNode node;
    const Value* body = nullptr;
    std::string_view kind_name;
    for (const auto& [name, kind] : kKinds) {
      const Value* b = Find(*s, Sv(name));
      if (b == nullptr) continue;
      if (body != nullptr) {
        return Invalid(field, absl::StrCat("has both \"", Sv(kind_name), "\" and \"", Sv(name),
                                           "\"; a node is exactly one kind"));
      }
      body = b;
      kind_name = name;
      node.kind = kind;
    }
    if (body == nullptr) {
      return Invalid(field, R"(needs one of "box", "cylinder", "sphere", "union", "difference", )"
                            R"("intersection", "fillet")");
    }
    const std::string kf = absl::StrCat(prefix, Sv(kind_name));
    const std::string kp = absl::StrCat(kf, ".");
    switch (node.kind) {
      case CadNodeKind::kBox: {
        KILN_ASSIGN_OR_RETURN(const Struct* b, Object(*body, kf, R"({"size": [x, y, z]})"));
        KILN_RETURN_IF_ERROR(CheckKeys(*b, kp, {"center", "size"}));
        const Value* size = Find(*b, "size");
        if (size == nullptr) return Invalid(absl::StrCat(kp, "size"), "required");
        KILN_ASSIGN_OR_RETURN(node.size,
                              fields::Vector3(*size, absl::StrCat(kp, "size"), kMaxCadMagnitude));
        for (double d : node.size) {
          if (!(d > 0)) return Invalid(absl::StrCat(kp, "size"), "every edge must be > 0");
        }
        KILN_ASSIGN_OR_RETURN(node.center, OptionalBool(*b, "center", kp, false));
        break;
      }
      case CadNodeKind::kCylinder: {
        KILN_ASSIGN_OR_RETURN(const Struct* b, Object(*body, kf, R"({"radius": r, "height": h})"));
        KILN_RETURN_IF_ERROR(CheckKeys(*b, kp, {"center", "height", "radius"}));
        KILN_ASSIGN_OR_RETURN(node.radius, Length(*b, "radius", kp));
        KILN_ASSIGN_OR_RETURN(node.height, Length(*b, "height", kp));
        KILN_ASSIGN_OR_RETURN(node.center, OptionalBool(*b, "center", kp, false));
        break;
      }
      case CadNodeKind::kSphere: {
        KILN_ASSIGN_OR_RETURN(const Struct* b, Object(*body, kf, R"({"radius": r})"));
        KILN_RETURN_IF_ERROR(CheckKeys(*b, kp, {"radius"}));
        KILN_ASSIGN_OR_RETURN(node.radius, Length(*b, "radius", kp));
        break;
      }
      case CadNodeKind::kUnion:
      case CadNodeKind::kDifference:
      case CadNodeKind::kIntersection: {
        KILN_ASSIGN_OR_RETURN(const Struct* b,
                              Object(*body, kf, R"({"children": [node, node, ...]})"));
        KILN_RETURN_IF_ERROR(CheckKeys(*b, kp, {"children"}));
        const Value* children = Find(*b, "children");
        const std::string cf = absl::StrCat(kp, "children");
        if (children == nullptr) return Invalid(cf, "required");
        if (children->kind_case() != Value::kListValue ||
            children->list_value().values_size() < 2 ||
            children->list_value().values_size() > kMaxCadChildren) {
          return Invalid(cf, absl::StrCat("must be a list of 2 to ", kMaxCadChildren, " nodes"));
        }
        for (int i = 0; i < children->list_value().values_size(); ++i) {
          KILN_ASSIGN_OR_RETURN(CadNode child, Parse(children->list_value().values(i),
                                                     absl::StrCat(cf, "[", i, "]"), depth + 1));
          node.children.push_back(std::move(child));
        }
        break;
      }
      case CadNodeKind::kFillet: {
        KILN_ASSIGN_OR_RETURN(const Struct* b,
                              Object(*body, kf, R"({"radius": r, "child": node})"));
        KILN_RETURN_IF_ERROR(CheckKeys(*b, kp, {"child", "radius"}));
        KILN_ASSIGN_OR_RETURN(node.radius, Length(*b, "radius", kp));
        const Value* child = Find(*b, "child");
        if (child == nullptr) return Invalid(absl::StrCat(kp, "child"), "required");
        KILN_ASSIGN_OR_RETURN(CadNode c, Parse(*child, absl::StrCat(kp, "child"), depth + 1));
        node.children.push_back(std::move(c));
        break;
      }
    }
    if (const Value* r = Find(*s, "rotate")) {
      const std::string rf = absl::StrCat(prefix, "rotate");
      KILN_ASSIGN_OR_RETURN(const Struct* b,
                            Object(*r, rf, R"({"axis": [x, y, z], "degrees": d})"));
      KILN_RETURN_IF_ERROR(CheckKeys(*b, absl::StrCat(rf, "."), {"axis", "degrees"}));
      CadRotation rotation;
      const Value* axis = Find(*b, "axis");
      const Value* degrees = Find(*b, "degrees");
      if (axis == nullptr) return Invalid(absl::StrCat(rf, ".axis"), "required");
      if (degrees == nullptr) return Invalid(absl::StrCat(rf, ".degrees"), "required");
      KILN_ASSIGN_OR_RETURN(rotation.axis,
                            fields::Vector3(*axis, absl::StrCat(rf, ".axis"), kMaxCadMagnitude));
      const double norm =
          std::sqrt(rotation.axis[0] * rotation.axis[0] + rotation.axis[1] * rotation.axis[1] +
                    rotation.axis[2] * rotation.axis[2]);
      if (!(norm > 1e-9)) return Invalid(absl::StrCat(rf, ".axis"), "must not be zero");
      KILN_ASSIGN_OR_RETURN(rotation.degrees,
                            fields::NumberIn(*degrees, absl::StrCat(rf, ".degrees"), -3600, 3600));
      node.rotate = rotation;
    }
    if (const Value* t = Find(*s, "translate")) {
      KILN_ASSIGN_OR_RETURN(
          node.translate, fields::Vector3(*t, absl::StrCat(prefix, "translate"), kMaxCadMagnitude));
    }
    return node;
  }

 private:
  int nodes_ = 0;
};

}  // namespace

std::string_view CadNodeKindName(CadNodeKind kind) {
  for (const auto& [name, k] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

absl::StatusOr<CadBuildParams> ParseCadBuildParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(
      CheckKeys(parameters, "", {"drawing", "outputs", "preview", "shape", "tessellation"}));
  CadBuildParams params;
  const Value* shape = Find(parameters, "shape");
  if (shape == nullptr) return Invalid("shape", "required (a CSG node, e.g. {\"box\": {...}})");
  NodeParser parser;
  KILN_ASSIGN_OR_RETURN(params.shape, parser.Parse(*shape, "shape", 1));

  if (const Value* t = Find(parameters, "tessellation")) {
    KILN_ASSIGN_OR_RETURN(
        const Struct* s,
        Object(*t, "tessellation", R"({"linear_deflection": d, "angular_deflection": a})"));
    KILN_RETURN_IF_ERROR(
        CheckKeys(*s, "tessellation.", {"angular_deflection", "linear_deflection"}));
    if (const Value* d = Find(*s, "linear_deflection")) {
      if (d->kind_case() != Value::kNumberValue || !(d->number_value() > 0) ||
          !(d->number_value() <= kMaxCadMagnitude)) {
        return Invalid("tessellation.linear_deflection",
                       absl::StrCat("must be a number > 0 and <= ", kMaxCadMagnitude));
      }
      params.linear_deflection = d->number_value();
    }
    if (const Value* a = Find(*s, "angular_deflection")) {
      KILN_ASSIGN_OR_RETURN(params.angular_deflection,
                            fields::NumberIn(*a, "tessellation.angular_deflection", 0.05, 1.5));
    }
  }
  if (const Value* d = Find(parameters, "drawing")) {
    KILN_ASSIGN_OR_RETURN(const Struct* s,
                          Object(*d, "drawing", R"({"projection": ..., "hidden": bool})"));
    KILN_RETURN_IF_ERROR(CheckKeys(*s, "drawing.", {"hidden", "projection"}));
    if (const Value* p = Find(*s, "projection")) {
      KILN_ASSIGN_OR_RETURN(
          const std::string projection,
          fields::OneOf(*p, "drawing.projection", {"third-angle", "first-angle"}));
      params.projection =
          projection == "first-angle" ? CadProjection::kFirstAngle : CadProjection::kThirdAngle;
    }
    KILN_ASSIGN_OR_RETURN(params.hidden_lines, OptionalBool(*s, "hidden", "drawing.", true));
  }
  if (const Value* o = Find(parameters, "outputs")) {
    KILN_ASSIGN_OR_RETURN(
        const Struct* s, Object(*o, "outputs", R"({"step": name, "mesh": name, "drawing": name})"));
    KILN_RETURN_IF_ERROR(CheckKeys(*s, "outputs.", {"drawing", "mesh", "step"}));
    if (const Value* v = Find(*s, "step")) {
      KILN_ASSIGN_OR_RETURN(params.step_output,
                            fields::OutputName(*v, "outputs.step", {".step", ".stp"}));
    }
    if (const Value* v = Find(*s, "mesh")) {
      KILN_ASSIGN_OR_RETURN(params.mesh_output,
                            fields::OutputName(*v, "outputs.mesh", {".glb", ".ply"}));
    }
    if (const Value* v = Find(*s, "drawing")) {
      KILN_ASSIGN_OR_RETURN(params.drawing_output,
                            fields::OutputName(*v, "outputs.drawing", {".dxf"}));
    }
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
  }
  return params;
}

}  // namespace kiln
