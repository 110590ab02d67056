#include "worker/tasks/image_segment/segmentation.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/image/connected_components.h"
#include "worker/image/foreground_key.h"
#include "worker/image/task_image_check.h"

namespace kiln::tasks {
namespace {

// One pass of a (2 radius + 1) window along rows (`horizontal`) or columns: a pixel is
// set when every in-image pixel of its window is (`all`) or when any is (!`all`).
void WindowPass(int width, int height, int radius, bool horizontal, bool all,
                std::vector<uint8_t>& mask) {
  const int lines = horizontal ? height : width;
  const int length = horizontal ? width : height;
  std::vector<uint8_t> line(length);
  for (int l = 0; l < lines; ++l) {
    auto at = [&](int i) -> uint8_t& {
      return horizontal ? mask[static_cast<size_t>(l) * width + i]
                        : mask[static_cast<size_t>(i) * width + l];
    };
    for (int i = 0; i < length; ++i) line[i] = at(i);
    // Running count of set pixels in [i - radius, i + radius] clipped to the line.
    int set = 0;
    for (int i = 0; i < std::min(radius, length); ++i) set += line[i];
    for (int i = 0; i < length; ++i) {
      if (i + radius < length) set += line[i + radius];
      if (i - radius - 1 >= 0) set -= line[i - radius - 1];
      const int in_window = std::min(i + radius, length - 1) - std::max(i - radius, 0) + 1;
      at(i) = all ? set == in_window : set > 0;
    }
  }
}

void Erode(int width, int height, int radius, std::vector<uint8_t>& mask) {
  WindowPass(width, height, radius, true, true, mask);
  WindowPass(width, height, radius, false, true, mask);
}

void Dilate(int width, int height, int radius, std::vector<uint8_t>& mask) {
  WindowPass(width, height, radius, true, false, mask);
  WindowPass(width, height, radius, false, false, mask);
}

}  // namespace

void CleanUpMask(int width, int height, int radius, std::vector<uint8_t>& mask) {
  if (radius <= 0) return;
  Erode(width, height, radius, mask);
  Dilate(width, height, radius, mask);
  Dilate(width, height, radius, mask);
  Erode(width, height, radius, mask);
}

absl::StatusOr<Segmentation> SegmentImage(const image::Image& image,
                                          const ImageSegmentParams& params) {
  KILN_RETURN_IF_ERROR(image::CheckTaskImage(image));
  Segmentation out;
  out.width = image.width;
  out.height = image.height;
  KILN_ASSIGN_OR_RETURN(const image::ForegroundKey key,
                        image::ResolveForegroundKey(image, params.mask, params.background));
  out.mask_mode = key.mode;
  const bool alpha_mode = key.mode == ImageMaskMode::kAlpha;
  if (!alpha_mode) out.background = key.background;

  const size_t n = static_cast<size_t>(image.width) * image.height;
  std::vector<uint8_t> mask(n);
  const double limit = params.tolerance * 255.0 * std::sqrt(3.0);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = image.rgba.data() + 4 * i;
    if (alpha_mode) {
      mask[i] = p[3] >= 128;
    } else {
      double d2 = 0;
      for (int c = 0; c < 3; ++c) {
        const double d = static_cast<double>(p[c]) - out.background[c];
        d2 += d * d;
      }
      mask[i] = d2 > limit * limit;
    }
  }
  CleanUpMask(image.width, image.height, params.cleanup, mask);
  for (uint8_t m : mask) out.foreground_pixels += m;

  std::vector<int32_t> labels;
  const std::vector<int64_t> sizes =
      image::LabelComponents(image.width, image.height, mask, image::Connectivity::kEight, labels);
  out.components = static_cast<int>(sizes.size()) - 1;

  // Per component: bounding box and centroid sums.
  struct Stats {
    int min_x, min_y, max_x, max_y;
    double sum_x = 0, sum_y = 0;
  };
  std::vector<Stats> stats(sizes.size(), Stats{image.width, image.height, -1, -1});
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const int32_t label = labels[static_cast<size_t>(y) * image.width + x];
      if (label == 0) continue;
      Stats& s = stats[label];
      s.min_x = std::min(s.min_x, x);
      s.min_y = std::min(s.min_y, y);
      s.max_x = std::max(s.max_x, x);
      s.max_y = std::max(s.max_y, y);
      s.sum_x += x + 0.5;
      s.sum_y += y + 0.5;
    }
  }
  std::vector<int32_t> kept;  // Component labels at or above min_area.
  for (int32_t label = 1; label < static_cast<int32_t>(sizes.size()); ++label) {
    if (sizes[label] >= params.min_area) {
      kept.push_back(label);
    } else {
      ++out.dropped_small;
    }
  }
  if (kept.empty()) {
    if (out.foreground_pixels == 0) {
      return absl::InvalidArgumentError(
          alpha_mode
              ? std::string("image has no objects: alpha is below 50% everywhere")
              : absl::StrFormat("image has no objects: every pixel is within tolerance %g of the "
                                "background [%d, %d, %d]",
                                params.tolerance, out.background[0], out.background[1],
                                out.background[2]));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "image has no objects: ", out.foreground_pixels, " foreground pixels in ", out.components,
        " components, each smaller than parameters.min_area (", params.min_area, " pixels)"));
  }
  // Output order: left edge, then top edge, then scan order of the first pixel.
  auto before = [&](int32_t a, int32_t b) {
    return std::tie(stats[a].min_x, stats[a].min_y, a) <
           std::tie(stats[b].min_x, stats[b].min_y, b);
  };
  std::sort(kept.begin(), kept.end(), before);
  if (static_cast<int>(kept.size()) > params.max_objects) {
    // The largest max_objects, ties broken by output order, then back in output order.
    std::stable_sort(kept.begin(), kept.end(),
                     [&](int32_t a, int32_t b) { return sizes[a] > sizes[b]; });
    out.dropped_over_limit = static_cast<int>(kept.size()) - params.max_objects;
    kept.resize(params.max_objects);
    std::sort(kept.begin(), kept.end(), before);
  }
  std::vector<int32_t> new_label(sizes.size(), 0);
  for (size_t i = 0; i < kept.size(); ++i) {
    const int32_t label = kept[i];
    new_label[label] = static_cast<int32_t>(i) + 1;
    const Stats& s = stats[label];
    SegmentedObject& object = out.objects.emplace_back();
    object.bbox = {s.min_x, s.min_y, s.max_x - s.min_x + 1, s.max_y - s.min_y + 1};
    object.area = sizes[label];
    object.centroid = {s.sum_x / sizes[label], s.sum_y / sizes[label]};
  }
  for (int32_t& label : labels) label = new_label[label];
  out.labels = std::move(labels);
  return out;
}

PixelBox CropBox(const Segmentation& segmentation, int index, int padding) {
  const PixelBox& b = segmentation.objects[index].bbox;
  return {b.x - padding, b.y - padding, b.width + 2 * padding, b.height + 2 * padding};
}

image::Image CropObject(const image::Image& image, const Segmentation& segmentation, int index,
                        int padding) {
  const PixelBox box = CropBox(segmentation, index, padding);
  image::Image crop = image::Image::Blank(box.width, box.height);
  const int32_t label = index + 1;
  for (int y = 0; y < box.height; ++y) {
    const int sy = box.y + y;
    if (sy < 0 || sy >= image.height) continue;
    for (int x = 0; x < box.width; ++x) {
      const int sx = box.x + x;
      if (sx < 0 || sx >= image.width) continue;
      if (segmentation.labels[static_cast<size_t>(sy) * image.width + sx] != label) continue;
      std::copy_n(image.pixel(sx, sy), 4, crop.pixel(x, y));
    }
  }
  return crop;
}

image::Image ObjectMask(const Segmentation& segmentation, int index) {
  image::Image mask = image::Image::Blank(segmentation.width, segmentation.height);
  const int32_t label = index + 1;
  for (size_t i = 0; i < segmentation.labels.size(); ++i) {
    const uint8_t v = segmentation.labels[i] == label ? 255 : 0;
    uint8_t* p = mask.rgba.data() + 4 * i;
    p[0] = p[1] = p[2] = v;
    p[3] = 255;
  }
  return mask;
}

}  // namespace kiln::tasks
