// SegmentLayout: objects.json, what image.segment writes about the objects it found and
// what scene.compose reads (parameters.layout) to place each object's mesh where the
// object stood in the image. Pure functions; any thread may call them.
//
// The file (pixel coordinates: x right, y down, see segmentation.h):
//   {"format": "kiln.segment.v1",
//    "image": {"width": 240, "height": 120},
//    "objects": [
//      {"index": 0,
//       "bbox": {"x": 22, "y": 32, "width": 56, "height": 56},
//       "centroid": [50.0, 60.0],
//       "area": 2452,
//       "crop": "object-0.png",
//       "crop_box": {"x": 18, "y": 28, "width": 64, "height": 64},
//       "mask": "mask-0.png"}, ...]}
// crop_box is the bbox grown by the padding: the crop's pixel (0, 0) is image pixel
// (crop_box.x, crop_box.y), and its centre is the bbox's centre.
#ifndef KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_LAYOUT_H_
#define KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_LAYOUT_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tasks/image_segment/segmentation.h"

namespace kiln::tasks {

inline constexpr std::string_view kSegmentLayoutFormat = "kiln.segment.v1";
// Readers refuse larger files (image.segment writes well under 100 KiB).
inline constexpr uintmax_t kMaxSegmentLayoutBytes = 16 << 20;

struct SegmentLayoutObject {
  int index = 0;
  PixelBox bbox;
  std::array<double, 2> centroid{0, 0};
  int64_t area = 0;
  // File names of the object's outputs.
  std::string crop;
  PixelBox crop_box;
  std::string mask;
};

struct SegmentLayout {
  int width = 0;
  int height = 0;
  std::vector<SegmentLayoutObject> objects;
};

// Pretty-printed JSON, ending in a newline.
std::string SegmentLayoutToJson(const SegmentLayout& layout);

// InvalidArgument "<name>: <field>: ..." for text that is not such a file (`name` stands
// for the file in errors, e.g. the job input's name).
absl::StatusOr<SegmentLayout> ParseSegmentLayout(std::string_view json, std::string_view name);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_SEGMENT_SEGMENT_LAYOUT_H_
