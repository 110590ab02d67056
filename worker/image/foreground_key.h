// ForegroundKey: how image.to3d and image.segment tell an image's foreground from its
// backdrop: by alpha, or by keying out a background colour (given, or the border's
// median). Resolves the `mask` parameter's "auto" against the image. Pure; any thread.
#ifndef KILN_WORKER_IMAGE_FOREGROUND_KEY_H_
#define KILN_WORKER_IMAGE_FOREGROUND_KEY_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "common/image_to3d_params.h"
#include "worker/image/image.h"

namespace kiln::image {

struct ForegroundKey {
  ImageMaskMode mode = ImageMaskMode::kAlpha;  // kAlpha or kKey, never kAuto
  std::array<uint8_t, 3> background{};         // the key colour (kKey only)
};

// Whether any pixel's alpha is below 255.
bool HasTransparency(const Image& image);

// kAuto becomes kAlpha for an image with transparency, else kKey; kKey without a colour
// keys the border's median. InvalidArgument (naming parameters.mask) for kAlpha on a
// fully opaque image.
absl::StatusOr<ForegroundKey> ResolveForegroundKey(
    const Image& image, ImageMaskMode requested,
    const std::optional<std::array<uint8_t, 3>>& background);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_FOREGROUND_KEY_H_
