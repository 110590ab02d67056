// image.to3d: the built-in image-to-3D baseline. Reads a PNG from the job's inputs,
// inflates its foreground into a closed, vertex-coloured mesh (image_inflate.h) and
// writes it as GLB (see common/image_to3d_params.h for the parameters). CPU only, no
// downloaded weights, so every worker can run it. The task object is stateless and
// immutable; Run may be called from any thread, one call per task run.
#ifndef KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_TO3D_TASK_H_
#define KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_TO3D_TASK_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "common/image_to3d_params.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

class ImageTo3dTask : public Task {
 public:
  std::string_view kind() const override { return kImageTo3dTask; }
  // Outputs the GLB; summary: vertices, faces, watertight, components (of the mesh),
  // components_found (foreground pieces before keeping the largest), mask_pixels,
  // mask_size [w, h] (the working image), mask ("alpha" or "key"), background [r, g, b]
  // (key mode), bbox_min, bbox_max, seconds.
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_TO3D_TASK_H_
