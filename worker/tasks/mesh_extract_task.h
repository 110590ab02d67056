// mesh.extract: samples the signed distance field described by the job's parameters
// (see common/task_catalog.h for the schema) on a regular grid, or reads an uploaded
// volume (.npy or raw float32) from the request's inputs, extracts its zero (or
// iso) level set with marching cubes and writes it as binary PLY into the request's
// output_dir. The task object is stateless and immutable; Run may be called from any
// thread, one call per task run.
#ifndef KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_
#define KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_

#include <array>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "common/task_catalog.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/npy_reader.h"
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

// Reads params.volume from the request's input of that name into memory (the field is
// the only allocation of its size), checking its size against dims and the limits.
// InvalidArgument messages start with "parameters.volume.input" (no such input) or
// "volume: " and the input's name.
absl::StatusOr<Float32Volume> ReadMeshExtractVolume(const MeshExtractVolume& volume,
                                                    const kiln::v1::RunTaskRequest& request,
                                                    const TaskLimits& limits);

// The grid whose samples are the volume's: dims - 1 cubes per axis from volume.origin.
GridSpec VolumeGrid(const MeshExtractVolume& volume, const std::array<int, 3>& dims);

// Extracts the surface field == iso from a whole sampled field (x fastest, (cells+1)^3
// samples), with normals from the field's interpolated gradient when `normals`. On CUDA
// device cuda_device when >= 0, else on the CPU: the same mesh either way.
absl::StatusOr<Mesh> ExtractMeshFromField(const GridSpec& grid, std::span<const float> field,
                                          double iso, bool normals,
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
  // Outputs the PLY file (and preview.png, preview.gif with params.preview; summary
  // "preview" then says which renderer ran); summary: vertices, faces, components, watertight,
  // grid [nx, ny, nz] (cubes), bbox_min, bbox_max, seconds, extractor ("cuda" or "cpu"),
  // and for a shape resolution and cell_size, for a volume dims, origin and spacing.
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;

 private:
  const TaskLimits limits_;
  const int cuda_device_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESH_EXTRACT_TASK_H_
