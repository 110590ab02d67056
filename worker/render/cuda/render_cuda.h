// CudaRasterizer: the rasterizer of raster_core.h on a CUDA device. Four kernels per
// frame: one thread per vertex (TransformVertex); one thread per triangle (SetupTriangle,
// then RasterizeRect with atomicMin on the packed depth + triangle key, a triangle over
// kSmallTrianglePixels going to a list instead); 16 blocks per listed large triangle,
// each taking every 16th row, its threads striding over the pixels; one thread per pixel
// (ShadePixel).
// The same per-element code as the CPU path, built with --fmad=false: the images agree
// (see raster_core.h; the gpu test states the tolerance).
//
// Depends on the CUDA runtime and the C++ standard library only (no Abseil), like
// worker/tasks/cuda. Not thread-safe; one thread at a time per object.
#ifndef KILN_WORKER_RENDER_CUDA_RENDER_CUDA_H_
#define KILN_WORKER_RENDER_CUDA_RENDER_CUDA_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "worker/render/raster_core.h"

namespace kiln::render {

enum class CudaRenderCode {
  kOk,
  kInvalidArgument,
  kFailedPrecondition,
  kResourceExhausted,
  kInternal
};

struct CudaRenderStatus {
  CudaRenderCode code = CudaRenderCode::kOk;
  std::string message;
  bool ok() const { return code == CudaRenderCode::kOk; }
};

class CudaRasterizer {
 public:
  // FailedPrecondition when the device is missing or cannot run our kernels.
  static CudaRenderStatus Create(int device, std::unique_ptr<CudaRasterizer>* out);
  ~CudaRasterizer();
  CudaRasterizer(const CudaRasterizer&) = delete;
  CudaRasterizer& operator=(const CudaRasterizer&) = delete;

  // Copies the mesh to the device (replacing the previous one). normals and colors have
  // one entry per position; indices 3 per triangle, each < positions.size().
  CudaRenderStatus Upload(std::span<const core::Float3> positions,
                          std::span<const core::Float3> normals, std::span<const uint32_t> colors,
                          std::span<const uint32_t> indices);

  // Renders the uploaded mesh into rgba (frame.width * frame.height packed RGBA pixels,
  // R in the low byte, top row first).
  CudaRenderStatus Render(const core::FrameConstants& frame, std::span<uint32_t> rgba);

  int device() const { return device_; }

 private:
  struct State;
  explicit CudaRasterizer(int device);
  const int device_;
  std::unique_ptr<State> state_;
};

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_CUDA_RENDER_CUDA_H_
