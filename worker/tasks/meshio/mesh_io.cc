#include "worker/tasks/meshio/mesh_io.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/obj.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/tasks/meshio/stl.h"

namespace kiln::tasks {
namespace {

absl::Status NoStep(const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": STEP files need OpenCASCADE (worker/cad/step_mesh.h), not mesh_io"));
}

}  // namespace

absl::StatusOr<Mesh> ReadMesh(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const MeshFormat format, FormatFromPath(path));
  return ReadMesh(path, format);
}

absl::StatusOr<Mesh> ReadMesh(const std::string& path, MeshFormat format) {
  switch (format) {
    case MeshFormat::kObj:
      return ReadObj(path);
    case MeshFormat::kPly:
      return ReadPly(path);
    case MeshFormat::kStl:
      return ReadStl(path);
    case MeshFormat::kGlb:
      return ReadGlb(path);
    case MeshFormat::kStep:
      return NoStep(path);
  }
  return NoStep(path);
}

absl::Status WriteMesh(const Mesh& mesh, const std::string& path, const WriteOptions& options) {
  KILN_ASSIGN_OR_RETURN(const MeshFormat format, FormatFromPath(path));
  switch (format) {
    case MeshFormat::kObj:
      return WriteObj(mesh, path);
    case MeshFormat::kPly:
      return WritePly(mesh, path, options);
    case MeshFormat::kStl:
      return WriteStl(mesh, path, options);
    case MeshFormat::kGlb:
      return WriteGlb(mesh, path);
    case MeshFormat::kStep:
      return NoStep(path);
  }
  return NoStep(path);
}

}  // namespace kiln::tasks
