#include "worker/cad/step_mesh.h"

#include <IFSelect_ReturnStatus.hxx>
#include <STEPControl_Reader.hxx>
#include <TopoDS_Shape.hxx>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/cad/occt_status.h"
#include "worker/cad/shape_mesh.h"

namespace kiln::cad {

using kiln::tasks::Mesh;

absl::StatusOr<Mesh> ReadStepMesh(const std::string& path, const Tessellation& tessellation) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such STEP file"));
  }
  if (!(tessellation.linear_deflection >= 0) || !(tessellation.angular_deflection > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tessellation: linear deflection must be >= 0 and angular deflection > 0"));
  }
  return GuardOcct(path, [&]() -> absl::StatusOr<Mesh> {
    STEPControl_Reader reader;
    if (reader.ReadFile(path.c_str()) != IFSelect_RetDone) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a readable STEP file"));
    }
    if (reader.NbRootsForTransfer() <= 0 || reader.TransferRoots() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the STEP file holds no shapes"));
    }
    const TopoDS_Shape shape = reader.OneShape();
    if (shape.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the STEP file holds no shapes"));
    }
    absl::StatusOr<Mesh> mesh = TessellateShape(shape, tessellation);
    if (!mesh.ok()) {
      return absl::Status(mesh.status().code(), absl::StrCat(path, ": ", mesh.status().message()));
    }
    return mesh;
  });
}

absl::Status WriteStepMesh(const Mesh& mesh, const std::string& path) {
  return GuardOcct(path, [&]() -> absl::Status {
    absl::StatusOr<TopoDS_Shape> shape = MeshToShape(mesh);
    if (!shape.ok()) {
      return absl::Status(shape.status().code(),
                          absl::StrCat(path, ": ", shape.status().message()));
    }
    return WriteStepShape(*shape, path);
  });
}

}  // namespace kiln::cad
