// PNG files through libpng: read any PNG libpng can decode (palette, grey, 16-bit,
// interlaced, with or without alpha) as 8-bit RGBA; write 8-bit RGBA.
// libpng's error path (longjmp) is contained inside these functions: bad files come back
// as a Status naming the file, never as an abort.
#ifndef KILN_WORKER_IMAGE_PNG_H_
#define KILN_WORKER_IMAGE_PNG_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/image/image.h"

namespace kiln::image {

// Decoding limits, checked against the header before any pixel memory is allocated.
struct PngLimits {
  int max_side = 16384;                     // pixels, each of width and height
  int64_t max_pixels = int64_t{256} << 20;  // width * height (256 Mpixel = 1 GiB RGBA)
};

// InvalidArgument (message starts with the path) when the file is not a PNG, is
// truncated or corrupt, or is larger than `limits`; NotFound when it cannot be opened.
absl::StatusOr<Image> ReadPng(const std::string& path, const PngLimits& limits = {});

// The same from bytes in memory; `name` stands for the file in error messages.
absl::StatusOr<Image> ReadPngFromBytes(std::span<const uint8_t> bytes, const std::string& name,
                                       const PngLimits& limits = {});

// Writes 8-bit RGBA (colour type 6). InvalidArgument for an inconsistent image (size
// does not match rgba), Internal/PermissionDenied style errors naming the path otherwise.
absl::Status WritePng(const Image& image, const std::string& path);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_PNG_H_
