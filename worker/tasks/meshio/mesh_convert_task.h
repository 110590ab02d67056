// mesh.convert: reads one mesh file from the job's inputs, applies scale, unit and
// up-axis changes, and writes it in the format the output name picks (see
// common/mesh_convert_params.h). OBJ, PLY, STL and GLB are built in; STEP needs the
// OpenCASCADE functions that the executor injects through the options (kiln_cad is
// optional), and without them a STEP request fails with FailedPrecondition. The task
// object is immutable; Run may be called from any thread, one call per task run.
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_CONVERT_TASK_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_CONVERT_TASK_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mesh_convert_params.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

struct MeshConvertTaskOptions {
  // STEP reading and writing (worker/cad/step_mesh.h ReadStepMesh / WriteStepMesh);
  // empty when this executor has no OpenCASCADE.
  std::function<absl::StatusOr<Mesh>(const std::string& path)> read_step;
  std::function<absl::Status(const Mesh& mesh, const std::string& path)> write_step;
};

// Scales positions by params.factor and rotates positions and normals from
// params.up_from to params.up_to. Exposed for tests.
void TransformMeshForConvert(const MeshConvertParams& params, Mesh& mesh);

class MeshConvertTask : public Task {
 public:
  explicit MeshConvertTask(MeshConvertTaskOptions options = {}) : options_(std::move(options)) {}

  std::string_view kind() const override { return kMeshConvertTask; }
  // Outputs the converted file; summary: vertices, faces, components, watertight,
  // bbox_min, bbox_max (of the written mesh), input_format, output_format; with
  // params.preview also preview.png (+ preview.gif) and summary "preview".
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;

 private:
  const MeshConvertTaskOptions options_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_CONVERT_TASK_H_
