// Placing scene.compose's objects where image.segment found them: reads the layout
// (objects.json, worker/tasks/image_segment/segment_layout.h) named by
// parameters.layout and turns each object's `segment` into its node transform (see
// common/scene_compose_params.h for the mapping). Pure functions but for reading the
// input file; any thread may call them.
#ifndef KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_LAYOUT_H_
#define KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_LAYOUT_H_

#include "absl/status/status.h"
#include "common/scene_compose_params.h"
#include "kiln/v1/executor.pb.h"
#include "worker/tasks/image_segment/segment_layout.h"

namespace kiln::tasks {

// `object` (whose segment is set) placed on `entry` of `layout`: translation becomes the
// crop centre in scene units plus the object's own translation, scale the layout's
// factor times the object's own scale; rotation is kept.
void PlaceOnLayout(const SegmentLayout& layout, const SegmentLayoutObject& entry,
                   const SceneLayoutParams& params, SceneObjectParams& object);

// Reads params.layout's input from `request` and places every object with a segment.
// No-op without a layout. InvalidArgument naming the field: no such input, a file that is
// not an objects.json, a segment the layout does not have.
absl::Status ResolveSceneLayout(const kiln::v1::RunTaskRequest& request,
                                SceneComposeParams& params);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_LAYOUT_H_
