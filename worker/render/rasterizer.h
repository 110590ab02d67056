// Renders a triangle mesh (worker/tasks/mesh.h) into an RGBA image: a camera fitted to
// the mesh's bounding box, a z-buffer, Lambert shading (one directional light fixed to
// the camera, plus ambient) of per-vertex normals (computed from the faces when the mesh
// has none) and vertex colours (a default grey otherwise). Both faces of a triangle are
// lit (the back face with its normal flipped), so open meshes look solid.
//
// Conventions: +Y is up. Azimuth 0 looks from +Z toward -Z (the front view); a positive
// azimuth moves the camera counter-clockwise seen from above (toward +X). Elevation
// raises the camera above the horizon.
//
// Deterministic: the same mesh and options give the same pixels, on any thread count and
// on the CUDA path (cuda/render_cuda.h), which shares the per-vertex, per-triangle and
// per-pixel code of raster_core.h and the same integer edge rules (see there for the few
// pixels that may still differ).
#ifndef KILN_WORKER_RENDER_RASTERIZER_H_
#define KILN_WORKER_RENDER_RASTERIZER_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "worker/image/image.h"
#include "worker/tasks/mesh.h"

namespace kiln::render {

enum class Projection { kPerspective, kOrthographic };

inline constexpr int kMaxRenderSide = 4096;

struct RenderOptions {
  int width = 512;   // 1..kMaxRenderSide
  int height = 512;  // 1..kMaxRenderSide
  Projection projection = Projection::kPerspective;
  double azimuth_degrees = 0;
  double elevation_degrees = 20;  // -89..89
  // Perspective only: the vertical field of view.
  double vertical_fov_degrees = 30;
  // Fraction of the frame left empty on each side of the fitted mesh (0..0.45).
  // Perspective fits the sphere around the bounding box's centre that holds every vertex
  // (the framing does not change as a turntable turns); orthographic fits the bounding
  // box's corners as seen from the view direction (tight, for silhouettes).
  double margin = 0.05;
  // Pixels no triangle covers; transparent by default.
  std::array<uint8_t, 4> background = {0, 0, 0, 0};
  // The colour of a mesh without vertex colours (sRGB).
  std::array<uint8_t, 4> default_color = {200, 200, 200, 255};
};

// The orthographic front view (azimuth 0, elevation 0: looking along -Z, +X to the
// right, +Y up) at width x height, transparent background: the mesh's silhouette is the
// alpha channel. See FitView for where a world point lands.
RenderOptions FrontOrthographicView(int width, int height);

// Turntable frame `frame` of `frames`: azimuth 360 * frame / frames degrees.
RenderOptions TurntableView(int frame, int frames, const RenderOptions& base);

// Where the camera of `options` is for `mesh`, and how world points map to pixels.
struct View {
  // Camera frame in world space (unit vectors) and position.
  std::array<double, 3> eye{}, right{}, up{}, forward{};
  Projection projection = Projection::kPerspective;
  // Orthographic: world units per pixel. Perspective: tan(vertical_fov / 2).
  double scale = 1;
  double near_plane = 0, far_plane = 1;
  int width = 0, height = 0;
  // Pixel coordinates (x right, y down, (0,0) the top-left corner of the top-left
  // pixel; pixel centres at +0.5) and camera depth (distance along forward) of `world`.
  std::array<double, 3> Project(const std::array<double, 3>& world) const;
};

// InvalidArgument for bad options (the message names the option).
absl::StatusOr<View> FitView(const tasks::Mesh& mesh, const RenderOptions& options);

// Renders on the CPU. InvalidArgument (naming what is wrong) for bad options or a bad
// mesh: a triangle index out of range, a non-finite position, normals or colours whose
// count is not the vertex count. An empty mesh gives the background.
absl::StatusOr<image::Image> RenderMeshOnCpu(const tasks::Mesh& mesh, const RenderOptions& options);

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_RASTERIZER_H_
