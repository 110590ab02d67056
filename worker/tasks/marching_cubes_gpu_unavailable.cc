// marching_cubes_gpu.h in a build without CUDA: every entry point says so.
#include "absl/status/status.h"
#include "worker/tasks/marching_cubes_gpu.h"

namespace kiln::tasks {
namespace {

absl::Status NotBuilt() {
  return absl::FailedPreconditionError(
      "this kiln_tasks was built without the CUDA marching cubes (KILN_WITH_CUDA=OFF or no "
      "nvcc); use the CPU path");
}

}  // namespace

bool GpuMarchingCubesBuilt() { return false; }

absl::StatusOr<Mesh> ExtractIsosurfaceOnGpu(int, const GridSpec&, const SliceSampler&,
                                            const MarchingCubesOptions&) {
  return NotBuilt();
}

absl::StatusOr<Mesh> ExtractIsosurfaceFromFieldOnGpu(int, const GridSpec&, std::span<const float>,
                                                     double, bool) {
  return NotBuilt();
}

}  // namespace kiln::tasks
