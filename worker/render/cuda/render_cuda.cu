// The CUDA rasterizer's kernels and buffers (render_cuda.h), and the one place where a
// cudaError_t becomes a CudaRenderStatus (KILN_RENDER_RETURN_IF_CUDA_ERROR).
#include <cuda_runtime.h>

#include <string>

#include "worker/cuda_common/cuda_error.h"
#include "worker/render/cuda/render_cuda.h"
#include "worker/render/raster_core.h"

namespace kiln::render {
namespace {

constexpr int kThreads = 256;
// The large-triangle kernel's grid: kLargeTriangleBlocks loop over the list of large
// triangles, kLargeTriangleSlices blocks share each triangle's rows.
constexpr int kLargeTriangleBlocks = 256;
constexpr int kLargeTriangleSlices = 16;

CudaRenderStatus FromCuda(cudaError_t error, const char* what) {
  CudaRenderCode code = CudaRenderCode::kInternal;
  if (error == cudaErrorMemoryAllocation) {
    code = CudaRenderCode::kResourceExhausted;
  } else if (cuda::IsCudaUnavailableError(error)) {
    code = CudaRenderCode::kFailedPrecondition;
  }
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  return {code, std::string("CUDA renderer: ") + what + ": " + cuda::CudaErrorText(error)};
}

#define KILN_RENDER_RETURN_IF_CUDA_ERROR(call, what)                                    \
  do {                                                                                  \
    const cudaError_t kiln_render_error_ = (call);                                      \
    if (kiln_render_error_ != cudaSuccess) return FromCuda(kiln_render_error_, (what)); \
  } while (false)

// Makes `device` current for the scope, restoring the caller's.
class ScopedDevice {
 public:
  cudaError_t Enter(int device) {
    cudaError_t error = cudaGetDevice(&previous_);
    if (error != cudaSuccess) return error;
    entered_ = true;
    return cudaSetDevice(device);
  }
  ~ScopedDevice() {
    if (entered_) cudaSetDevice(previous_);
  }

 private:
  int previous_ = 0;
  bool entered_ = false;
};

// A device buffer that grows on demand and never shrinks.
template <typename T>
struct DeviceBuffer {
  T* data = nullptr;
  size_t capacity = 0;
  cudaError_t Reserve(size_t count) {
    if (count <= capacity) return cudaSuccess;
    if (data != nullptr) cudaFree(data);
    data = nullptr;
    capacity = 0;
    const cudaError_t error = cudaMalloc(&data, (count > 0 ? count : 1) * sizeof(T));
    if (error == cudaSuccess) capacity = count;
    return error;
  }
  ~DeviceBuffer() {
    if (data != nullptr) cudaFree(data);
  }
};

__global__ void VertexKernel(core::FrameConstants frame, const core::Float3* positions,
                             const core::Float3* normals, const uint32_t* colors, uint32_t count,
                             core::ScreenVertex* out) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  out[i] = core::TransformVertex(frame, positions[i], normals[i], colors[i]);
}

__global__ void ClearKernel(unsigned long long* keys, uint32_t count, uint32_t* large_count) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) keys[i] = core::kEmptyKey;
  if (i == 0) *large_count = 0;
}

__device__ bool SetupOf(const core::ScreenVertex* vertices, const uint32_t* indices, uint32_t t,
                        int width, int height, core::TriangleSetup* s) {
  return core::SetupTriangle(vertices[indices[3 * t]], vertices[indices[3 * t + 1]],
                             vertices[indices[3 * t + 2]], width, height, s);
}

__global__ void SmallTriangleKernel(const core::ScreenVertex* vertices, const uint32_t* indices,
                                    uint32_t triangles, int width, int height,
                                    unsigned long long* keys, uint32_t* large,
                                    uint32_t* large_count) {
  const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= triangles) return;
  core::TriangleSetup s;
  if (!SetupOf(vertices, indices, t, width, height, &s)) return;
  const int64_t pixels = int64_t{s.x_end - s.x_begin} * (s.y_end - s.y_begin);
  if (pixels > core::kSmallTrianglePixels) {
    large[atomicAdd(large_count, 1u)] = t;
    return;
  }
  core::RasterizeRect(
      s, t, s.x_begin, s.x_end, s.y_begin, s.y_end, [&](int x, int y, uint64_t key) {
        atomicMin(&keys[static_cast<size_t>(y) * width + x], static_cast<unsigned long long>(key));
      });
}

__global__ void LargeTriangleKernel(const core::ScreenVertex* vertices, const uint32_t* indices,
                                    int width, int height, unsigned long long* keys,
                                    const uint32_t* large, const uint32_t* large_count) {
  const uint32_t count = *large_count;
  // blockIdx.y picks every gridDim.y-th row of the triangle's box, so one triangle keeps
  // gridDim.y blocks busy.
  const int slices = static_cast<int>(gridDim.y), slice = static_cast<int>(blockIdx.y);
  for (uint32_t i = blockIdx.x; i < count; i += gridDim.x) {
    const uint32_t t = large[i];
    core::TriangleSetup s;
    if (!SetupOf(vertices, indices, t, width, height, &s)) continue;
    const int span = s.x_end - s.x_begin;
    const int rows = s.y_end - s.y_begin - slice;
    if (rows <= 0) continue;
    // 32-bit: at most kMaxRenderSide^2 pixels, and 64-bit division is slow on GPUs.
    const int pixels = span * ((rows + slices - 1) / slices);
    for (int p = static_cast<int>(threadIdx.x); p < pixels; p += static_cast<int>(blockDim.x)) {
      const int x = s.x_begin + p % span;
      const int y = s.y_begin + slice + (p / span) * slices;
      const core::Barycentric w = core::EdgeFunctions(s, x, y);
      if (core::Covers(s, w)) {
        atomicMin(&keys[static_cast<size_t>(y) * width + x],
                  static_cast<unsigned long long>(core::DepthKey(s, w, t)));
      }
    }
  }
}

__global__ void ShadeKernel(core::FrameConstants frame, const core::ScreenVertex* vertices,
                            const uint32_t* indices, const unsigned long long* keys,
                            uint32_t* rgba) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t count = static_cast<uint32_t>(frame.width) * frame.height;
  if (i >= count) return;
  const uint64_t key = keys[i];
  if (key == core::kEmptyKey) {
    rgba[i] = frame.background;
    return;
  }
  const uint32_t t = static_cast<uint32_t>(key & 0xffffffffu);
  core::TriangleSetup s;
  SetupOf(vertices, indices, t, frame.width, frame.height, &s);
  rgba[i] = core::ShadePixel(frame, s, static_cast<int>(i % frame.width),
                             static_cast<int>(i / frame.width));
}

uint32_t Blocks(uint64_t n) { return static_cast<uint32_t>((n + kThreads - 1) / kThreads); }

}  // namespace

struct CudaRasterizer::State {
  DeviceBuffer<core::Float3> positions, normals;
  DeviceBuffer<uint32_t> colors, indices;
  DeviceBuffer<core::ScreenVertex> screen;
  DeviceBuffer<unsigned long long> keys;
  DeviceBuffer<uint32_t> large, large_count, rgba;
  uint32_t vertex_count = 0, triangle_count = 0;
};

CudaRasterizer::CudaRasterizer(int device) : device_(device), state_(new State) {}

CudaRasterizer::~CudaRasterizer() {
  ScopedDevice scope;
  scope.Enter(device_);
  state_.reset();
}

CudaRenderStatus CudaRasterizer::Create(int device, std::unique_ptr<CudaRasterizer>* out) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return FromCuda(error, "listing devices");
  if (device < 0 || device >= count) {
    return {CudaRenderCode::kFailedPrecondition, "CUDA renderer: no CUDA device " +
                                                     std::to_string(device) + " (" +
                                                     std::to_string(count) + " visible)"};
  }
  ScopedDevice scope;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(scope.Enter(device), "selecting the device");
  // Whether our kernels have an image for this device (no kernel image otherwise).
  cudaFuncAttributes attributes;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(cudaFuncGetAttributes(&attributes, ShadeKernel),
                                   "loading the kernels");
  out->reset(new CudaRasterizer(device));
  return {};
}

CudaRenderStatus CudaRasterizer::Upload(std::span<const core::Float3> positions,
                                        std::span<const core::Float3> normals,
                                        std::span<const uint32_t> colors,
                                        std::span<const uint32_t> indices) {
  if (normals.size() != positions.size() || colors.size() != positions.size() ||
      indices.size() % 3 != 0 || indices.size() / 3 >= 0xfffffffeu) {
    return {CudaRenderCode::kInvalidArgument, "CUDA renderer: inconsistent mesh arrays"};
  }
  for (const uint32_t v : indices) {
    if (v >= positions.size()) {
      return {CudaRenderCode::kInvalidArgument, "CUDA renderer: triangle index out of range"};
    }
  }
  ScopedDevice scope;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting the device");
  State& s = *state_;
  s.vertex_count = 0;
  s.triangle_count = 0;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.positions.Reserve(positions.size()), "allocating vertices");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.normals.Reserve(normals.size()), "allocating normals");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.colors.Reserve(colors.size()), "allocating colours");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.screen.Reserve(positions.size()), "allocating vertices");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.indices.Reserve(indices.size()), "allocating triangles");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.large.Reserve(indices.size() / 3), "allocating triangles");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.large_count.Reserve(1), "allocating a counter");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(cudaMemcpy(s.positions.data, positions.data(),
                                              positions.size_bytes(), cudaMemcpyHostToDevice),
                                   "uploading vertices");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(
      cudaMemcpy(s.normals.data, normals.data(), normals.size_bytes(), cudaMemcpyHostToDevice),
      "uploading normals");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(
      cudaMemcpy(s.colors.data, colors.data(), colors.size_bytes(), cudaMemcpyHostToDevice),
      "uploading colours");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(
      cudaMemcpy(s.indices.data, indices.data(), indices.size_bytes(), cudaMemcpyHostToDevice),
      "uploading triangles");
  s.vertex_count = static_cast<uint32_t>(positions.size());
  s.triangle_count = static_cast<uint32_t>(indices.size() / 3);
  return {};
}

CudaRenderStatus CudaRasterizer::Render(const core::FrameConstants& frame,
                                        std::span<uint32_t> rgba) {
  const uint64_t pixels = uint64_t(frame.width) * uint64_t(frame.height);
  if (frame.width <= 0 || frame.height <= 0 || rgba.size() != pixels) {
    return {CudaRenderCode::kInvalidArgument,
            "CUDA renderer: output size does not match the frame"};
  }
  ScopedDevice scope;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting the device");
  State& s = *state_;
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.keys.Reserve(pixels), "allocating the z-buffer");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.rgba.Reserve(pixels), "allocating the image");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(s.large_count.Reserve(1), "allocating a counter");
  ClearKernel<<<Blocks(pixels), kThreads>>>(s.keys.data, static_cast<uint32_t>(pixels),
                                            s.large_count.data);
  if (s.vertex_count > 0) {
    VertexKernel<<<Blocks(s.vertex_count), kThreads>>>(
        frame, s.positions.data, s.normals.data, s.colors.data, s.vertex_count, s.screen.data);
  }
  if (s.triangle_count > 0) {
    SmallTriangleKernel<<<Blocks(s.triangle_count), kThreads>>>(
        s.screen.data, s.indices.data, s.triangle_count, frame.width, frame.height, s.keys.data,
        s.large.data, s.large_count.data);
    LargeTriangleKernel<<<dim3(kLargeTriangleBlocks, kLargeTriangleSlices), kThreads>>>(
        s.screen.data, s.indices.data, frame.width, frame.height, s.keys.data, s.large.data,
        s.large_count.data);
  }
  ShadeKernel<<<Blocks(pixels), kThreads>>>(frame, s.screen.data, s.indices.data, s.keys.data,
                                            s.rgba.data);
  KILN_RENDER_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the kernels");
  KILN_RENDER_RETURN_IF_CUDA_ERROR(
      cudaMemcpy(rgba.data(), s.rgba.data, pixels * sizeof(uint32_t), cudaMemcpyDeviceToHost),
      "rendering");
  return {};
}

}  // namespace kiln::render
