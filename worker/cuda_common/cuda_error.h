// What the standalone CUDA libraries (worker/render/cuda, worker/tasks/cuda) share when
// turning a cudaError_t into their own status. Header-only, CUDA runtime and the C++
// standard library only (no Abseil), so those libraries still build on their own.
#ifndef KILN_WORKER_CUDA_COMMON_CUDA_ERROR_H_
#define KILN_WORKER_CUDA_COMMON_CUDA_ERROR_H_

#include <cuda_runtime.h>

#include <string>

namespace kiln::cuda {

// True when the error says this build or machine cannot run the kernels at all (no
// device, no kernel image for its architecture, a driver too old) rather than that a
// call went wrong: callers report it as FailedPrecondition so the work can go elsewhere.
inline bool IsCudaUnavailableError(cudaError_t error) {
  switch (error) {
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidPtx:
    case cudaErrorJitCompilerNotFound:
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
      return true;
    default:
      return false;
  }
}

// "<description> (<name>)", e.g. "out of memory (cudaErrorMemoryAllocation)".
inline std::string CudaErrorText(cudaError_t error) {
  return std::string(cudaGetErrorString(error)) + " (" + cudaGetErrorName(error) + ")";
}

}  // namespace kiln::cuda

#endif  // KILN_WORKER_CUDA_COMMON_CUDA_ERROR_H_
