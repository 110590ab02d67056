// Builds without CUDA: the CUDA renderer does not exist.
#include "absl/strings/str_cat.h"
#include "worker/render/renderer_cuda.h"

namespace kiln::render {

bool CudaRendererBuilt() { return false; }

absl::StatusOr<std::unique_ptr<Renderer>> CreateCudaRenderer(PreparedMesh, int device) {
  return absl::FailedPreconditionError(
      absl::StrCat("CUDA device ", device, ": this build has no CUDA renderer"));
}

}  // namespace kiln::render
