#include "worker/render/renderer.h"

#include <utility>

#include "common/status_macros.h"
#include "worker/render/prepared_mesh.h"
#include "worker/render/renderer_cuda.h"

namespace kiln::render {
namespace {

class CpuRenderer : public Renderer {
 public:
  explicit CpuRenderer(PreparedMesh mesh) : mesh_(std::move(mesh)) {}
  std::string_view name() const override { return "cpu"; }
  absl::StatusOr<image::Image> Render(const RenderOptions& options) override {
    KILN_ASSIGN_OR_RETURN(View view, FitViewToMesh(mesh_, options));
    return RenderPreparedOnCpu(mesh_, FrameFor(view, options));
  }

 private:
  const PreparedMesh mesh_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Renderer>> Renderer::Create(const tasks::Mesh& mesh,
                                                           const RendererOptions& options) {
  // The default colour is per frame (RenderOptions); vertex colours are baked in, so a
  // mesh without colours gets the default of RenderOptions{} here.
  KILN_ASSIGN_OR_RETURN(PreparedMesh prepared, PrepareMesh(mesh, RenderOptions{}.default_color));
  if (options.cuda_device >= 0) return CreateCudaRenderer(std::move(prepared), options.cuda_device);
  return std::unique_ptr<Renderer>(new CpuRenderer(std::move(prepared)));
}

}  // namespace kiln::render
