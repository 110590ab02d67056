// The CUDA build of marching_cubes_gpu.h (marching_cubes_gpu_unavailable.cc is the other).
#include "worker/tasks/marching_cubes_gpu.h"

#include <memory>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "worker/tasks/cuda/marching_cubes_cuda.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/marching_cubes_cpu.h"

namespace kiln::tasks {
namespace {

// Runs `extract` with a fresh CudaMarchingCubes on `device`; host allocation failures
// (a large mesh) become ResourceExhausted instead of escaping as exceptions.
template <typename Extract>
absl::StatusOr<Mesh> WithCuda(int device, Extract&& extract) {
  try {
    std::unique_ptr<CudaMarchingCubes> cuda;
    CudaMarchingCubesOptions options;
    options.device = device;
    MarchingCubesStatus status = CudaMarchingCubes::Create(options, &cuda);
    if (!status.ok()) return ToAbslStatus(status);
    Mesh mesh;
    status = extract(*cuda, &mesh);
    if (!status.ok()) return ToAbslStatus(status);
    return mesh;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of host memory for the CUDA marching cubes' mesh");
  }
}

}  // namespace

bool GpuMarchingCubesBuilt() { return true; }

absl::StatusOr<Mesh> ExtractIsosurfaceOnGpu(int device, const GridSpec& grid,
                                            const SliceSampler& sample,
                                            const MarchingCubesOptions& options) {
  CudaExtractOptions cuda_options;
  cuda_options.iso = options.iso;
  absl::StatusOr<Mesh> mesh = WithCuda(device, [&](CudaMarchingCubes& cuda, Mesh* out) {
    return cuda.ExtractFromSlices(grid, sample, cuda_options, options.progress, out);
  });
  if (mesh.ok() && options.gradient) SetNormalsFromGradient(options.gradient, &*mesh);
  return mesh;
}

absl::StatusOr<Mesh> ExtractIsosurfaceFromFieldOnGpu(int device, const GridSpec& grid,
                                                     std::span<const float> field, double iso,
                                                     bool normals) {
  CudaExtractOptions cuda_options;
  cuda_options.iso = iso;
  cuda_options.normals = normals;
  return WithCuda(device, [&](CudaMarchingCubes& cuda, Mesh* out) {
    return cuda.ExtractFromHost(field, grid, cuda_options, out);
  });
}

}  // namespace kiln::tasks
