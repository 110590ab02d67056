// The CUDA marching cubes for kiln_tasks: the same mesh as ExtractIsosurface
// (marching_cubes.h) computed on a GPU, with absl::Status errors. This is the seam that
// mesh.extract uses on a GPU slot; in a build without CUDA (KILN_WITH_CUDA=OFF, or no
// nvcc) the same functions exist and fail with FailedPrecondition, and
// GpuMarchingCubesBuilt() says false, so callers keep the CPU path.
//
// Each call creates its own device context and frees its device memory before returning
// (a task must not keep GPU memory that a model could use). For a field already on the
// device, and buffers kept across calls, use CudaMarchingCubes (cuda/marching_cubes_cuda.h)
// directly. Reentrant; callbacks run on the calling thread.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_GPU_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_GPU_H_

#include <span>

#include "absl/status/statusor.h"
#include "worker/tasks/marching_cubes_types.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// True when this build of kiln_tasks has the CUDA marching cubes.
bool GpuMarchingCubesBuilt();

// ExtractIsosurface on CUDA device `device`: samples the field slice by slice on the host
// (options.progress counts the slices), uploads it, extracts on the GPU and downloads the
// mesh. With options.gradient, normals come from it on the host at the vertices' float
// positions, with the CPU path's fallback where it vanishes. Errors: InvalidArgument (bad
// grid, NaN/Inf sample), ResourceExhausted (device memory), FailedPrecondition (no CUDA
// device, no kernel image for it, or a build without CUDA), Internal.
absl::StatusOr<Mesh> ExtractIsosurfaceOnGpu(int device, const GridSpec& grid,
                                            const SliceSampler& sample,
                                            const MarchingCubesOptions& options);

// From a whole field in host memory ((cells+1)^3 samples, x fastest). With `normals`,
// normals are the field's interpolated central-difference gradient, computed on the GPU
// (SampledFieldGradient in marching_cubes_cpu.h gives the CPU path the same).
absl::StatusOr<Mesh> ExtractIsosurfaceFromFieldOnGpu(int device, const GridSpec& grid,
                                                     std::span<const float> field, double iso,
                                                     bool normals);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_GPU_H_
