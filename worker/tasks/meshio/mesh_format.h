// Mesh file formats Kiln reads and writes, chosen by a file's extension. Pure functions;
// any thread may call them.
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_FORMAT_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::tasks {

enum class MeshFormat {
  kObj,   // Wavefront .obj
  kPly,   // Stanford .ply
  kStl,   // .stl (ascii or binary)
  kGlb,   // glTF 2.0 binary .glb
  kStep,  // ISO 10303 .step/.stp: OpenCASCADE only (worker/cad/step_mesh.h)
};

// By the extension, case-insensitive: .obj .ply .stl .glb .step .stp. InvalidArgument
// naming the path for anything else.
absl::StatusOr<MeshFormat> FormatFromPath(absl::string_view path);

// "obj", "ply", "stl", "glb", "step".
std::string FormatName(MeshFormat format);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_FORMAT_H_
