// Parameters of render.preview, and the "preview" option every mesh-producing task
// accepts (a turntable of its output mesh, rendered by worker/render/preview_output.h).
// Pure functions; shared by the scheduler (validation at submit) and the executor.
#ifndef KILN_COMMON_RENDER_PREVIEW_PARAMS_H_
#define KILN_COMMON_RENDER_PREVIEW_PARAMS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kRenderPreviewTask = "render.preview";

inline constexpr int kMinPreviewFrames = 1;
inline constexpr int kMaxPreviewFrames = 360;
inline constexpr int kDefaultPreviewFrames = 24;
inline constexpr int kMinPreviewSide = 16;
inline constexpr int kMaxPreviewSide = 2048;
inline constexpr int kDefaultPreviewSide = 512;
inline constexpr double kDefaultPreviewElevation = 20;

// The "preview" parameter of a mesh task:
//   true                       the defaults below
//   false / absent             no preview
//   {"frames": 1..360          turntable frames (default 24),
//    "size": [w, h]            pixels, each 16..2048 (default [512, 512]),
//    "background": [r,g,b,a]   0..255 each (default [0,0,0,0], transparent),
//    "elevation": degrees      -89..89 (default 20)}
// Outputs (worker/render/preview_output.h): preview.png (frame 0) and, with more than one
// frame, preview.gif.
struct PreviewParams {
  int frames = kDefaultPreviewFrames;
  std::array<int, 2> size = {kDefaultPreviewSide, kDefaultPreviewSide};
  std::array<uint8_t, 4> background = {0, 0, 0, 0};
  double elevation_degrees = kDefaultPreviewElevation;
};

// `field` names the value in errors (e.g. "preview"): InvalidArgument
// "parameters.preview.size: ...". nullopt for false.
absl::StatusOr<std::optional<PreviewParams>> ParsePreviewParams(
    const google::protobuf::Value& value, absl::string_view field);

// render.preview: renders a turntable of a mesh input.
//   input         (required) the name of the job input holding the mesh
//   input_format  "obj", "ply", "stl" or "glb"; default: from the input name's extension
//   frames      1..360 (default 24)
//   size        [w, h], each 16..2048 (default [512, 512])
//   background  [r, g, b, a], 0..255 each (default transparent)
//   elevation   degrees, -89..89 (default 20)
// Outputs: frame_000.png ... (one per frame), preview.png (frame 0), preview.gif.
struct RenderPreviewParams {
  std::string input;
  std::string input_format;  // empty: by the input's name
  PreviewParams view;
};

absl::StatusOr<RenderPreviewParams> ParseRenderPreviewParams(
    const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_RENDER_PREVIEW_PARAMS_H_
