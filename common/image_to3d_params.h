// Parameters of the image.to3d task (a PNG's foreground inflated into a closed,
// vertex-coloured mesh written as GLB; worker/tasks/image_to3d/): the schema, its
// defaults and limits, and the parser shared by the scheduler (validation at submit)
// and the executor. Pure functions; any thread may call them.
#ifndef KILN_COMMON_IMAGE_TO3D_PARAMS_H_
#define KILN_COMMON_IMAGE_TO3D_PARAMS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/render_preview_params.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kImageTo3dTask = "image.to3d";

// image.to3d parameters (JSON object):
//   input       (required) the job input holding the PNG
//   mask        "alpha": foreground where alpha >= 50% (after downsampling);
//               "key": foreground where the colour is farther than `tolerance` from
//               `background`. Default: "key" when background is given, else "alpha"
//               when the image has any pixel with alpha < 255, else "key".
//   background  key colour [r, g, b], each 0..255; default: the per-channel median of
//               the image's border pixels. Key mode only.
//   tolerance   key distance as a fraction of the largest RGB distance (black to white),
//               0..1 (default 0.1). Key mode only.
//   depth       half-thickness at the deepest point over the largest inscribed radius of
//               each piece, 0.05..4 (default 0.75; 1 turns a disc into a sphere)
//   resolution  longest side of the working image in pixels, 8..kMaxImageTo3dResolution
//               (default 128); larger images are downsampled (area average) first.
//               The mesh has at most 16 * resolution^2 triangles (8 per pixel a side).
//   smoothing   smoothing passes, 0..100 (default 2): Laplacian over the heights, and
//               (at most 3 passes) Taubin over the outline in the image plane, which
//               moves it well under a pixel; 0 keeps the outline on pixel edges
//   components  keep this many largest 4-connected foreground pieces, 1..64 (default 1);
//               holes inside them are kept
//   size        width of the image in scene units, (0, 1e6] (default 1). The mesh is
//               centred on the image centre, x right, y up, its front facing +z.
//   output      GLB file name, [A-Za-z0-9._-]{1,128} ending in ".glb" (default "mesh.glb")
//   preview     a turntable preview of the mesh (common/render_preview_params.h; default none)
inline constexpr int kDefaultImageTo3dResolution = 128;
inline constexpr int kMaxImageTo3dResolution = 512;
inline constexpr int kMaxImageTo3dComponents = 64;
// Decoded images larger than this are refused before their pixels are allocated.
inline constexpr int kMaxImageTo3dSide = 16384;
inline constexpr int64_t kMaxImageTo3dPixels = int64_t{64} << 20;

enum class ImageMaskMode { kAuto, kAlpha, kKey };

// The foreground selection image.to3d and image.segment share: `input` (required), `mask`,
// `background` and `tolerance`, as documented above, into the given fields.
absl::Status ParseImageForeground(const google::protobuf::Struct& parameters,
                                  std::string& input_name, ImageMaskMode& mask_mode,
                                  std::optional<std::array<uint8_t, 3>>& background_color,
                                  double& key_tolerance);

struct ImageTo3dParams {
  std::string input;
  ImageMaskMode mask = ImageMaskMode::kAuto;
  std::optional<std::array<uint8_t, 3>> background;
  double tolerance = 0.1;
  double depth = 0.75;
  int resolution = kDefaultImageTo3dResolution;
  int smoothing = 2;
  int components = 1;
  double size = 1.0;
  std::string output = "mesh.glb";
  std::optional<PreviewParams> preview;
};

// Errors are InvalidArgument "parameters.<field>: ...".
absl::StatusOr<ImageTo3dParams> ParseImageTo3dParams(const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_IMAGE_TO3D_PARAMS_H_
