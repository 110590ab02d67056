// ReadInputPng: reads a job input that must be a PNG (image.to3d, image.segment) within
// the image tasks' size limits (checked from the header, before any pixel memory), and
// words its errors by the input's name rather than the staged path, which means nothing
// to the user. Pure; any thread.
#ifndef KILN_WORKER_TASKS_INPUT_PNG_H_
#define KILN_WORKER_TASKS_INPUT_PNG_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/image/image.h"

namespace kiln::tasks {

// `path`: where the worker staged the input; `input_name`: the job's name for it.
absl::StatusOr<image::Image> ReadInputPng(const std::string& path, const std::string& input_name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_INPUT_PNG_H_
