#include "worker/image/border_median.h"

namespace kiln::image {

std::array<uint8_t, 3> BorderMedian(const Image& image) {
  std::array<std::array<int64_t, 256>, 3> histogram{};
  int64_t count = 0;
  auto add = [&](int x, int y) {
    const uint8_t* p = image.pixel(x, y);
    for (int c = 0; c < 3; ++c) ++histogram[c][p[c]];
    ++count;
  };
  for (int x = 0; x < image.width; ++x) {
    add(x, 0);
    if (image.height > 1) add(x, image.height - 1);
  }
  for (int y = 1; y + 1 < image.height; ++y) {
    add(0, y);
    if (image.width > 1) add(image.width - 1, y);
  }
  std::array<uint8_t, 3> median{};
  if (count == 0) return median;
  for (int c = 0; c < 3; ++c) {
    int64_t seen = 0;
    for (int v = 0; v < 256; ++v) {
      seen += histogram[c][v];
      if (2 * seen >= count) {
        median[c] = static_cast<uint8_t>(v);
        break;
      }
    }
  }
  return median;
}

}  // namespace kiln::image
