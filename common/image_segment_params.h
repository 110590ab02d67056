// Parameters of the image.segment task (classical segmentation of a PNG holding several
// objects into per-object masks and transparent crops; worker/tasks/image_segment/): the
// schema, its defaults and limits, and the parser shared by the scheduler (validation at
// submit) and the executor. Pure functions; any thread may call them.
#ifndef KILN_COMMON_IMAGE_SEGMENT_PARAMS_H_
#define KILN_COMMON_IMAGE_SEGMENT_PARAMS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/image_to3d_params.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kImageSegmentTask = "image.segment";

// image.segment parameters (JSON object):
//   input       (required) the job input holding the PNG
//   mask        "alpha": foreground where alpha >= 50%; "key": foreground where the colour
//               is farther than `tolerance` from `background`. Default: "key" when
//               background is given, else "alpha" when the image has any pixel with
//               alpha < 255, else "key" (as image.to3d).
//   background  key colour [r, g, b], each 0..255; default: the per-channel median of the
//               image's border pixels. Key mode only.
//   tolerance   key distance as a fraction of the largest RGB distance (black to white),
//               0..1 (default 0.1). Key mode only.
//   cleanup     radius in pixels of a morphological opening then closing of the mask
//               (square structuring element of side 2*cleanup+1), 0..kMaxSegmentCleanup
//               (default 0: none). Opening drops specks and thin bridges between objects,
//               closing fills small holes and cracks.
//   min_area    objects (8-connected foreground components) smaller than this many pixels
//               are dropped, 1..kMaxImageTo3dPixels (default 64)
//   max_objects keep at most this many objects, the largest by area (ties: the first in
//               the output order), 1..kMaxSegmentObjects (default 16); the summary says
//               how many were found
//   padding     transparent pixels around each crop's bounding box, 0..kMaxSegmentPadding
//               (default 4), so the crop's centre is the bounding box's centre
//   fan_out     after segmenting, submit the rest of the pipeline as child jobs
//               (docs/pipelines.md): one image.to3d per object (its crop as input) and one
//               scene.compose depending on all of them, placing each mesh where its object
//               stood (objects.json as its layout); its GLB is the scene. An object:
//     to3d        image.to3d parameters for every object, without input (each child gets
//                 its crop); default {}
//     compose     {width, output, preview}: scene.compose's layout width (scene units the
//                 image spans, (0, 1e6], default 1), its output (default "scene.glb") and
//                 preview; default {}
// Outputs, objects numbered from 0 in order of bounding box left edge, then top edge:
// object-<i>.png (RGBA crop, only that object's pixels opaque), mask-<i>.png (image-sized,
// white on black) and objects.json (worker/tasks/image_segment/segment_layout.h).
inline constexpr int kMaxSegmentObjects = 256;
// With fan_out, max_objects is at most this: scene.compose depends on one child per object
// and gets their outputs plus objects.json as inputs (at most 64 of each by default).
inline constexpr int kMaxSegmentFanOutObjects = 63;
inline constexpr int kDefaultSegmentMaxObjects = 16;
inline constexpr int kMaxSegmentCleanup = 16;
inline constexpr int kMaxSegmentPadding = 256;
inline constexpr int64_t kDefaultSegmentMinArea = 64;

// fan_out, checked: each child's parameters are these plus what the task fills in.
struct SegmentFanOutParams {
  // image.to3d parameters without input (validated with a stand-in input).
  google::protobuf::Struct to3d;
  // The `size` in to3d (default 1): scene.compose's layout mesh_size.
  double mesh_size = 1;
  double width = 1;
  std::string output = "scene.glb";
  // scene.compose's preview, as given (validated); unset: none.
  std::optional<google::protobuf::Value> preview;
};

struct ImageSegmentParams {
  std::string input;
  ImageMaskMode mask = ImageMaskMode::kAuto;
  std::optional<std::array<uint8_t, 3>> background;
  double tolerance = 0.1;
  int cleanup = 0;
  int64_t min_area = kDefaultSegmentMinArea;
  int max_objects = kDefaultSegmentMaxObjects;
  int padding = 4;
  std::optional<SegmentFanOutParams> fan_out;
};

// Errors are InvalidArgument "parameters.<field>: ...".
absl::StatusOr<ImageSegmentParams> ParseImageSegmentParams(
    const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_IMAGE_SEGMENT_PARAMS_H_
