// Renderer: renders many views of one mesh, on the CPU or on a CUDA device, behind one
// interface, so a task picks the device once and renders its frames with the same call.
// The mesh is checked and prepared (normals, colours; uploaded on CUDA) once, in Create.
#ifndef KILN_WORKER_RENDER_RENDERER_H_
#define KILN_WORKER_RENDER_RENDERER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/image/image.h"
#include "worker/render/rasterizer.h"
#include "worker/tasks/mesh.h"

namespace kiln::render {

struct RendererOptions {
  // CUDA device ordinal, or -1 for the CPU. FailedPrecondition from Create when the
  // build has no CUDA renderer or the device cannot run it.
  int cuda_device = -1;
};

class Renderer {
 public:
  // InvalidArgument for a bad mesh (see RenderMeshOnCpu).
  static absl::StatusOr<std::unique_ptr<Renderer>> Create(const tasks::Mesh& mesh,
                                                          const RendererOptions& options);
  virtual ~Renderer() = default;
  // "cpu" or "cuda".
  virtual std::string_view name() const = 0;
  virtual absl::StatusOr<image::Image> Render(const RenderOptions& options) = 0;
};

// Whether this build has the CUDA renderer.
bool CudaRendererBuilt();

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_RENDERER_H_
