// glTF 2.0 binary (.glb) files for meshes and small scenes, through tinygltf. Stateless
// functions; any thread may call them, but concurrent writers must not target the same path.
//
// Written files pass the Khronos glTF validator (tests/gltf): POSITION with min/max,
// NORMAL when the mesh has normals (normalized; left out when one has no direction),
// COLOR_0 as float VEC4 (the mesh's sRGB colors converted to linear, as glTF defines
// vertex colors; float keeps the round trip exact), uint32 indices, one default
// material, one node per mesh, buffer views 4-byte aligned. A mesh without triangles
// becomes a node without a mesh (glTF has no empty accessors).
#ifndef KILN_WORKER_TASKS_MESHIO_GLB_H_
#define KILN_WORKER_TASKS_MESHIO_GLB_H_

#include <array>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// One node of a scene: a mesh placed by translation, rotation and scale (glTF's TRS,
// applied scale first, then rotation, then translation).
struct SceneNode {
  std::string name;
  Mesh mesh;
  std::array<double, 3> translation{0, 0, 0};
  std::array<double, 4> rotation{0, 0, 0, 1};  // Unit quaternion x, y, z, w.
  std::array<double, 3> scale{1, 1, 1};
};

// A scene of one node holding `mesh`.
absl::Status WriteGlb(const Mesh& mesh, const std::string& path);

// One node (and one glTF mesh) per element of `nodes`, all children of the scene root.
absl::Status WriteGlbScene(std::span<const SceneNode> nodes, const std::string& path);

// The triangle meshes of all nodes of the default scene (or of every root node when
// there is no scene), with each node's transform applied, merged into one mesh. Normals
// and colors are kept only when every primitive has them. InvalidArgument for
// primitives that are not triangles, and for malformed files (naming the file).
absl::StatusOr<Mesh> ReadGlb(const std::string& path);

// As ReadGlb, on the file's bytes; `name` stands for the file in messages.
absl::StatusOr<Mesh> ReadGlbFromBytes(absl::string_view bytes, const std::string& name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_GLB_H_
