#include "worker/image/task_image_check.h"

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/image_to3d_params.h"

namespace kiln::image {

absl::Status CheckTaskImage(const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgba.size() != static_cast<size_t>(image.width) * image.height * 4) {
    return absl::InvalidArgumentError(absl::StrCat("image: malformed (", image.width, "x",
                                                   image.height, " with ", image.rgba.size(),
                                                   " bytes of RGBA)"));
  }
  if (image.width > kMaxImageTo3dSide || image.height > kMaxImageTo3dSide ||
      static_cast<int64_t>(image.width) * image.height > kMaxImageTo3dPixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("image: ", image.width, "x", image.height, " is too large (at most ",
                     kMaxImageTo3dSide, " pixels a side and ", kMaxImageTo3dPixels, " pixels)"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::image
