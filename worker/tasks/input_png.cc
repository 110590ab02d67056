#include "worker/tasks/input_png.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/image_to3d_params.h"
#include "worker/image/png.h"

namespace kiln::tasks {

absl::StatusOr<image::Image> ReadInputPng(const std::string& path, const std::string& input_name) {
  image::PngLimits limits;
  limits.max_side = kMaxImageTo3dSide;
  limits.max_pixels = kMaxImageTo3dPixels;
  absl::StatusOr<image::Image> image = image::ReadPng(path, limits);
  if (!image.ok()) {
    absl::string_view message = image.status().message();
    absl::ConsumePrefix(&message, absl::StrCat(path, ": "));
    return absl::Status(image.status().code(),
                        absl::StrCat("input \"", input_name, "\": ", message));
  }
  return image;
}

}  // namespace kiln::tasks
