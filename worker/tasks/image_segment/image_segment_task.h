// image.segment: classical segmentation of a PNG holding several objects (segmentation.h)
// into one transparent crop and one mask per object plus objects.json (segment_layout.h),
// the first stage of the image -> objects -> 3D scene pipeline (see
// common/image_segment_params.h for the parameters). CPU only. The task object is
// stateless and immutable; Run may be called from any thread, one call per task run.
#ifndef KILN_WORKER_TASKS_IMAGE_SEGMENT_IMAGE_SEGMENT_TASK_H_
#define KILN_WORKER_TASKS_IMAGE_SEGMENT_IMAGE_SEGMENT_TASK_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "common/image_segment_params.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

class ImageSegmentTask : public Task {
 public:
  std::string_view kind() const override { return kImageSegmentTask; }
  // Outputs object-<i>.png and mask-<i>.png for each object, then objects.json; summary:
  // objects (the count), components, dropped_small, dropped_over_limit,
  // foreground_pixels, image_size [w, h], mask ("alpha" or "key"), background [r, g, b]
  // (key mode), seconds; with fan_out also children (the child job ids: one image.to3d
  // per object, then the scene.compose) and scene_job (the scene.compose's id).
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_SEGMENT_IMAGE_SEGMENT_TASK_H_
