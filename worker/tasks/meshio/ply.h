// PLY (Stanford polygon) files for meshes: the output format of mesh.extract and one of
// mesh.convert's formats. Stateless functions; any thread may call them, but concurrent
// writers must not target the same path.
#ifndef KILN_WORKER_TASKS_MESHIO_PLY_H_
#define KILN_WORKER_TASKS_MESHIO_PLY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/meshio/mesh_write_options.h"

namespace kiln::tasks {

// Writes binary_little_endian 1.0 (or ascii 1.0 with options.ascii): vertex float x y z,
// float nx ny nz when the mesh has normals, uchar red green blue alpha when it has
// colors; face list uchar uint vertex_indices. The data goes to a temporary name in the
// same directory that is renamed to `path` once complete, so `path` never names a
// half-written file. InvalidArgument for an inconsistent mesh; Unavailable for I/O
// errors (full disk, missing directory), which a retry elsewhere may not hit.
absl::Status WritePly(const Mesh& mesh, const std::string& path, const WriteOptions& options = {});

// Reads ascii, binary_little_endian or binary_big_endian 1.0 files with a "vertex"
// element holding x, y, z (optionally nx, ny, nz and red, green, blue[, alpha] colors;
// other properties and elements are skipped) and an optional "face" element whose
// vertex_indices (or vertex_index) list is triangulated as a fan. NotFound when the file
// cannot be opened; InvalidArgument, naming the file and the place, when it is
// malformed, truncated, holds a non-finite coordinate or exceeds the limits of
// mesh_checks.h.
absl::StatusOr<Mesh> ReadPly(const std::string& path);

// As ReadPly, on the file's bytes; `name` stands for the file in messages.
absl::StatusOr<Mesh> ReadPlyFromBytes(absl::string_view bytes, const std::string& name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_PLY_H_
