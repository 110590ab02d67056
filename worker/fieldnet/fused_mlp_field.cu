// FusedMlpField's CUDA side: the first-layer and output-layer kernels, the cuBLASLt hidden
// layers, the per-chunk CUDA graph, and the one place where cudaError_t and cublasStatus_t
// become Status.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "worker/fieldnet/fused_mlp_field.h"
#include "worker/fieldnet/mlp_point_math.h"

namespace kiln::fieldnet {
namespace {

Status FromCuda(cudaError_t error, const char* call) {
  StatusCode code = StatusCode::kInternal;
  switch (error) {
    case cudaErrorMemoryAllocation:
      code = StatusCode::kResourceExhausted;
      break;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
      code = StatusCode::kUnavailable;
      break;
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
      code = StatusCode::kFailedPrecondition;
      break;
    default:
      break;
  }
  std::string message =
      std::string(call) + ": " + cudaGetErrorString(error) + " (" + cudaGetErrorName(error) + ")";
  cudaGetLastError();  // clear a non-sticky error so it does not leak into the next call
  return Status(code, std::move(message));
}

Status FromCublas(cublasStatus_t status, const char* call) {
  StatusCode code = StatusCode::kInternal;
  if (status == CUBLAS_STATUS_ALLOC_FAILED) code = StatusCode::kResourceExhausted;
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || status == CUBLAS_STATUS_ARCH_MISMATCH) {
    code = StatusCode::kFailedPrecondition;
  }
  return Status(code, std::string(call) + ": " + cublasLtGetStatusString(status) + " (" +
                          cublasLtGetStatusName(status) + ")");
}

#define FIELDNET_CUDA_RETURN_IF_ERROR(call)                                                \
  do {                                                                                     \
    const cudaError_t fieldnet_cuda_error_ = (call);                                       \
    if (fieldnet_cuda_error_ != cudaSuccess) return FromCuda(fieldnet_cuda_error_, #call); \
  } while (false)

#define FIELDNET_CUBLAS_RETURN_IF_ERROR(call)               \
  do {                                                      \
    const cublasStatus_t fieldnet_cublas_status_ = (call);  \
    if (fieldnet_cublas_status_ != CUBLAS_STATUS_SUCCESS) { \
      return FromCublas(fieldnet_cublas_status_, #call);    \
    }                                                       \
  } while (false)

// Makes `device` current for a scope and restores the caller's device after it.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) : device_(device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device_) error_ = cudaSetDevice(device_);
  }
  ~ScopedDevice() {
    if (previous_ >= 0 && previous_ != device_) cudaSetDevice(previous_);
  }
  cudaError_t error() const { return error_; }

 private:
  int device_;
  int previous_ = -1;
  cudaError_t error_ = cudaSuccess;
};

// What the per-chunk graph reads at run time; SetDecodeParams writes it once per Decode and
// AdvanceChunk moves chunk_start after each chunk, so one captured graph serves every chunk
// of every grid.
struct DecodeParams {
  GridSpec grid;
  int64_t samples_total;
  int64_t chunk_start;
  float* field;
  float* colour;
};

constexpr int kThreads = 256;
constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Element traits per precision.
template <typename T>
struct ElementType;
template <>
struct ElementType<float> {
  static float FromFloat(float v) { return v; }
};
template <>
struct ElementType<__half> {
  static __half FromFloat(float v) { return __float2half_rn(v); }
};
template <>
struct ElementType<__nv_bfloat16> {
  static __nv_bfloat16 FromFloat(float v) { return __float2bfloat16_rn(v); }
};

// One group of kUnitGroup activations: a 16-byte vector for bf16/fp16, two for fp32.
__device__ __forceinline__ void StoreGroup(float* dst, const float* v) {
  float4* d = reinterpret_cast<float4*>(dst);
  d[0] = make_float4(v[0], v[1], v[2], v[3]);
  d[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void StoreGroup(__nv_bfloat16* dst, const float* v) {
  uint4 packed;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
  for (int k = 0; k < 4; ++k) pairs[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
  *reinterpret_cast<uint4*>(dst) = packed;
}
__device__ __forceinline__ void StoreGroup(__half* dst, const float* v) {
  uint4 packed;
  __half2* pairs = reinterpret_cast<__half2*>(&packed);
#pragma unroll
  for (int k = 0; k < 4; ++k) pairs[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
  *reinterpret_cast<uint4*>(dst) = packed;
}

__device__ __forceinline__ void LoadGroup(const float* src, float* v) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(src));
  const float4 b = __ldg(reinterpret_cast<const float4*>(src) + 1);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
  v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void LoadGroup(const __nv_bfloat16* src, float* v) {
  const uint4 packed = __ldg(reinterpret_cast<const uint4*>(src));
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __bfloat1622float2(pairs[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}
__device__ __forceinline__ void LoadGroup(const __half* src, float* v) {
  const uint4 packed = __ldg(reinterpret_cast<const uint4*>(src));
  const __half2* pairs = reinterpret_cast<const __half2*>(&packed);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __half22float2(pairs[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}

__global__ void SetDecodeParams(DecodeParams* params, DecodeParams value) { *params = value; }

__global__ void AdvanceChunk(DecodeParams* params, int64_t chunk_points) {
  params->chunk_start += chunk_points;
}

// First layer: each warp takes 32 consecutive samples, each lane computes one sample's
// position (the grid index is never stored), then the warp writes the points' activation
// rows one after another, lane l producing units [8l, 8l + 8) of each row: every store is
// one coalesced 16-byte-per-lane row segment. Samples past the grid get zero rows.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    FirstLayerKernel(const DecodeParams* __restrict__ params, const float* __restrict__ weight,
                     const float* __restrict__ bias, int padded_width, int chunk_points,
                     T* __restrict__ out) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / kWarpSize;
  const int64_t first = warp * kWarpSize;
  if (first >= chunk_points) return;  // the whole warp leaves together
  const int64_t sample = params->chunk_start + first + lane;
  const int valid = (first + lane < chunk_points) && (sample < params->samples_total);
  Point3 p{0.0f, 0.0f, 0.0f};
  if (valid) p = GridSamplePoint(params->grid, sample);
  const int points = static_cast<int>(min(static_cast<int64_t>(kWarpSize), chunk_points - first));
  const int groups = padded_width / kUnitGroup;
  for (int g0 = 0; g0 < groups; g0 += kWarpSize) {
    const int g = g0 + lane;
    const bool active = g < groups;
    float w[kUnitGroup * 3];
    float b[kUnitGroup];
    if (active) {
#pragma unroll
      for (int e = 0; e < kUnitGroup * 3; ++e) w[e] = __ldg(weight + g * kUnitGroup * 3 + e);
#pragma unroll
      for (int e = 0; e < kUnitGroup; ++e) b[e] = __ldg(bias + g * kUnitGroup + e);
    }
    for (int q = 0; q < points; ++q) {
      const Point3 pq{__shfl_sync(kFullMask, p.x, q), __shfl_sync(kFullMask, p.y, q),
                      __shfl_sync(kFullMask, p.z, q)};
      const int valid_q = __shfl_sync(kFullMask, valid, q);
      if (!active) continue;
      float v[kUnitGroup];
#pragma unroll
      for (int e = 0; e < kUnitGroup; ++e) {
        v[e] = valid_q ? FirstLayerUnit(w + 3 * e, b[e], pq) : 0.0f;
      }
      StoreGroup(out + (first + q) * padded_width + g * kUnitGroup, v);
    }
  }
}

// Output layer: one warp per sample reads its activation row once (16 bytes per lane),
// accumulates every output's dot product in fp32 and reduces across the warp; lane 0
// writes the field (and colour). Same operation order as OutputUnitLikeWarp on the host.
// kOutputs (1 or 4) is a template argument so the common 1-output network keeps few
// registers and many warps (loads) in flight.
template <typename T, int kOutputs>
__global__ void __launch_bounds__(kThreads)
    OutputLayerKernel(const DecodeParams* __restrict__ params, const T* __restrict__ act,
                      const float* __restrict__ weight, const float* __restrict__ bias,
                      int padded_width, int chunk_points) {
  constexpr int outputs = kOutputs;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / kWarpSize);
  const int64_t chunk_start = params->chunk_start;
  const int64_t total = params->samples_total;
  float* const field = params->field;
  float* const colour = params->colour;
  const int groups = padded_width / kUnitGroup;
  // The common case (width <= 256): each lane's weights stay in registers.
  const bool one_group_per_lane = groups <= kWarpSize;
  float lane_weight[kOutputs][kUnitGroup];
  float out_bias[kOutputs];
#pragma unroll
  for (int o = 0; o < kOutputs; ++o) {
    out_bias[o] = __ldg(bias + o);
#pragma unroll
    for (int e = 0; e < kUnitGroup; ++e) {
      lane_weight[o][e] = (one_group_per_lane && lane < groups)
                              ? __ldg(weight + o * padded_width + lane * kUnitGroup + e)
                              : 0.0f;
    }
  }
  for (int64_t q = warp; q < chunk_points; q += warps) {
    const int64_t sample = chunk_start + q;
    if (sample >= total) break;  // q only grows; uniform across the warp
    const T* row = act + q * padded_width;
    float acc[kOutputs] = {};
    if (one_group_per_lane) {
      if (lane < groups) {
        float h[kUnitGroup];
        LoadGroup(row + lane * kUnitGroup, h);
#pragma unroll
        for (int o = 0; o < kOutputs; ++o) acc[o] = AccumulateGroup(acc[o], h, lane_weight[o]);
      }
    } else {
      for (int g = lane; g < groups; g += kWarpSize) {
        float h[kUnitGroup];
        LoadGroup(row + g * kUnitGroup, h);
#pragma unroll
        for (int o = 0; o < kOutputs; ++o) {
          float w[kUnitGroup];
          LoadGroup(weight + o * padded_width + g * kUnitGroup, w);
          acc[o] = AccumulateGroup(acc[o], h, w);
        }
      }
    }
#pragma unroll
    for (int o = 0; o < kOutputs; ++o) {
#pragma unroll
      for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        acc[o] = acc[o] + __shfl_xor_sync(kFullMask, acc[o], offset);
      }
    }
    if (lane == 0) {
      field[sample] = acc[0] + out_bias[0];
      if (outputs == 4 && colour != nullptr) {
#pragma unroll
        for (int c = 1; c < kOutputs; ++c) colour[3 * sample + c - 1] = acc[c] + out_bias[c];
      }
    }
  }
}

constexpr size_t kDeviceAlignment = 256;
size_t AlignUp(size_t n) {
  return (n + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

size_t ElementSize(Precision precision) {
  return precision == Precision::kFp32 ? sizeof(float) : sizeof(uint16_t);
}

cudaDataType_t CudaType(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return CUDA_R_16BF;
    case Precision::kFp16:
      return CUDA_R_16F;
    case Precision::kFp32:
      return CUDA_R_32F;
  }
  return CUDA_R_32F;
}

// Appends `values` converted to the storage type to a host image of the weight slab.
template <typename T>
void AppendConverted(const std::vector<float>& values, std::vector<unsigned char>* slab) {
  const size_t start = slab->size();
  slab->resize(start + AlignUp(values.size() * sizeof(T)), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const T v = ElementType<T>::FromFloat(values[i]);
    std::memcpy(slab->data() + start + i * sizeof(T), &v, sizeof(T));
  }
}

void AppendAs(Precision precision, const std::vector<float>& values,
              std::vector<unsigned char>* slab) {
  switch (precision) {
    case Precision::kBf16:
      return AppendConverted<__nv_bfloat16>(values, slab);
    case Precision::kFp16:
      return AppendConverted<__half>(values, slab);
    case Precision::kFp32:
      return AppendConverted<float>(values, slab);
  }
}

// Layer l's weights [out][in] placed into a zero matrix [out_padded][in_padded].
std::vector<float> PaddedMatrix(const std::vector<float>& w, int out, int in, int out_padded,
                                int in_padded) {
  std::vector<float> padded(static_cast<size_t>(out_padded) * in_padded, 0.0f);
  for (int o = 0; o < out; ++o) {
    for (int i = 0; i < in; ++i) {
      padded[static_cast<size_t>(o) * in_padded + i] = w[static_cast<size_t>(o) * in + i];
    }
  }
  return padded;
}

std::vector<float> PaddedVector(const std::vector<float>& v, int padded) {
  std::vector<float> out(padded, 0.0f);
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

}  // namespace

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
    case Precision::kFp32:
      return "fp32";
  }
  return "unknown";
}

// One hidden layer as a cuBLASLt matmul. Column-major view: D (out x n) = op(A) * B with
// A = the row-major [out][in] weights seen as (in x out) and transposed, B = the activations
// (in x n, ld in), n = samples; bias + ReLU applied in the epilogue.
struct HiddenGemm {
  int in_padded = 0;
  int out_padded = 0;
  size_t weight_offset = 0;  // in the weight slab
  size_t bias_offset = 0;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr;
  cublasLtMatrixLayout_t b = nullptr;
  cublasLtMatrixLayout_t d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct FusedMlpField::Impl {
  Options options;
  int outputs = 1;
  std::vector<int> padded;  // padded widths: 3, hidden..., outputs
  int max_hidden_padded = 0;
  int64_t chunk = 0;

  cudaStream_t stream = nullptr;  // Create's work and the graph capture
  cublasLtHandle_t lt = nullptr;
  unsigned char* weight_slab = nullptr;
  size_t first_weight_offset = 0, first_bias_offset = 0;
  size_t out_weight_offset = 0, out_bias_offset = 0;
  void* act[2] = {nullptr, nullptr};
  void* workspace = nullptr;
  DecodeParams* params = nullptr;
  std::vector<HiddenGemm> gemms;
  cudaGraph_t graph = nullptr;  // one chunk
  cudaGraphExec_t graph_exec = nullptr;
  cudaGraph_t group_graph = nullptr;  // options.chunks_per_graph chunks
  cudaGraphExec_t group_exec = nullptr;
  cudaEvent_t previous_done = nullptr;  // end of the last Decode, on its stream
  bool has_previous = false;
  cudaEvent_t marks[2] = {nullptr, nullptr};  // progress marks
  int first_blocks = 0;
  int output_blocks = 0;
  int64_t device_bytes = 0;
  std::string summary;

  ~Impl();
  template <typename T>
  Status EnqueueChunkTyped(cudaStream_t s);
  Status EnqueueChunk(cudaStream_t s);
  Status Capture(int chunk_count, cudaGraph_t* graph, cudaGraphExec_t* exec);
  Status RunGemm(const HiddenGemm& gemm, int index, const cublasLtMatmulAlgo_t& algo,
                 cudaStream_t s);
  Status ChooseAlgorithm(HiddenGemm* gemm, int index);
  Status Malloc(void** ptr, size_t bytes, const char* what);

  const float* F(size_t offset) const {
    return reinterpret_cast<const float*>(weight_slab + offset);
  }
};

FusedMlpField::Impl::~Impl() {
  ScopedDevice device(options.device);
  if (stream != nullptr) cudaStreamSynchronize(stream);
  if (previous_done != nullptr) {
    cudaEventSynchronize(previous_done);
    cudaEventDestroy(previous_done);
  }
  for (cudaEvent_t mark : marks) {
    if (mark != nullptr) cudaEventDestroy(mark);
  }
  if (graph_exec != nullptr) cudaGraphExecDestroy(graph_exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (group_exec != nullptr) cudaGraphExecDestroy(group_exec);
  if (group_graph != nullptr) cudaGraphDestroy(group_graph);
  for (HiddenGemm& gemm : gemms) {
    if (gemm.a != nullptr) cublasLtMatrixLayoutDestroy(gemm.a);
    if (gemm.b != nullptr) cublasLtMatrixLayoutDestroy(gemm.b);
    if (gemm.d != nullptr) cublasLtMatrixLayoutDestroy(gemm.d);
    if (gemm.desc != nullptr) cublasLtMatmulDescDestroy(gemm.desc);
  }
  if (lt != nullptr) cublasLtDestroy(lt);
  for (void* p :
       {static_cast<void*>(weight_slab), act[0], act[1], workspace, static_cast<void*>(params)}) {
    if (p != nullptr) cudaFree(p);
  }
  if (stream != nullptr) cudaStreamDestroy(stream);
  cudaGetLastError();
}

Status FusedMlpField::Impl::Malloc(void** ptr, size_t bytes, const char* what) {
  const cudaError_t error = cudaMalloc(ptr, bytes);
  if (error != cudaSuccess) {
    Status status = FromCuda(error, "cudaMalloc");
    return Status(status.code(), "allocating " + std::to_string(bytes >> 20) + " MiB for " + what +
                                     " on device " + std::to_string(options.device) + ": " +
                                     status.message());
  }
  device_bytes += static_cast<int64_t>(bytes);
  return OkStatus();
}

Status FusedMlpField::Impl::RunGemm(const HiddenGemm& gemm, int index,
                                    const cublasLtMatmulAlgo_t& algo, cudaStream_t s) {
  const float alpha = 1.0f;
  const float beta = 0.0f;
  const void* input = act[index % 2];
  void* output = act[(index + 1) % 2];
  FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(
      lt, gemm.desc, &alpha, weight_slab + gemm.weight_offset, gemm.a, input, gemm.b, &beta, output,
      gemm.d, output, gemm.d, &algo, workspace, static_cast<size_t>(options.workspace_bytes), s));
  return OkStatus();
}

Status FusedMlpField::Impl::ChooseAlgorithm(HiddenGemm* gemm, int index) {
  cublasLtMatmulPreference_t preference = nullptr;
  FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&preference));
  const uint64_t workspace_limit = static_cast<uint64_t>(options.workspace_bytes);
  cublasStatus_t set =
      cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_limit, sizeof(workspace_limit));
  std::vector<cublasLtMatmulHeuristicResult_t> results(
      options.autotune ? options.autotune_candidates : 1);
  int returned = 0;
  cublasStatus_t heuristic = CUBLAS_STATUS_SUCCESS;
  if (set == CUBLAS_STATUS_SUCCESS) {
    heuristic = cublasLtMatmulAlgoGetHeuristic(lt, gemm->desc, gemm->a, gemm->b, gemm->d, gemm->d,
                                               preference, static_cast<int>(results.size()),
                                               results.data(), &returned);
  }
  cublasLtMatmulPreferenceDestroy(preference);
  if (set != CUBLAS_STATUS_SUCCESS) return FromCublas(set, "cublasLtMatmulPreferenceSetAttribute");
  const std::string shape = std::to_string(gemm->out_padded) + "x" +
                            std::to_string(gemm->in_padded) + " * " +
                            std::to_string(gemm->in_padded) + "x" + std::to_string(chunk) + " " +
                            PrecisionName(options.precision);
  if (heuristic != CUBLAS_STATUS_SUCCESS || returned == 0) {
    Status status = heuristic != CUBLAS_STATUS_SUCCESS
                        ? FromCublas(heuristic, "cublasLtMatmulAlgoGetHeuristic")
                        : Status(StatusCode::kFailedPrecondition, "no algorithm returned");
    return Status(StatusCode::kFailedPrecondition,
                  "cuBLASLt has no bias+ReLU matmul for hidden layer " + std::to_string(index + 1) +
                      " (" + shape + ") on this device: " + status.message());
  }
  int best = 0;
  float best_ms = -1.0f;
  if (returned > 1) {
    cudaEvent_t start = nullptr, stop = nullptr;
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
    constexpr int kWarmup = 2;
    constexpr int kTimed = 5;
    for (int r = 0; r < returned; ++r) {
      bool ok = true;
      for (int i = 0; i < kWarmup && ok; ++i) {
        ok = RunGemm(*gemm, index, results[r].algo, stream).ok();
      }
      ok = ok && cudaEventRecord(start, stream) == cudaSuccess;
      for (int i = 0; i < kTimed && ok; ++i) {
        ok = RunGemm(*gemm, index, results[r].algo, stream).ok();
      }
      ok = ok && cudaEventRecord(stop, stream) == cudaSuccess &&
           cudaEventSynchronize(stop) == cudaSuccess;
      float ms = 0.0f;
      ok = ok && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
      if (!ok) {
        cudaStreamSynchronize(stream);
        cudaGetLastError();
        continue;  // a candidate that fails to run is simply not chosen
      }
      if (best_ms < 0.0f || ms < best_ms) {
        best_ms = ms;
        best = r;
      }
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (best_ms < 0.0f) {
      return Status(StatusCode::kInternal, "none of the " + std::to_string(returned) +
                                               " cuBLASLt candidates for hidden layer " +
                                               std::to_string(index + 1) + " ran");
    }
  }
  gemm->algo = results[best].algo;
  int algo_id = -1;
  cublasLtMatmulAlgoConfigGetAttribute(&gemm->algo, CUBLASLT_ALGO_CONFIG_ID, &algo_id,
                                       sizeof(algo_id), nullptr);
  summary += "hidden layer " + std::to_string(index + 1) + ": " + shape + ", algo id " +
             std::to_string(algo_id) + ", candidate " + std::to_string(best + 1) + " of " +
             std::to_string(returned);
  if (best_ms >= 0.0f) summary += ", " + std::to_string(best_ms * 1000.0f / 5) + " us per call";
  summary += "\n";
  return OkStatus();
}

Status FusedMlpField::Impl::Capture(int chunk_count, cudaGraph_t* graph_out,
                                    cudaGraphExec_t* exec_out) {
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  Status enqueued = OkStatus();
  for (int i = 0; i < chunk_count && enqueued.ok(); ++i) enqueued = EnqueueChunk(stream);
  // End the capture whatever happened, so the stream is usable (and destroyable) again.
  const cudaError_t end = cudaStreamEndCapture(stream, graph_out);
  KILN_FIELDNET_RETURN_IF_ERROR(enqueued);
  FIELDNET_CUDA_RETURN_IF_ERROR(end);
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(exec_out, *graph_out, 0));
  return OkStatus();
}

template <typename T>
Status FusedMlpField::Impl::EnqueueChunkTyped(cudaStream_t s) {
  const int chunk_points = static_cast<int>(chunk);
  FirstLayerKernel<T><<<first_blocks, kThreads, 0, s>>>(params, F(first_weight_offset),
                                                        F(first_bias_offset), padded[1],
                                                        chunk_points, static_cast<T*>(act[0]));
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  for (size_t i = 0; i < gemms.size(); ++i) {
    KILN_FIELDNET_RETURN_IF_ERROR(RunGemm(gemms[i], static_cast<int>(i), gemms[i].algo, s));
  }
  const int last_hidden = padded[padded.size() - 2];
  const T* last_act = static_cast<const T*>(act[gemms.size() % 2]);
  if (outputs == 1) {
    OutputLayerKernel<T, 1><<<output_blocks, kThreads, 0, s>>>(
        params, last_act, F(out_weight_offset), F(out_bias_offset), last_hidden, chunk_points);
  } else {
    OutputLayerKernel<T, 4><<<output_blocks, kThreads, 0, s>>>(
        params, last_act, F(out_weight_offset), F(out_bias_offset), last_hidden, chunk_points);
  }
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  AdvanceChunk<<<1, 1, 0, s>>>(params, chunk);
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return OkStatus();
}

Status FusedMlpField::Impl::EnqueueChunk(cudaStream_t s) {
  switch (options.precision) {
    case Precision::kBf16:
      return EnqueueChunkTyped<__nv_bfloat16>(s);
    case Precision::kFp16:
      return EnqueueChunkTyped<__half>(s);
    case Precision::kFp32:
      return EnqueueChunkTyped<float>(s);
  }
  return Status(StatusCode::kInternal, "unknown precision");
}

static Status OccupancyBlocks(const void* kernel, int device, int64_t wanted, int* blocks) {
  int per_sm = 0;
  int sms = 0;
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  *blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(wanted, per_sm * sms)));
  return OkStatus();
}

Status FusedMlpField::Create(const MlpWeights& mlp, const Options& options,
                             std::unique_ptr<FusedMlpField>* field) {
  if (field == nullptr) return InvalidArgumentError("Create: `field` out-parameter is null");
  KILN_FIELDNET_RETURN_IF_ERROR(ValidateMlpWeights(mlp));
  if (options.max_chunk_points < 1 || options.max_chunk_points > (int64_t{1} << 26)) {
    return InvalidArgumentError(
        "options.max_chunk_points = " + std::to_string(options.max_chunk_points) +
        ": must be in [1, 67108864]");
  }
  if (options.workspace_bytes < 0 || options.workspace_bytes > (int64_t{1} << 30)) {
    return InvalidArgumentError(
        "options.workspace_bytes = " + std::to_string(options.workspace_bytes) +
        ": must be in [0, 1 GiB]");
  }
  if (options.autotune_candidates < 1 || options.autotune_candidates > 32) {
    return InvalidArgumentError("options.autotune_candidates must be in [1, 32]");
  }
  if (options.chunks_per_graph < 1 || options.chunks_per_graph > 64) {
    return InvalidArgumentError("options.chunks_per_graph = " +
                                std::to_string(options.chunks_per_graph) + ": must be in [1, 64]");
  }
  if (options.progress_interval_samples < 1) {
    return InvalidArgumentError("options.progress_interval_samples must be >= 1");
  }
  int device_count = 0;
  const cudaError_t count_error = cudaGetDeviceCount(&device_count);
  if (count_error != cudaSuccess || device_count == 0) {
    Status status = count_error != cudaSuccess ? FromCuda(count_error, "cudaGetDeviceCount")
                                               : Status(StatusCode::kUnavailable, "0 devices");
    return Status(StatusCode::kUnavailable,
                  "no CUDA device for FusedMlpField: " + status.message());
  }
  if (options.device < 0 || options.device >= device_count) {
    return InvalidArgumentError("options.device = " + std::to_string(options.device) +
                                ": there are " + std::to_string(device_count) + " CUDA devices");
  }
  int major = 0, minor = 0;
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, options.device));
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, options.device));
  if (options.precision == Precision::kBf16 && major < 8) {
    return Status(StatusCode::kFailedPrecondition,
                  "bf16 decoding needs compute capability >= 8.0; device " +
                      std::to_string(options.device) + " is " + std::to_string(major) + "." +
                      std::to_string(minor) + " (use fp16 or fp32)");
  }

  ScopedDevice device(options.device);
  FIELDNET_CUDA_RETURN_IF_ERROR(device.error());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->outputs = mlp.output_count();
  impl->chunk = options.max_chunk_points;
  impl->padded.push_back(kMlpInputWidth);
  for (int l = 1; l + 1 < static_cast<int>(mlp.widths.size()); ++l) {
    impl->padded.push_back(PaddedWidth(mlp.widths[l]));
    impl->max_hidden_padded = std::max(impl->max_hidden_padded, impl->padded.back());
  }
  impl->padded.push_back(impl->outputs);
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking));
  FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&impl->lt));

  // Weights: one slab. First and output layers stay fp32 (they run on CUDA cores);
  // hidden layers are stored in the decode precision.
  const Precision precision = options.precision;
  const int layers = mlp.layer_count();
  std::vector<unsigned char> slab;
  const int first_padded = impl->padded[1];
  impl->first_weight_offset = slab.size();
  AppendAs(
      Precision::kFp32,
      PaddedMatrix(mlp.weights[0], mlp.widths[1], kMlpInputWidth, first_padded, kMlpInputWidth),
      &slab);
  impl->first_bias_offset = slab.size();
  AppendAs(Precision::kFp32, PaddedVector(mlp.biases[0], first_padded), &slab);
  for (int l = 1; l + 1 < layers; ++l) {
    HiddenGemm gemm;
    gemm.in_padded = impl->padded[l];
    gemm.out_padded = impl->padded[l + 1];
    gemm.weight_offset = slab.size();
    AppendAs(precision,
             PaddedMatrix(mlp.weights[l], mlp.widths[l + 1], mlp.widths[l], gemm.out_padded,
                          gemm.in_padded),
             &slab);
    gemm.bias_offset = slab.size();
    AppendAs(precision, PaddedVector(mlp.biases[l], gemm.out_padded), &slab);
    impl->gemms.push_back(gemm);
  }
  const int last_padded = impl->padded[layers - 1];
  impl->out_weight_offset = slab.size();
  AppendAs(Precision::kFp32,
           PaddedMatrix(mlp.weights[layers - 1], impl->outputs, mlp.widths[layers - 1],
                        impl->outputs, last_padded),
           &slab);
  impl->out_bias_offset = slab.size();
  AppendAs(Precision::kFp32, mlp.biases[layers - 1], &slab);
  void* slab_ptr = nullptr;
  KILN_FIELDNET_RETURN_IF_ERROR(impl->Malloc(&slab_ptr, slab.size(), "weights"));
  impl->weight_slab = static_cast<unsigned char*>(slab_ptr);
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(impl->weight_slab, slab.data(), slab.size(), cudaMemcpyHostToDevice));

  // Activations: two buffers of chunk x widest layer, reused by every layer and chunk.
  const size_t act_bytes =
      AlignUp(static_cast<size_t>(impl->chunk) * impl->max_hidden_padded * ElementSize(precision));
  for (void*& buffer : impl->act) {
    KILN_FIELDNET_RETURN_IF_ERROR(impl->Malloc(&buffer, act_bytes, "activations"));
    // Defined contents: the autotuner reads them before any decode writes them.
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(buffer, 0, act_bytes, impl->stream));
  }
  if (options.workspace_bytes > 0) {
    KILN_FIELDNET_RETURN_IF_ERROR(impl->Malloc(
        &impl->workspace, static_cast<size_t>(options.workspace_bytes), "cuBLASLt workspace"));
  }
  void* params_ptr = nullptr;
  KILN_FIELDNET_RETURN_IF_ERROR(impl->Malloc(&params_ptr, sizeof(DecodeParams), "parameters"));
  impl->params = static_cast<DecodeParams*>(params_ptr);
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(impl->params, 0, sizeof(DecodeParams), impl->stream));
  FIELDNET_CUDA_RETURN_IF_ERROR(
      cudaEventCreateWithFlags(&impl->previous_done, cudaEventDisableTiming));
  for (cudaEvent_t& mark : impl->marks) {
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&mark, cudaEventDisableTiming));
  }

  // Hidden layers: descriptors, layouts, algorithms.
  const cudaDataType_t type = CudaType(precision);
  for (size_t i = 0; i < impl->gemms.size(); ++i) {
    HiddenGemm& gemm = impl->gemms[i];
    FIELDNET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescCreate(&gemm.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t transpose = CUBLAS_OP_T;
    const cublasOperation_t no_transpose = CUBLAS_OP_N;
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_RELU_BIAS;
    const void* bias = impl->weight_slab + gemm.bias_offset;
    FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        gemm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        gemm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof(no_transpose)));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        gemm.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        gemm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&gemm.a, type, gemm.in_padded, gemm.out_padded, gemm.in_padded));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&gemm.b, type, gemm.in_padded, impl->chunk, gemm.in_padded));
    FIELDNET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&gemm.d, type, gemm.out_padded, impl->chunk, gemm.out_padded));
    KILN_FIELDNET_RETURN_IF_ERROR(impl->ChooseAlgorithm(&gemm, static_cast<int>(i)));
  }

  // Launch shapes: the first layer needs one warp per 32 samples; the output layer loops.
  const int64_t first_warps = (impl->chunk + kWarpSize - 1) / kWarpSize;
  impl->first_blocks =
      static_cast<int>((first_warps + kThreads / kWarpSize - 1) / (kThreads / kWarpSize));
  const bool one = impl->outputs == 1;
  const void* output_kernel = nullptr;
  switch (precision) {
    case Precision::kBf16:
      output_kernel = one ? reinterpret_cast<const void*>(&OutputLayerKernel<__nv_bfloat16, 1>)
                          : reinterpret_cast<const void*>(&OutputLayerKernel<__nv_bfloat16, 4>);
      break;
    case Precision::kFp16:
      output_kernel = one ? reinterpret_cast<const void*>(&OutputLayerKernel<__half, 1>)
                          : reinterpret_cast<const void*>(&OutputLayerKernel<__half, 4>);
      break;
    case Precision::kFp32:
      output_kernel = one ? reinterpret_cast<const void*>(&OutputLayerKernel<float, 1>)
                          : reinterpret_cast<const void*>(&OutputLayerKernel<float, 4>);
      break;
  }
  KILN_FIELDNET_RETURN_IF_ERROR(OccupancyBlocks(
      output_kernel, options.device,
      (impl->chunk + kThreads / kWarpSize - 1) / (kThreads / kWarpSize), &impl->output_blocks));

  if (options.use_cuda_graph) {
    KILN_FIELDNET_RETURN_IF_ERROR(impl->Capture(1, &impl->graph, &impl->graph_exec));
    if (options.chunks_per_graph > 1) {
      KILN_FIELDNET_RETURN_IF_ERROR(
          impl->Capture(options.chunks_per_graph, &impl->group_graph, &impl->group_exec));
    }
  }
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl->stream));
  field->reset(new FusedMlpField(std::move(impl)));
  return OkStatus();
}

FusedMlpField::FusedMlpField(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FusedMlpField::~FusedMlpField() = default;

Precision FusedMlpField::precision() const { return impl_->options.precision; }
int FusedMlpField::output_count() const { return impl_->outputs; }
int64_t FusedMlpField::max_chunk_points() const { return impl_->chunk; }
int64_t FusedMlpField::device_bytes() const { return impl_->device_bytes; }
const std::string& FusedMlpField::algorithm_summary() const { return impl_->summary; }

namespace {

Status CheckDevicePointer(const void* ptr, int device, const char* name) {
  cudaPointerAttributes attributes{};
  const cudaError_t error = cudaPointerGetAttributes(&attributes, ptr);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return InvalidArgumentError(std::string(name) + " is not a CUDA pointer (" +
                                cudaGetErrorName(error) + ")");
  }
  if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged) {
    return InvalidArgumentError(std::string(name) + " must be device memory, not host memory");
  }
  if (attributes.type == cudaMemoryTypeDevice && attributes.device != device) {
    return InvalidArgumentError(std::string(name) + " lives on device " +
                                std::to_string(attributes.device) + ", the decoder on device " +
                                std::to_string(device));
  }
  return OkStatus();
}

}  // namespace

Status FusedMlpField::Decode(const GridSpec& grid, float* device_field, float* device_colour,
                             cudaStream_t stream, const DecodeProgressCallback& progress) {
  KILN_FIELDNET_RETURN_IF_ERROR(ValidateGridSpec(grid));
  if (device_field == nullptr) return InvalidArgumentError("device_field is null");
  if (device_colour != nullptr && impl_->outputs != 4) {
    return InvalidArgumentError("device_colour given, but the network has " +
                                std::to_string(impl_->outputs) + " output (no colour)");
  }
  Impl& impl = *impl_;
  ScopedDevice device(impl.options.device);
  FIELDNET_CUDA_RETURN_IF_ERROR(device.error());
  KILN_FIELDNET_RETURN_IF_ERROR(
      CheckDevicePointer(device_field, impl.options.device, "device_field"));
  if (device_colour != nullptr) {
    KILN_FIELDNET_RETURN_IF_ERROR(
        CheckDevicePointer(device_colour, impl.options.device, "device_colour"));
  }

  const int64_t total = GridSampleCount(grid);
  const int64_t chunks = (total + impl.chunk - 1) / impl.chunk;
  // The buffers are shared: wait for the previous decode, whichever stream it ran on.
  if (impl.has_previous) {
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream, impl.previous_done, 0));
  }
  DecodeParams params{};
  params.grid = grid;
  params.samples_total = total;
  params.chunk_start = 0;
  params.field = device_field;
  params.colour = device_colour;
  SetDecodeParams<<<1, 1, 0, stream>>>(impl.params, params);
  FIELDNET_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  // From here on, whatever happens, the next decode waits for what this one queued.
  auto finish = [&impl, stream](Status status) {
    if (cudaEventRecord(impl.previous_done, stream) == cudaSuccess) impl.has_previous = true;
    cudaGetLastError();
    return status;
  };

  int pending = -1;  // the mark whose completion is reported next
  int64_t pending_samples = 0;
  int64_t marked_samples = 0;
  int next_mark = 0;
  const int64_t group = impl.options.chunks_per_graph;
  for (int64_t c = 0; c < chunks;) {
    if (impl.group_exec != nullptr && chunks - c >= group) {
      const cudaError_t error = cudaGraphLaunch(impl.group_exec, stream);
      if (error != cudaSuccess) return finish(FromCuda(error, "cudaGraphLaunch"));
      c += group;
    } else if (impl.graph_exec != nullptr) {
      const cudaError_t error = cudaGraphLaunch(impl.graph_exec, stream);
      if (error != cudaSuccess) return finish(FromCuda(error, "cudaGraphLaunch"));
      ++c;
    } else {
      Status status = impl.EnqueueChunk(stream);
      if (!status.ok()) return finish(status);
      ++c;
    }
    if (!progress) continue;
    const int64_t done = std::min(total, c * impl.chunk);
    if (done - marked_samples < impl.options.progress_interval_samples && done != total) continue;
    // Keep one mark queued ahead so the device never idles while the callback runs.
    cudaError_t error = cudaEventRecord(impl.marks[next_mark], stream);
    if (error != cudaSuccess) return finish(FromCuda(error, "cudaEventRecord"));
    marked_samples = done;
    if (pending >= 0) {
      error = cudaEventSynchronize(impl.marks[pending]);
      if (error != cudaSuccess) return finish(FromCuda(error, "cudaEventSynchronize"));
      if (!progress(pending_samples, total)) {
        Status cancelled(StatusCode::kCancelled,
                         "decode cancelled by the progress callback after " +
                             std::to_string(pending_samples) + " of " + std::to_string(total) +
                             " samples");
        finish(cancelled);
        cudaEventSynchronize(impl.previous_done);
        return cancelled;
      }
    }
    pending = next_mark;
    pending_samples = done;
    next_mark ^= 1;
  }
  Status status = finish(OkStatus());
  if (progress && pending >= 0) {
    FIELDNET_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(impl.marks[pending]));
    progress(total, total);
  }
  return status;
}

}  // namespace kiln::fieldnet
