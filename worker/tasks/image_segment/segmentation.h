// Classical segmentation behind the image.segment task: an RGBA image's foreground (alpha,
// or a keyed-out background colour), optionally cleaned up by a morphological opening and
// closing, split into 8-connected components; components below a minimum area are
// dropped, at most a given number of the largest are kept, and the objects are ordered by
// bounding box left edge, then top edge. Pure functions; any thread may call them.
//
// Pixel coordinates: x right, y down, pixel (x, y) covers [x, x+1) x [y, y+1); a centroid
// is the mean of the pixel centres (x + 0.5, y + 0.5).
#ifndef KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENTATION_H_
#define KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENTATION_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image_segment_params.h"
#include "worker/image/image.h"

namespace kiln::tasks {

// An axis-aligned pixel rectangle; x and y may be negative (a padded crop).
struct PixelBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  bool operator==(const PixelBox&) const = default;
};

struct SegmentedObject {
  // Smallest box holding every pixel of the object.
  PixelBox bbox;
  // Mean pixel centre.
  std::array<double, 2> centroid{0, 0};
  // Pixels.
  int64_t area = 0;
};

struct Segmentation {
  int width = 0;
  int height = 0;
  // The mask mode used after resolving kAuto, and the key colour in key mode.
  ImageMaskMode mask_mode = ImageMaskMode::kAlpha;
  std::array<uint8_t, 3> background{0, 0, 0};
  // Foreground pixels after clean-up.
  int64_t foreground_pixels = 0;
  // 8-connected components after clean-up, those smaller than min_area, and those at or
  // above it that max_objects left out.
  int components = 0;
  int dropped_small = 0;
  int dropped_over_limit = 0;
  // The kept objects in output order.
  std::vector<SegmentedObject> objects;
  // width * height, row-major: i + 1 where the pixel belongs to objects[i], else 0.
  std::vector<int32_t> labels;
};

// Uses every field of `params` but input and padding. InvalidArgument naming what is
// wrong: a malformed image, one larger than kMaxImageTo3dSide / kMaxImageTo3dPixels,
// mask "alpha" on an image without transparency, or an image without objects (the
// message says how much foreground and how many components below min_area there were).
absl::StatusOr<Segmentation> SegmentImage(const image::Image& image,
                                          const ImageSegmentParams& params);

// Opening then closing of a width x height 0/1 mask with a (2 radius + 1) square,
// in place. Pixels outside the image do not count (an object on the border keeps its
// border pixels). Exposed for tests.
void CleanUpMask(int width, int height, int radius, std::vector<uint8_t>& mask);

// Object `index` (0-based) of `segmentation` cut out of `image`: the object's bbox grown
// by `padding` on every side; the object's pixels as they are, everything else (other
// objects, background, beyond the image) transparent black.
image::Image CropObject(const image::Image& image, const Segmentation& segmentation, int index,
                        int padding);
// The box CropObject cuts for object `index`.
PixelBox CropBox(const Segmentation& segmentation, int index, int padding);

// An image-sized mask of object `index`: opaque white on opaque black.
image::Image ObjectMask(const Segmentation& segmentation, int index);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENTATION_H_
