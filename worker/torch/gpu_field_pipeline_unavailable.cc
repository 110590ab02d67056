// GpuFieldPipeline in a build without CUDA: field.decode keeps its host path.
#include "worker/torch/gpu_field_pipeline.h"

namespace kiln::torchrt {

struct GpuFieldPipeline::State {};

bool GpuFieldPipeline::Built() { return false; }

GpuFieldPipeline::GpuFieldPipeline() = default;
GpuFieldPipeline::~GpuFieldPipeline() = default;

absl::StatusOr<GpuFieldResult> GpuFieldPipeline::Run(const GpuFieldJob&) {
  return absl::FailedPreconditionError("this kiln-exec was built without CUDA");
}

}  // namespace kiln::torchrt
