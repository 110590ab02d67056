// The test fields of marching_cubes_test_fields.h computed on the device, for the
// benchmark (a 512^3 field need not cross PCIe) and GPU tests. CUDA builds only.
#ifndef KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_DEVICE_H_
#define KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_DEVICE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "worker/tasks/cuda/marching_cubes_test_fields.h"

namespace kiln::tasks::marching_cubes {

// Writes the field on `grid` into device_values ((cells+1)^3 floats, x fastest) on the
// current device, queued on `stream`. Returns the launch error, if any.
cudaError_t FillTestFieldOnDevice(TestField field, const GridSpec& grid, uint32_t seed,
                                  float* device_values, cudaStream_t stream);

}  // namespace kiln::tasks::marching_cubes

#endif  // KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_DEVICE_H_
