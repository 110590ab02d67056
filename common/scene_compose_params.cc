#include "common/scene_compose_params.h"

#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {

using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

namespace {

absl::StatusOr<std::array<double, 4>> ParseRotation(const Value& v, const std::string& field) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid(field, R"(must be an object {"axis": [x, y, z], "degrees": d})");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(fields::CheckKeys(s, absl::StrCat(field, "."), {"axis", "degrees"}));
  const Value* axis_value = Find(s, "axis");
  if (axis_value == nullptr) return Invalid(absl::StrCat(field, ".axis"), "required");
  const Value* degrees_value = Find(s, "degrees");
  if (degrees_value == nullptr) return Invalid(absl::StrCat(field, ".degrees"), "required");
  KILN_ASSIGN_OR_RETURN(const auto axis, fields::Vector3(*axis_value, absl::StrCat(field, ".axis"),
                                                         kMaxSceneMagnitude));
  KILN_ASSIGN_OR_RETURN(
      const double degrees,
      fields::NumberIn(*degrees_value, absl::StrCat(field, ".degrees"), -36000, 36000));
  const double length = std::sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  // Below this the direction is mostly rounding error.
  if (!(length > 1e-9)) {
    return Invalid(absl::StrCat(field, ".axis"), "must not be the zero vector");
  }
  const double half = degrees * std::numbers::pi / 360.0;
  const double s_half = std::sin(half) / length;
  return std::array<double, 4>{axis[0] * s_half, axis[1] * s_half, axis[2] * s_half,
                               std::cos(half)};
}

absl::StatusOr<std::array<double, 3>> ParseScale(const Value& v, const std::string& field) {
  std::array<double, 3> scale;
  if (v.kind_case() == Value::kNumberValue) {
    const double d = v.number_value();
    scale = {d, d, d};
  } else if (v.kind_case() == Value::kListValue && v.list_value().values_size() == 3) {
    KILN_ASSIGN_OR_RETURN(scale, fields::Vector3(v, field, kMaxSceneMagnitude));
  } else {
    return Invalid(field, "must be a number or a list of 3 numbers");
  }
  for (double d : scale) {
    if (!(d > 0) || d > kMaxSceneMagnitude) {
      return Invalid(field, absl::StrCat("each factor must be > 0 and <= ", kMaxSceneMagnitude));
    }
  }
  return scale;
}

absl::StatusOr<SceneObjectParams> ParseObject(const Value& v, const std::string& field) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid(field, R"(must be an object {"input": name, ...})");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(
      fields::CheckKeys(s, absl::StrCat(field, "."),
                        {"input", "name", "rotation", "scale", "segment", "translation"}));
  SceneObjectParams object;
  const Value* input = Find(s, "input");
  if (input == nullptr) {
    return Invalid(absl::StrCat(field, ".input"),
                   "required (the name of the job input holding the mesh)");
  }
  KILN_ASSIGN_OR_RETURN(object.input, fields::String(*input, absl::StrCat(field, ".input"),
                                                     fields::kMaxOutputNameLength));
  object.name = object.input;
  if (const Value* name = Find(s, "name")) {
    KILN_ASSIGN_OR_RETURN(
        object.name, fields::String(*name, absl::StrCat(field, ".name"), kMaxSceneNodeNameLength));
  }
  if (const Value* t = Find(s, "translation")) {
    KILN_ASSIGN_OR_RETURN(
        object.translation,
        fields::Vector3(*t, absl::StrCat(field, ".translation"), kMaxSceneMagnitude));
  }
  if (const Value* r = Find(s, "rotation")) {
    KILN_ASSIGN_OR_RETURN(object.rotation, ParseRotation(*r, absl::StrCat(field, ".rotation")));
  }
  if (const Value* sc = Find(s, "scale")) {
    KILN_ASSIGN_OR_RETURN(object.scale, ParseScale(*sc, absl::StrCat(field, ".scale")));
  }
  if (const Value* segment = Find(s, "segment")) {
    KILN_ASSIGN_OR_RETURN(
        object.segment,
        fields::IntegerIn(*segment, absl::StrCat(field, ".segment"), 0, kMaxSegmentObjects - 1));
  }
  return object;
}

absl::StatusOr<SceneLayoutParams> ParseLayout(const Value& v) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid("layout", R"(must be an object {"input": name, "width": w, "mesh_size": s})");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(fields::CheckKeys(s, "layout.", {"input", "mesh_size", "width"}));
  SceneLayoutParams layout;
  const Value* input = Find(s, "input");
  if (input == nullptr) {
    return Invalid("layout.input", "required (the job input holding image.segment's objects.json)");
  }
  KILN_ASSIGN_OR_RETURN(layout.input,
                        fields::String(*input, "layout.input", fields::kMaxOutputNameLength));
  for (const auto& [key, value] :
       {std::pair<const char*, double*>{"width", &layout.width},
        std::pair<const char*, double*>{"mesh_size", &layout.mesh_size}}) {
    if (const Value* n = Find(s, key)) {
      const std::string field = absl::StrCat("layout.", key);
      KILN_ASSIGN_OR_RETURN(*value, fields::NumberIn(*n, field, 0, kMaxSceneMagnitude));
      if (!(*value > 0)) return Invalid(field, "must be > 0");
    }
  }
  return layout;
}

}  // namespace

absl::StatusOr<SceneComposeParams> ParseSceneComposeParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(
      fields::CheckKeys(parameters, "", {"layout", "objects", "output", "preview"}));
  SceneComposeParams params;
  const Value* objects = Find(parameters, "objects");
  if (objects == nullptr) return Invalid("objects", "required (a list of objects)");
  if (objects->kind_case() != Value::kListValue || objects->list_value().values_size() < 1 ||
      objects->list_value().values_size() > kMaxSceneObjects) {
    return Invalid("objects",
                   absl::StrCat("must be a list of 1 to ", kMaxSceneObjects, " objects"));
  }
  for (int i = 0; i < objects->list_value().values_size(); ++i) {
    KILN_ASSIGN_OR_RETURN(SceneObjectParams object, ParseObject(objects->list_value().values(i),
                                                                absl::StrCat("objects[", i, "]")));
    params.objects.push_back(std::move(object));
  }
  if (const Value* v = Find(parameters, "layout")) {
    KILN_ASSIGN_OR_RETURN(params.layout, ParseLayout(*v));
  }
  bool any_segment = false;
  for (size_t i = 0; i < params.objects.size(); ++i) {
    if (!params.objects[i].segment.has_value()) continue;
    any_segment = true;
    if (!params.layout.has_value()) {
      return Invalid(absl::StrCat("objects[", i, "].segment"),
                     "needs parameters.layout (the objects.json of image.segment)");
    }
  }
  if (params.layout.has_value() && !any_segment) {
    return Invalid("layout", "no object names a segment (objects[i].segment) to place");
  }
  if (const Value* v = Find(parameters, "output")) {
    KILN_ASSIGN_OR_RETURN(params.output, fields::OutputName(*v, "output", {".glb"}));
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
  }
  return params;
}

}  // namespace kiln
