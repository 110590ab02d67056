// Test-only: the check at the start of a GPU test (CTest label gpu) that decides whether
// it runs. Header-only, CUDA runtime and the C++ standard library only.
#ifndef KILN_WORKER_CUDA_COMMON_GPU_TEST_DEVICE_H_
#define KILN_WORKER_CUDA_COMMON_GPU_TEST_DEVICE_H_

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

namespace kiln::cuda {

// Empty when a CUDA device is visible (device 0's name and SM are printed for the
// record); otherwise why not, for GTEST_SKIP():
//   if (const std::string why = CudaTestDeviceSkipReason(); !why.empty()) GTEST_SKIP() << why;
inline std::string CudaTestDeviceSkipReason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    return std::string("no CUDA device: ") +
           (error != cudaSuccess ? cudaGetErrorString(error) : "none visible");
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  return "";
}

}  // namespace kiln::cuda

#endif  // KILN_WORKER_CUDA_COMMON_GPU_TEST_DEVICE_H_
