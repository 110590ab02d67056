// STL files for meshes, ascii and binary. Hand-written: Debian 12 packages no STL library
// (only whole toolkits such as VTK or CGAL). Stateless functions; any thread may call
// them, but concurrent writers must not target the same path.
#ifndef KILN_WORKER_TASKS_MESHIO_STL_H_
#define KILN_WORKER_TASKS_MESHIO_STL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/meshio/mesh_write_options.h"

namespace kiln::tasks {

// Binary STL (80-byte header, uint32 count, 50 bytes per triangle) or, with
// options.ascii, "solid kiln ... endsolid kiln". Facet normals are computed from the
// triangles; vertex normals and colors are not representable and dropped. Written under
// a temporary name and renamed into place.
absl::Status WriteStl(const Mesh& mesh, const std::string& path, const WriteOptions& options = {});

// Reads binary or ascii STL (told apart by the binary size rule: 84 + 50 * count bytes,
// as files that start with "solid" may still be binary). Identical positions (bitwise
// equal floats) are welded into one vertex so the result is indexed; the result has no
// normals or colors. NotFound when the file cannot be opened; InvalidArgument naming
// the file when it is truncated, malformed, holds a non-finite coordinate or declares
// more triangles than the limits of mesh_checks.h.
absl::StatusOr<Mesh> ReadStl(const std::string& path);

// As ReadStl, on the file's bytes; `name` stands for the file in messages.
absl::StatusOr<Mesh> ReadStlFromBytes(absl::string_view bytes, const std::string& name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_STL_H_
