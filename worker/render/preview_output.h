// The "preview" option of mesh tasks (common/render_preview_params.h): one call a task
// makes after writing its mesh, adding a turntable preview to its outputs.
//
//   ASSIGN_OR_RETURN(std::optional<PreviewParams> preview,
//                    ParsePreviewParams(value, "preview"));   // in the params parser
//   ...
//   if (params.preview) {
//     RETURN_IF_ERROR(render::AddPreviewOutputs(*params.preview, mesh, output_dir,
//                                               cuda_device, &output));
//   }
#ifndef KILN_WORKER_RENDER_PREVIEW_OUTPUT_H_
#define KILN_WORKER_RENDER_PREVIEW_OUTPUT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/render_preview_params.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/task.h"

namespace kiln::render {

// Renders params.frames turntable frames of `mesh` (on CUDA device cuda_device when >= 0
// and this build has the CUDA renderer, else on the CPU) and writes into output_dir
// preview.png (frame 0) and, with more than one frame, preview.gif; appends both to
// output->outputs and sets output->summary "preview" to {frames, size, renderer}.
// A GPU that cannot render falls back to the CPU (the summary says which ran).
absl::Status AddPreviewOutputs(const PreviewParams& params, const tasks::Mesh& mesh,
                               const std::string& output_dir, int cuda_device,
                               tasks::TaskOutput* output);

// What a turntable left behind.
struct TurntableResult {
  std::string renderer;             // "cpu" or "cuda"
  std::string gpu_fallback_reason;  // why a requested GPU was not used; empty otherwise
  double seconds = 0;
};

// The turntable itself, for render.preview and AddPreviewOutputs: renders params.frames
// frames; writes frame_NNN.png for each when write_frames, preview.png (frame 0), and
// preview.gif when write_gif (frames shrunk to at most kMaxGifSide a side, looping);
// appends the files to output->outputs. `progress` (may be empty) gets frames done.
inline constexpr int kMaxGifSide = 512;
absl::StatusOr<TurntableResult> RenderTurntable(
    const PreviewParams& params, const tasks::Mesh& mesh, const std::string& output_dir,
    int cuda_device, bool write_frames, bool write_gif, tasks::TaskOutput* output,
    const std::function<void(int done, int total)>& progress = {});

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_PREVIEW_OUTPUT_H_
