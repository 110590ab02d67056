// The CUDA Renderer: CudaRasterizer (cuda/render_cuda.h) behind the Renderer interface.
#include "worker/render/renderer_cuda.h"

#include <bit>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/render/cuda/render_cuda.h"

namespace kiln::render {
namespace {

absl::Status ToStatus(const CudaRenderStatus& status) {
  switch (status.code) {
    case CudaRenderCode::kOk:
      return absl::OkStatus();
    case CudaRenderCode::kInvalidArgument:
      return absl::InvalidArgumentError(status.message);
    case CudaRenderCode::kFailedPrecondition:
      return absl::FailedPreconditionError(status.message);
    case CudaRenderCode::kResourceExhausted:
      return absl::ResourceExhaustedError(status.message);
    case CudaRenderCode::kInternal:
      break;
  }
  return absl::InternalError(status.message);
}

class CudaRenderer : public Renderer {
 public:
  CudaRenderer(PreparedMesh mesh, std::unique_ptr<CudaRasterizer> rasterizer)
      : mesh_(std::move(mesh)), rasterizer_(std::move(rasterizer)) {}
  std::string_view name() const override { return "cuda"; }
  absl::StatusOr<image::Image> Render(const RenderOptions& options) override {
    KILN_ASSIGN_OR_RETURN(View view, FitViewToMesh(mesh_, options));
    const core::FrameConstants frame = FrameFor(view, options);
    // Packed RGBA with R in the low byte is the image's byte order on a little-endian
    // host: download straight into it (vector storage is aligned for uint32_t).
    static_assert(std::endian::native == std::endian::little);
    image::Image image = image::Image::Blank(frame.width, frame.height);
    const std::span<uint32_t> pixels(reinterpret_cast<uint32_t*>(image.rgba.data()),
                                     image.rgba.size() / 4);
    KILN_RETURN_IF_ERROR(ToStatus(rasterizer_->Render(frame, pixels)));
    return image;
  }

 private:
  const PreparedMesh mesh_;
  std::unique_ptr<CudaRasterizer> rasterizer_;
};

}  // namespace

bool CudaRendererBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Renderer>> CreateCudaRenderer(PreparedMesh mesh, int device) {
  std::unique_ptr<CudaRasterizer> rasterizer;
  KILN_RETURN_IF_ERROR(ToStatus(CudaRasterizer::Create(device, &rasterizer)));
  KILN_RETURN_IF_ERROR(
      ToStatus(rasterizer->Upload(mesh.positions, mesh.normals, mesh.colors, mesh.indices)));
  return std::unique_ptr<Renderer>(new CudaRenderer(std::move(mesh), std::move(rasterizer)));
}

}  // namespace kiln::render
