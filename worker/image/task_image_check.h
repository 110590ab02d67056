// CheckTaskImage: an RGBA image the image tasks (image.to3d, image.segment) accept: well
// formed and within their size limits (common/image_to3d_params.h). Pure; any thread.
#ifndef KILN_WORKER_IMAGE_TASK_IMAGE_CHECK_H_
#define KILN_WORKER_IMAGE_TASK_IMAGE_CHECK_H_

#include "absl/status/status.h"
#include "worker/image/image.h"

namespace kiln::image {

// InvalidArgument naming `image` for a malformed or too large one.
absl::Status CheckTaskImage(const Image& image);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_TASK_IMAGE_CHECK_H_
