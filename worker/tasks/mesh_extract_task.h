// mesh.extract: samples the signed distance field described by the job's parameters
// (see common/task_catalog.h for the schema) on a regular grid, extracts its zero (or
// iso) level set with marching cubes and writes it as binary PLY into the request's
// output_dir. The task object is stateless and immutable; Run may be called from any
// thread, one call per task run.
#ifndef KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_
#define KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_

#include <functional>

#include "absl/status/statusor.h"
#include "common/task_catalog.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

// The sampling grid for `params`: cubes of edge longest-extent / resolution, exactly
// `resolution` of them along the longest axis of params.bounds, centred on the bounds.
GridSpec MeshExtractGrid(const MeshExtractParams& params);

// Samples params.shape on MeshExtractGrid(params) and extracts the surface sdf == iso,
// oriented outward, with normals when params.normals. `progress` (may be empty) gets
// the fraction of slabs done. With cuda_device >= 0 the marching cubes run on that CUDA
// device (marching_cubes_gpu.h; the same mesh), else on the CPU.
absl::StatusOr<Mesh> ExtractMesh(const MeshExtractParams& params,
                                 const std::function<void(double fraction)>& progress,
                                 int cuda_device = -1);

struct MeshExtractTaskOptions {
  TaskLimits limits;
  // The CUDA device for marching cubes (a GPU slot's executor sees its GPU as 0), or -1
  // for the CPU path. Ignored (CPU path) when kiln_tasks was built without CUDA.
  int cuda_device = -1;
};

class MeshExtractTask : public Task {
 public:
  explicit MeshExtractTask(TaskLimits limits = {})
      : MeshExtractTask(MeshExtractTaskOptions{limits}) {}
  explicit MeshExtractTask(const MeshExtractTaskOptions& options)
      : limits_(options.limits), cuda_device_(options.cuda_device) {}

  std::string_view kind() const override { return kMeshExtractTask; }
  // Outputs the PLY file; summary: vertices, faces, components, watertight,
  // resolution, grid [nx, ny, nz] (cubes), cell_size, bbox_min, bbox_max, seconds,
  // extractor ("cuda" or "cpu").
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;

 private:
  const TaskLimits limits_;
  const int cuda_device_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_
