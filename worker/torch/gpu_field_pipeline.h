// GpuFieldPipeline: field.decode's path on a CUDA slot. The field is decoded straight into
// one device buffer and, for a mesh, extracted there by the CUDA marching cubes
// (worker/tasks/cuda), so the only host copies are the mesh (or, for a volume, the field).
//
// Decoding: a model that is a plain ReLU MLP (plain_mlp.h) runs on FusedMlpField
// (worker/fieldnet: cuBLASLt with fused epilogues, CUDA graphs); any other TorchScript
// model runs on LibTorch batch by batch, each batch copied into the buffer on the device.
// An occupancy field is negated on the way (for the MLP, by negating its last layer), so
// marching cubes always sees "inside below iso".
//
// The pipeline keeps the fused decoder of the model it ran last (its device memory is
// bounded by the batch size) and the marching cubes object; field and mesh buffers are
// freed at the end of each task so that models keep the device's memory.
// One task at a time (kiln-exec runs one); not thread-safe.
#ifndef KILN_WORKER_TORCH_GPU_FIELD_PIPELINE_H_
#define KILN_WORKER_TORCH_GPU_FIELD_PIPELINE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/mesh.h"
#include "worker/torch/model_cache.h"

namespace kiln::torchrt {

struct GpuFieldJob {
  const LoadedModel* model = nullptr;  // On a CUDA device.
  std::array<double, 6> bounds{};      // The field's box (plain-MLP probe points).
  tasks::GridSpec grid;
  bool occupancy = false;  // Inside above iso; negated before extraction.
  double iso = 0;
  bool extract_mesh = true;  // Else the field comes back to the host (volume output).
  bool normals = false;
  int64_t batch_size = 262144;
  // Decode progress in [0, 1].
  std::function<void(double fraction)> progress;
};

struct GpuFieldResult {
  tasks::Mesh mesh;                     // When extract_mesh.
  std::vector<float> field;             // When not: the field as decoded (occupancy not negated).
  double value_min = 0, value_max = 0;  // Of the decoded field, before any negation.
  // "fused-mlp" or "libtorch", and why not fused when it is not.
  std::string decoder;
  std::string not_fused_reason;
  // Wall seconds, each stage synchronized: decode into the device buffer, marching cubes
  // on the device, and copying the mesh (or field) to the host.
  double decode_seconds = 0, extract_seconds = 0, download_seconds = 0;
};

class GpuFieldPipeline {
 public:
  // True when this build has the CUDA pieces (KILN_WITH_CUDA); else Run fails.
  static bool Built();

  GpuFieldPipeline();
  ~GpuFieldPipeline();

  absl::StatusOr<GpuFieldResult> Run(const GpuFieldJob& job);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_GPU_FIELD_PIPELINE_H_
