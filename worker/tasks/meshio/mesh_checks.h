// Limits and consistency checks shared by the mesh readers and writers, so every format
// rejects the same things with the same words. Pure functions; any thread may call them.
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_CHECKS_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_CHECKS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// Far beyond what a generated mesh needs (2^28 vertices take 3 GiB as float xyz), small
// enough that a hostile count cannot make a reader allocate without bound.
inline constexpr uint64_t kMaxMeshVertices = uint64_t{1} << 28;
inline constexpr uint64_t kMaxMeshFaces = uint64_t{1} << 28;
// Mesh files larger than this are refused before they are read into memory.
inline constexpr uint64_t kMaxMeshFileBytes = uint64_t{16} << 30;

// InvalidArgument "<name>: <what> count N exceeds the limit M" when count > limit.
absl::Status CheckCount(absl::string_view name, absl::string_view what, uint64_t count,
                        uint64_t limit);

// The mesh is self-consistent: normals and colors empty or one per position, every
// triangle index < positions.size(), counts within the limits, every coordinate and
// normal finite. InvalidArgument starting with `name` (a file path, or "mesh").
absl::Status CheckMesh(const Mesh& mesh, absl::string_view name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_CHECKS_H_
