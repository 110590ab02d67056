// field.decode: evaluates the job's field model (a TorchScript model of the executor's
// repository whose manifest lists "field.decode") on a regular grid on the executor's
// device, in batches, in the dtype of the first manifest tier the device meets (or the
// job's dtype), then extracts the surface with marching cubes into mesh.ply or writes
// the samples as field.npy. Parameters: common/task_catalog.h (FieldDecodeParams).
// Models come from the ModelCache, so a second job on the same model does not load it.
// The task borrows the repository and the cache (both must outlive it); Run is called
// by the executor's task thread, one run at a time.
#ifndef KILN_WORKER_TORCH_FIELD_DECODE_TASK_H_
#define KILN_WORKER_TORCH_FIELD_DECODE_TASK_H_

#include <array>

#include "common/task_catalog.h"
#include "models/model_repository.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/task.h"
#include "worker/torch/gpu_field_pipeline.h"
#include "worker/torch/model_cache.h"
#include "worker/torch/torch_device.h"

namespace kiln::torchrt {

struct FieldDecodeTaskOptions {
  // Not owned; must outlive the task.
  const models::ModelRepository* repository = nullptr;
  ModelCache* cache = nullptr;
  // The executor's device (SelectTorchDevice); must be the cache's device.
  TorchDevice device;
  TaskLimits limits = TaskLimits::Ceiling();
};

// The grid of field.decode and mesh.extract alike: `resolution` cubes along the longest
// axis of `bounds`, the others rounded up, centred on the bounds.
tasks::GridSpec FieldGrid(const Aabb& bounds, int resolution);

class FieldDecodeTask : public tasks::Task {
 public:
  explicit FieldDecodeTask(const FieldDecodeTaskOptions& options);

  std::string_view kind() const override { return kFieldDecodeTask; }
  // Outputs mesh.ply or field.npy. Summary: model, device, dtype, tier, field_kind, iso,
  // grid [nx, ny, nz] (cubes), origin, cell_size, bounds_min, bounds_max, batch_size,
  // points, cache_hit, load_seconds (0 on a hit), decode_seconds, points_per_second,
  // extract_seconds, value_min, value_max; for a mesh also vertices, faces, watertight,
  // components; for a volume shape [nz+1, ny+1, nx+1]. On a CUDA device (GpuFieldPipeline)
  // also decoder ("fused-mlp" or "libtorch", with not_fused_reason), download_seconds and
  // write_seconds (mesh statistics and the PLY write).
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override;

 private:
  absl::StatusOr<tasks::TaskOutput> RunUnguarded(const tasks::TaskContext& context) const;

  const FieldDecodeTaskOptions options_;
  // On a CUDA device: decode and marching cubes without a host round trip. Run is const
  // for the Task interface; the pipeline's caches change, one task at a time.
  const std::unique_ptr<GpuFieldPipeline> gpu_;
};

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_FIELD_DECODE_TASK_H_
