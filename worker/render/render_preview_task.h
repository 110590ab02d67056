// render.preview: renders a turntable of a mesh input (common/render_preview_params.h):
// frame_000.png ... , preview.png (frame 0) and preview.gif. On a GPU slot the frames
// are rendered with CUDA (falling back to the CPU when the device cannot), else on the
// CPU; the summary says which. Stateless and immutable; Run may be called from any thread.
#ifndef KILN_WORKER_RENDER_RENDER_PREVIEW_TASK_H_
#define KILN_WORKER_RENDER_RENDER_PREVIEW_TASK_H_

#include "common/render_preview_params.h"
#include "worker/tasks/task.h"

namespace kiln::render {

struct RenderPreviewTaskOptions {
  // The CUDA device (a GPU slot's executor sees its GPU as 0), or -1 for the CPU.
  int cuda_device = -1;
};

class RenderPreviewTask : public tasks::Task {
 public:
  explicit RenderPreviewTask(const RenderPreviewTaskOptions& options = {})
      : cuda_device_(options.cuda_device) {}
  std::string_view kind() const override { return kRenderPreviewTask; }
  // Summary: frames, size [w, h], renderer ("cuda" or "cpu"), vertices, triangles,
  // seconds (rendering and writing), and gpu_fallback (why not CUDA) when it fell back.
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override;

 private:
  const int cuda_device_;
};

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_RENDER_PREVIEW_TASK_H_
