// SdfScene: a signed distance field described by task parameters (a small CSG tree of
// spheres, boxes and tori combined by union, intersection and difference), parsed once
// from a google.protobuf.Value and then evaluated many times. Negative inside.
//
// The scheduler parses a scene to validate a job; the executor parses it again to
// sample it. A parsed scene is immutable: Distance() and bounds() are const and safe to
// call from any number of threads at once. Copies share the same tree.
//
// Schema of a node (a Struct); "center" is optional and defaults to the origin:
//   {"type":"sphere", "radius":r, "center":[x,y,z]}
//   {"type":"box", "size":[sx,sy,sz], "center":[..]}        (full edge lengths)
//   {"type":"torus", "major_radius":R, "minor_radius":r, "center":[..]}  (axis z)
//   {"type":"union", "children":[...]}
//   {"type":"intersection", "children":[...]}
//   {"type":"difference", "children":[base, sub1, ...]}     (base minus the others)
// Unknown keys are errors, so a typo never silently changes a shape.
#ifndef KILN_COMMON_SDF_SCENE_H_
#define KILN_COMMON_SDF_SCENE_H_

#include <array>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

// Limits on what a scene may describe; parsing rejects anything beyond them.
inline constexpr int kSdfMaxDepth = 16;          // Root node is depth 1.
inline constexpr int kSdfMaxNodes = 256;         // All nodes of the tree.
inline constexpr int kSdfMaxChildren = 64;       // Per union/intersection/difference.
inline constexpr double kSdfMaxMagnitude = 1e6;  // |coordinate| and size limit.

using Vec3 = std::array<double, 3>;

// An axis-aligned box; empty when any min > max.
struct Aabb {
  Vec3 min{0, 0, 0};
  Vec3 max{0, 0, 0};
  bool empty() const { return min[0] > max[0] || min[1] > max[1] || min[2] > max[2]; }
};

class SdfScene {
 public:
  // Parses `node`. Errors are InvalidArgument with a message that starts with the
  // field path, built from `path` (e.g. "parameters.shape.children[1].radius: must be
  // > 0").
  static absl::StatusOr<SdfScene> Parse(const google::protobuf::Value& node, std::string_view path);

  // Signed distance at `p` (exact for single primitives; the usual min/max bound for
  // CSG combinations, which is exact in sign).
  double Distance(const Vec3& p) const;

  // A box that contains the whole shape (not empty; Parse rejects empty scenes).
  const Aabb& bounds() const { return bounds_; }
  int node_count() const;

  struct Node;  // One shape or operation; defined in sdf_scene.cc.

 private:
  SdfScene(std::shared_ptr<const std::vector<Node>> nodes, Aabb bounds)
      : nodes_(std::move(nodes)), bounds_(bounds) {}

  double Eval(int index, const Vec3& p) const;

  // Flattened tree, root at index 0; children refer to later indices.
  std::shared_ptr<const std::vector<Node>> nodes_;
  Aabb bounds_;
};

}  // namespace kiln

#endif  // KILN_COMMON_SDF_SCENE_H_
