// Wavefront OBJ files for meshes. Reading goes through tinyobjloader (Debian's
// libtinyobjloader); writing is a few lines of text. Stateless functions; any thread may
// call them, but concurrent writers must not target the same path.
#ifndef KILN_WORKER_TASKS_MESHIO_OBJ_H_
#define KILN_WORKER_TASKS_MESHIO_OBJ_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// Writes "v x y z" (with "r g b" in [0, 1] appended when the mesh has colors, the common
// vertex-color extension), "vn" lines when it has normals, and "f a b c" (or "f a//a
// b//b c//c" with normals) with 1-based indices. Alpha is not representable and dropped.
// Written under a temporary name and renamed into place.
absl::Status WriteObj(const Mesh& mesh, const std::string& path);

// Reads positions, vertex colors ("v x y z r g b") and faces, triangulating polygons.
// Normals ("vn") are kept when every face corner names the normal of the same index as
// its position (as WriteObj writes them); otherwise they are dropped, since Mesh holds
// one normal per position. Materials and texture coordinates are ignored ("mtllib" is
// never opened). NotFound when the file cannot be opened; InvalidArgument naming the
// file for malformed content, bad indices or non-finite coordinates.
absl::StatusOr<Mesh> ReadObj(const std::string& path);

// As ReadObj, on the file's bytes; `name` stands for the file in messages.
absl::StatusOr<Mesh> ReadObjFromBytes(absl::string_view bytes, const std::string& name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_OBJ_H_
