// The CUDA Renderer (renderer_cuda.cc over cuda/render_cuda.h) or, in builds without
// CUDA, a stub that says so (renderer_cuda_unavailable.cc). Internal to kiln_render.
#ifndef KILN_WORKER_RENDER_RENDERER_CUDA_H_
#define KILN_WORKER_RENDER_RENDERER_CUDA_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/render/prepared_mesh.h"
#include "worker/render/renderer.h"

namespace kiln::render {

// FailedPrecondition when this build has no CUDA renderer or the device cannot run it;
// ResourceExhausted when the mesh does not fit in device memory.
absl::StatusOr<std::unique_ptr<Renderer>> CreateCudaRenderer(PreparedMesh mesh, int device);

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_RENDERER_CUDA_H_
