// The real backend: CUDA runtime calls (cudart linked statically, so a host without a
// driver gets an error code, not a missing-library failure), the self-test kernel, and
// the one place where cudaError_t becomes a ProbeFailure.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "worker/device/device_backend.h"

#ifndef KILN_CUDA_ARCHITECTURES
#error "KILN_CUDA_ARCHITECTURES must name the CUDA_ARCHITECTURES this file is built for"
#endif

namespace kiln::device {
namespace {

// The one translation of CUDA errors. It also clears the thread's last (non-sticky)
// error so that a failure on one device does not leak into the next call.
BackendStatus FromCuda(cudaError_t error, const char* call) {
  ProbeFailure failure = ProbeFailure::kCudaError;
  switch (error) {
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
      failure = ProbeFailure::kNoKernelImage;
      break;
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidPtx:
    case cudaErrorJitCompilerNotFound:
    case cudaErrorJitCompilationDisabled:
      failure = ProbeFailure::kPtxJitFailed;
      break;
    case cudaErrorInsufficientDriver:
      failure = ProbeFailure::kInsufficientDriver;
      break;
    case cudaErrorNoDevice:
      failure = ProbeFailure::kNoDevice;
      break;
    case cudaErrorStubLibrary:
      failure = ProbeFailure::kNoDriver;
      break;
    default:
      break;
  }
  std::string detail =
      std::string(call) + ": " + cudaGetErrorString(error) + " (" + cudaGetErrorName(error) + ")";
  cudaGetLastError();
  return {failure, std::move(detail)};
}

#define KILN_CUDA_RETURN_IF_ERROR(call)                                            \
  do {                                                                             \
    const cudaError_t kiln_cuda_error_ = (call);                                   \
    if (kiln_cuda_error_ != cudaSuccess) return FromCuda(kiln_cuda_error_, #call); \
  } while (false)

__global__ void KilnSelfTestSaxpy(int n, float a, const float* x, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

// Frees a device allocation on every return path.
struct DeviceBuffer {
  float* data = nullptr;
  ~DeviceBuffer() {
    if (data != nullptr) cudaFree(data);
  }
};

class CudaBackend final : public DeviceBackend {
 public:
  bool simulated() const override { return false; }

  int DriverVersion() override {
    int version = 0;
    if (cudaDriverGetVersion(&version) != cudaSuccess) version = 0;
    return version;
  }

  int RuntimeVersion() override {
    int version = 0;
    if (cudaRuntimeGetVersion(&version) != cudaSuccess) version = 0;
    return version;
  }

  BackendStatus CountDevices(int* count) override {
    *count = 0;
    const cudaError_t error = cudaGetDeviceCount(count);
    if (error == cudaErrorInsufficientDriver && DriverVersion() == 0) {
      cudaGetLastError();
      return {ProbeFailure::kNoDriver, "libcuda.so.1 could not be loaded"};
    }
    if (error != cudaSuccess) return FromCuda(error, "cudaGetDeviceCount");
    return {};
  }

  BackendStatus QueryDevice(int ordinal, BackendDeviceInfo* info) override {
    cudaDeviceProp properties{};
    KILN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, ordinal));
    info->name = properties.name;
    info->compute_capability = properties.major * 10 + properties.minor;
    info->total_memory_bytes = static_cast<int64_t>(properties.totalGlobalMem);
    // Creates the primary context (kept: the executor uses the device next).
    size_t free_bytes = 0, total_bytes = 0;
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
    info->free_memory_bytes = static_cast<int64_t>(free_bytes);
    return {};
  }

  std::string KernelArchitectures(int) override { return KILN_CUDA_ARCHITECTURES; }

  // y = a*x + y over 1M floats; the inputs are chosen so that every result is exact in
  // fp32 (with or without FMA), so the host check is an equality.
  BackendStatus RunSelfTest(int ordinal) override {
    constexpr int kN = 1 << 20;
    constexpr float kA = 2.0f;
    std::vector<float> x(kN), y(kN);
    for (int i = 0; i < kN; ++i) {
      x[i] = static_cast<float>(i % 1024) * 0.5f;
      y[i] = static_cast<float>(i % 7) - 3.0f;
    }
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal));
    DeviceBuffer dx, dy;
    constexpr size_t kBytes = sizeof(float) * kN;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&dx.data, kBytes));
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&dy.data, kBytes));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(dx.data, x.data(), kBytes, cudaMemcpyHostToDevice));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(dy.data, y.data(), kBytes, cudaMemcpyHostToDevice));
    constexpr int kBlock = 256;
    KilnSelfTestSaxpy<<<(kN + kBlock - 1) / kBlock, kBlock>>>(kN, kA, dx.data, dy.data);
    KILN_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    KILN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    std::vector<float> result(kN);
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(result.data(), dy.data, kBytes, cudaMemcpyDeviceToHost));
    for (int i = 0; i < kN; ++i) {
      const float want = kA * x[i] + y[i];
      if (result[i] != want) {
        return {ProbeFailure::kWrongResult, "element " + std::to_string(i) + ": got " +
                                                std::to_string(result[i]) + ", want " +
                                                std::to_string(want)};
      }
    }
    return {};
  }
};

}  // namespace

std::string_view BuiltCudaArchitectures() { return KILN_CUDA_ARCHITECTURES; }

ProbeReport ProbeDevices(const ProbeOptions& options) {
  CudaBackend backend;
  return ProbeDevicesWith(options, &backend);
}

}  // namespace kiln::device
