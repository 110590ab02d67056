// One entry point for reading and writing meshes in any format Kiln supports without
// OpenCASCADE: .obj, .ply, .stl and .glb, picked by the path's extension (STEP lives in
// worker/cad/step_mesh.h and is injected by the executor). Stateless functions; any
// thread may call them, but concurrent writers must not target the same path.
//
// Errors: NotFound when the file cannot be opened; InvalidArgument naming the file and
// the problem (truncated, wrong magic, bad index, a count beyond the limits below, NaN)
// for malformed input or an unsupported extension; Unavailable for I/O errors on write.
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_IO_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/mesh_write_options.h"

namespace kiln::tasks {

// Reads .obj .ply .stl .glb by extension.
absl::StatusOr<Mesh> ReadMesh(const std::string& path);

// Reads `path` as `format`, whatever its name (e.g. a downloaded job input); STEP is
// InvalidArgument here.
absl::StatusOr<Mesh> ReadMesh(const std::string& path, MeshFormat format);

// Writes .obj .ply .stl .glb by extension; the file appears complete or not at all
// (written under a temporary name, then renamed).
absl::Status WriteMesh(const Mesh& mesh, const std::string& path, const WriteOptions& options = {});

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_IO_H_
