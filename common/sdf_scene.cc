#include "common/sdf_scene.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace kiln {

enum class SdfKind { kSphere, kBox, kTorus, kUnion, kIntersection, kDifference };

struct SdfScene::Node {
  SdfKind kind = SdfKind::kSphere;
  Vec3 center{0, 0, 0};
  // Sphere: {radius}; box: half sizes; torus: {major, minor}.
  Vec3 size{0, 0, 0};
  std::vector<int> children;
};

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using Node = SdfScene::Node;

struct KindInfo {
  absl::string_view name;
  SdfKind kind;
  std::vector<absl::string_view> fields;  // Sorted; includes "type".
};

const std::vector<KindInfo>& Kinds() {
  static const auto* kinds = new std::vector<KindInfo>{
      {"box", SdfKind::kBox, {"center", "size", "type"}},
      {"difference", SdfKind::kDifference, {"children", "type"}},
      {"intersection", SdfKind::kIntersection, {"children", "type"}},
      {"sphere", SdfKind::kSphere, {"center", "radius", "type"}},
      {"torus", SdfKind::kTorus, {"center", "major_radius", "minor_radius", "type"}},
      {"union", SdfKind::kUnion, {"children", "type"}},
  };
  return *kinds;
}

absl::string_view KindName(Value::KindCase kind) {
  switch (kind) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "number";
    case Value::kStringValue:
      return "string";
    case Value::kBoolValue:
      return "bool";
    case Value::kStructValue:
      return "object";
    case Value::kListValue:
      return "list";
    default:
      return "nothing";
  }
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<double> Number(const Value& v, absl::string_view path) {
  if (v.kind_case() != Value::kNumberValue) {
    return Invalid(path, absl::StrCat("must be a number (got ", KindName(v.kind_case()), ")"));
  }
  const double x = v.number_value();
  if (!std::isfinite(x) || std::abs(x) > kSdfMaxMagnitude) {
    return Invalid(path, absl::StrCat("must be finite with magnitude <= ", kSdfMaxMagnitude));
  }
  return x;
}

absl::StatusOr<double> PositiveNumber(const Value& v, absl::string_view path) {
  KILN_ASSIGN_OR_RETURN(double x, Number(v, path));
  if (!(x > 0)) return Invalid(path, "must be > 0");
  return x;
}

absl::StatusOr<Vec3> Vector(const Value& v, absl::string_view path, bool positive) {
  if (v.kind_case() != Value::kListValue || v.list_value().values_size() != 3) {
    return Invalid(path, "must be a list of 3 numbers");
  }
  Vec3 out;
  for (int i = 0; i < 3; ++i) {
    const std::string item = absl::StrCat(path, "[", i, "]");
    const Value& x = v.list_value().values(i);
    KILN_ASSIGN_OR_RETURN(out[i], positive ? PositiveNumber(x, item) : Number(x, item));
  }
  return out;
}

class Parser {
 public:
  absl::StatusOr<int> ParseNode(const Value& value, const std::string& path, int depth) {
    if (depth > kSdfMaxDepth) {
      return Invalid(path, absl::StrCat("shapes nest deeper than ", kSdfMaxDepth, " levels"));
    }
    if (static_cast<int>(nodes_.size()) >= kSdfMaxNodes) {
      return Invalid(path, absl::StrCat("the scene has more than ", kSdfMaxNodes, " shapes"));
    }
    if (value.kind_case() != Value::kStructValue) {
      return Invalid(path, absl::StrCat("must be an object with a \"type\" (got ",
                                        KindName(value.kind_case()), ")"));
    }
    const auto& fields = value.struct_value().fields();
    const std::string type_path = absl::StrCat(path, ".type");
    auto type_it = fields.find("type");
    if (type_it == fields.end()) return Invalid(type_path, "required");
    if (type_it->second.kind_case() != Value::kStringValue) {
      return Invalid(type_path, "must be a string");
    }
    const std::string& type = type_it->second.string_value();
    const KindInfo* info = nullptr;
    for (const KindInfo& k : Kinds()) {
      if (k.name == type) info = &k;
    }
    if (info == nullptr) {
      std::vector<absl::string_view> names;
      for (const KindInfo& k : Kinds()) names.push_back(k.name);
      return Invalid(type_path, absl::StrCat("unknown shape \"", type,
                                             "\" (known: ", absl::StrJoin(names, ", "), ")"));
    }
    // Report the first unknown key in sorted order, so the message is deterministic.
    std::vector<std::string> keys;
    for (const auto& [key, unused] : fields) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (const std::string& key : keys) {
      if (std::find(info->fields.begin(), info->fields.end(), key) == info->fields.end()) {
        return Invalid(absl::StrCat(path, ".", key),
                       absl::StrCat("unknown field for a ", info->name,
                                    " (known: ", absl::StrJoin(info->fields, ", "), ")"));
      }
    }

    const int index = static_cast<int>(nodes_.size());
    nodes_.emplace_back();
    bounds_.emplace_back();
    Node node;
    node.kind = info->kind;
    auto required = [&](absl::string_view key) -> absl::StatusOr<const Value*> {
      auto it = fields.find(std::string(key));
      if (it == fields.end()) return Invalid(absl::StrCat(path, ".", key), "required");
      return &it->second;
    };
    if (auto it = fields.find("center"); it != fields.end()) {
      KILN_ASSIGN_OR_RETURN(node.center, Vector(it->second, absl::StrCat(path, ".center"),
                                                /*positive=*/false));
    }
    Aabb box;
    switch (node.kind) {
      case SdfKind::kSphere: {
        KILN_ASSIGN_OR_RETURN(const Value* v, required("radius"));
        KILN_ASSIGN_OR_RETURN(node.size[0], PositiveNumber(*v, absl::StrCat(path, ".radius")));
        box = Around(node.center, {node.size[0], node.size[0], node.size[0]});
        break;
      }
      case SdfKind::kBox: {
        KILN_ASSIGN_OR_RETURN(const Value* v, required("size"));
        KILN_ASSIGN_OR_RETURN(Vec3 size, Vector(*v, absl::StrCat(path, ".size"),
                                                /*positive=*/true));
        for (int i = 0; i < 3; ++i) node.size[i] = size[i] / 2;
        box = Around(node.center, node.size);
        break;
      }
      case SdfKind::kTorus: {
        KILN_ASSIGN_OR_RETURN(const Value* major, required("major_radius"));
        KILN_ASSIGN_OR_RETURN(node.size[0],
                              PositiveNumber(*major, absl::StrCat(path, ".major_radius")));
        KILN_ASSIGN_OR_RETURN(const Value* minor, required("minor_radius"));
        KILN_ASSIGN_OR_RETURN(node.size[1],
                              PositiveNumber(*minor, absl::StrCat(path, ".minor_radius")));
        const double r = node.size[0] + node.size[1];
        box = Around(node.center, {r, r, node.size[1]});
        break;
      }
      case SdfKind::kUnion:
      case SdfKind::kIntersection:
      case SdfKind::kDifference: {
        KILN_ASSIGN_OR_RETURN(box, ParseChildren(fields, path, depth, node));
        break;
      }
    }
    nodes_[index] = std::move(node);
    bounds_[index] = box;
    return index;
  }

  std::vector<Node> TakeNodes() { return std::move(nodes_); }
  const Aabb& root_bounds() const { return bounds_[0]; }

 private:
  static Aabb Around(const Vec3& c, const Vec3& half) {
    Aabb b;
    for (int i = 0; i < 3; ++i) {
      b.min[i] = c[i] - half[i];
      b.max[i] = c[i] + half[i];
    }
    return b;
  }

  absl::StatusOr<Aabb> ParseChildren(const google::protobuf::Map<std::string, Value>& fields,
                                     const std::string& path, int depth, Node& node) {
    const std::string children_path = absl::StrCat(path, ".children");
    auto it = fields.find("children");
    if (it == fields.end()) return Invalid(children_path, "required");
    if (it->second.kind_case() != Value::kListValue) {
      return Invalid(children_path, "must be a list of shapes");
    }
    const auto& list = it->second.list_value().values();
    const int min_children = node.kind == SdfKind::kDifference ? 2 : 1;
    if (list.size() < min_children || list.size() > kSdfMaxChildren) {
      return Invalid(children_path,
                     absl::StrCat("must hold ", min_children, " to ", kSdfMaxChildren,
                                  " shapes (got ", list.size(), ")"));
    }
    Aabb box;
    for (int i = 0; i < list.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(
          int child, ParseNode(list[i], absl::StrCat(children_path, "[", i, "]"), depth + 1));
      node.children.push_back(child);
      const Aabb& b = bounds_[child];
      if (i == 0) {
        box = b;
        continue;
      }
      for (int a = 0; a < 3; ++a) {
        switch (node.kind) {
          case SdfKind::kUnion:
            box.min[a] = std::min(box.min[a], b.min[a]);
            box.max[a] = std::max(box.max[a], b.max[a]);
            break;
          case SdfKind::kIntersection:
            box.min[a] = std::max(box.min[a], b.min[a]);
            box.max[a] = std::min(box.max[a], b.max[a]);
            break;
          default:  // A difference is contained in its base.
            break;
        }
      }
    }
    if (box.empty()) {
      return Invalid(path, "the intersection is empty (the children's bounds do not overlap)");
    }
    return box;
  }

  std::vector<Node> nodes_;
  std::vector<Aabb> bounds_;  // Parallel to nodes_.
};

double Length(double x, double y, double z) { return std::sqrt(x * x + y * y + z * z); }

}  // namespace

absl::StatusOr<SdfScene> SdfScene::Parse(const Value& node, std::string_view path) {
  Parser parser;
  KILN_RETURN_IF_ERROR(parser.ParseNode(node, std::string(path), 1).status());
  const Aabb bounds = parser.root_bounds();
  return SdfScene(std::make_shared<const std::vector<Node>>(parser.TakeNodes()), bounds);
}

int SdfScene::node_count() const { return static_cast<int>(nodes_->size()); }

double SdfScene::Distance(const Vec3& p) const { return Eval(0, p); }

double SdfScene::Eval(int index, const Vec3& p) const {
  const Node& n = (*nodes_)[index];
  const double x = p[0] - n.center[0];
  const double y = p[1] - n.center[1];
  const double z = p[2] - n.center[2];
  switch (n.kind) {
    case SdfKind::kSphere:
      return Length(x, y, z) - n.size[0];
    case SdfKind::kBox: {
      const double qx = std::abs(x) - n.size[0];
      const double qy = std::abs(y) - n.size[1];
      const double qz = std::abs(z) - n.size[2];
      const double outside = Length(std::max(qx, 0.0), std::max(qy, 0.0), std::max(qz, 0.0));
      return outside + std::min(std::max({qx, qy, qz}), 0.0);
    }
    case SdfKind::kTorus: {
      const double q = std::sqrt(x * x + y * y) - n.size[0];
      return std::sqrt(q * q + z * z) - n.size[1];
    }
    case SdfKind::kUnion: {
      double d = Eval(n.children[0], p);
      for (size_t i = 1; i < n.children.size(); ++i) d = std::min(d, Eval(n.children[i], p));
      return d;
    }
    case SdfKind::kIntersection: {
      double d = Eval(n.children[0], p);
      for (size_t i = 1; i < n.children.size(); ++i) d = std::max(d, Eval(n.children[i], p));
      return d;
    }
    case SdfKind::kDifference: {
      double d = Eval(n.children[0], p);
      for (size_t i = 1; i < n.children.size(); ++i) d = std::max(d, -Eval(n.children[i], p));
      return d;
    }
  }
  return 0;
}

}  // namespace kiln
