#include "worker/image/foreground_key.h"

#include "worker/image/border_median.h"

namespace kiln::image {

bool HasTransparency(const Image& image) {
  for (size_t i = 3; i < image.rgba.size(); i += 4) {
    if (image.rgba[i] != 255) return true;
  }
  return false;
}

absl::StatusOr<ForegroundKey> ResolveForegroundKey(
    const Image& image, ImageMaskMode requested,
    const std::optional<std::array<uint8_t, 3>>& background) {
  const bool transparent = HasTransparency(image);
  ForegroundKey key;
  key.mode = requested;
  if (key.mode == ImageMaskMode::kAuto) {
    key.mode = transparent ? ImageMaskMode::kAlpha : ImageMaskMode::kKey;
  }
  if (key.mode == ImageMaskMode::kAlpha) {
    if (!transparent) {
      return absl::InvalidArgumentError(
          "parameters.mask: \"alpha\", but the image is fully opaque (every alpha is 255); "
          "use mask \"key\" to key out a background colour");
    }
    return key;
  }
  key.background = background.has_value() ? *background : BorderMedian(image);
  return key;
}

}  // namespace kiln::image
