#include "worker/image/connected_components.h"

#include <cstddef>

namespace kiln::image {

std::vector<int64_t> LabelComponents(int width, int height, const std::vector<uint8_t>& mask,
                                     Connectivity connectivity, std::vector<int32_t>& labels) {
  labels.assign(mask.size(), 0);
  std::vector<int64_t> sizes = {0};
  std::vector<int32_t> stack;
  const bool eight = connectivity == Connectivity::kEight;
  for (size_t start = 0; start < mask.size(); ++start) {
    if (!mask[start] || labels[start] != 0) continue;
    const int32_t label = static_cast<int32_t>(sizes.size());
    int64_t size = 0;
    labels[start] = label;
    stack.push_back(static_cast<int32_t>(start));
    while (!stack.empty()) {
      const int32_t p = stack.back();
      stack.pop_back();
      ++size;
      const int x = p % width, y = p / width;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          if ((dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0)) continue;
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const int32_t q = ny * width + nx;
          if (mask[q] && labels[q] == 0) {
            labels[q] = label;
            stack.push_back(q);
          }
        }
      }
    }
    sizes.push_back(size);
  }
  return sizes;
}

}  // namespace kiln::image
