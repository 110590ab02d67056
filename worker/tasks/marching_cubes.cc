#include "worker/tasks/marching_cubes.h"

#include <utility>

#include "worker/tasks/marching_cubes_cpu.h"

namespace kiln::tasks {

absl::Status ToAbslStatus(const MarchingCubesStatus& status) {
  switch (status.code) {
    case MarchingCubesCode::kOk:
      return absl::OkStatus();
    case MarchingCubesCode::kInvalidArgument:
      return absl::InvalidArgumentError(status.message);
    case MarchingCubesCode::kResourceExhausted:
      return absl::ResourceExhaustedError(status.message);
    case MarchingCubesCode::kFailedPrecondition:
      return absl::FailedPreconditionError(status.message);
    case MarchingCubesCode::kInternal:
      break;
  }
  return absl::InternalError(status.message);
}

absl::StatusOr<Mesh> ExtractIsosurface(const GridSpec& grid, const SliceSampler& sample,
                                       const MarchingCubesOptions& options) {
  Mesh mesh;
  const MarchingCubesStatus status = ExtractIsosurfaceOnCpu(grid, sample, options, &mesh);
  if (!status.ok()) return ToAbslStatus(status);
  return mesh;
}

}  // namespace kiln::tasks
