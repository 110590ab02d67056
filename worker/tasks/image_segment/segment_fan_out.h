// SegmentFanOut: the child jobs image.segment submits with `fan_out` (docs/pipelines.md):
// one image.to3d per object of the layout, with that object's crop as its input, and
// a last scene.compose that depends on all of them (by batch_index, each one's outputs
// prefixed "object-<i>.") and reads objects.json as its layout, so each mesh lands
// where its object stood in the image. The children carry their own client_request_id
// ("segment-to3d-<i>", "segment-compose"), so a retried parent attempt finds the
// children of an earlier one instead of making more. Pure; any thread.
#ifndef KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_FAN_OUT_H_
#define KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_FAN_OUT_H_

#include <string>
#include <vector>

#include "common/image_segment_params.h"
#include "kiln/v1/executor.pb.h"
#include "worker/tasks/image_segment/segment_layout.h"

namespace kiln::tasks {

// call_id of the one ExecSubmitChildren call image.segment makes.
inline constexpr char kSegmentFanOutCallId[] = "segment-fan-out";

// The children for `layout`, whose crops and objects.json (`layout_path`) lie in `dir`:
// layout.objects.size() image.to3d specs, then the scene.compose spec.
std::vector<kiln::v1::ExecChildSpec> SegmentFanOutChildren(const SegmentFanOutParams& params,
                                                           const SegmentLayout& layout,
                                                           const std::string& dir,
                                                           const std::string& layout_name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_FAN_OUT_H_
