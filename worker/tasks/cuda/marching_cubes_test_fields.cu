#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/cuda/marching_cubes_test_fields_device.h"

namespace kiln::tasks::marching_cubes {
namespace {

__global__ void FillKernel(TestField field, FieldView f, uint32_t seed, float* values) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int j = blockIdx.y * blockDim.y + threadIdx.y;
  const int k = blockIdx.z;
  if (i > f.cells[0] || j > f.cells[1]) return;
  values[SampleIndex(f, i, j, k)] = TestFieldValue(field, f, seed, i, j, k);
}

}  // namespace

cudaError_t FillTestFieldOnDevice(TestField field, const GridSpec& grid, uint32_t seed,
                                  float* device_values, cudaStream_t stream) {
  const FieldView f = MakeFieldView(device_values, grid, 0);
  const dim3 block(kBlockX, kBlockY);
  const dim3 blocks((grid.cells[0] + kBlockX) / kBlockX, (grid.cells[1] + kBlockY) / kBlockY,
                    grid.cells[2] + 1);
  FillKernel<<<blocks, block, 0, stream>>>(field, f, seed, device_values);
  return cudaGetLastError();
}

}  // namespace kiln::tasks::marching_cubes
