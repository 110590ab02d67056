// Image: an 8-bit RGBA raster, the one in-memory picture type of the worker (PNG and GIF
// files, rendered previews, image inputs). A plain value type.
#ifndef KILN_WORKER_IMAGE_IMAGE_H_
#define KILN_WORKER_IMAGE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::image {

struct Image {
  int width = 0;
  int height = 0;
  // width * height * 4 bytes: R, G, B, A per pixel (sRGB, straight alpha), row-major,
  // top row first.
  std::vector<uint8_t> rgba;

  // A width x height image, every pixel transparent black.
  static Image Blank(int width, int height) {
    Image image;
    image.width = width;
    image.height = height;
    image.rgba.assign(static_cast<size_t>(width) * height * 4, 0);
    return image;
  }
  // The first of the 4 bytes of pixel (x, y); no bounds check.
  uint8_t* pixel(int x, int y) { return rgba.data() + (static_cast<size_t>(y) * width + x) * 4; }
  const uint8_t* pixel(int x, int y) const {
    return rgba.data() + (static_cast<size_t>(y) * width + x) * 4;
  }
};

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_IMAGE_H_
