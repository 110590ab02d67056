// Image inflation: the built-in image-to-3D baseline behind the image.to3d task. An
// RGBA image's foreground (alpha, or a keyed-out background colour) becomes a closed,
// vertex-coloured mesh: the silhouette is inflated by a height field derived from the
// exact Euclidean distance transform and the local thickness of each part, mirrored front
// and back, both halves meeting at
// height 0 on the silhouette. Pure functions; any thread may call them.
//
// Geometry: the working mask (the image downsampled so its longest side is at most
// params.resolution) is split into 2x2 sub-pixels whose corners are the mesh vertices.
// A corner touching any background sub-pixel lies on the silhouette at z = 0 and is
// shared by front and back; every other corner gets a front (+z) and a back (-z) vertex.
// Each sub-pixel is two triangles split through its pixel's centre corner. This makes
// every edge inside the silhouette have an off-silhouette end, so the mesh is closed and
// edge-manifold; diagonal-only contacts between pixels are filled beforehand so that it
// is vertex-manifold too. The outline is then smoothed in the image plane (Taubin,
// params.smoothing) so the rim is no pixel staircase; it moves well under a pixel, and
// sampled at pixel centres the front silhouette (orthographic, along -z) is the kept
// mask. x right, y up, front facing +z, centred on the image centre; the image width is
// params.size units.
#ifndef KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_INFLATE_H_
#define KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_INFLATE_H_

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image_to3d_params.h"
#include "worker/image/image.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

struct InflatedImage {
  Mesh mesh;
  // The mask whose silhouette the mesh covers: mask_width x mask_height (the working
  // image), row 0 on top, 1 = foreground (kept components, diagonal contacts filled).
  int mask_width = 0;
  int mask_height = 0;
  std::vector<uint8_t> mask;
  int64_t mask_pixels = 0;
  // 4-connected foreground pieces found and kept (at most params.components).
  int components_found = 0;
  int components_kept = 0;
  // The mask mode used after resolving kAuto, and the key colour in key mode.
  ImageMaskMode mask_mode = ImageMaskMode::kAlpha;
  std::array<uint8_t, 3> background{0, 0, 0};
};

// Uses every field of `params` but input and output. InvalidArgument with a message that
// says what is wrong: "image has no foreground after keying", an image that is all
// foreground in key mode, mask "alpha" on an image without transparency, a malformed
// image (size does not match its pixels), or one larger than kMaxImageTo3dSide /
// kMaxImageTo3dPixels.
absl::StatusOr<InflatedImage> InflateImage(const image::Image& image,
                                           const ImageTo3dParams& params);

// Exact squared Euclidean distance transform (Felzenszwalb & Huttenlocher, two 1-D
// passes) of a width x height grid, row-major: for every cell, the squared distance to
// the nearest cell whose `seed` is non-zero. Cells of a grid without seeds get a value
// larger than any distance in the grid. Exposed for tests.
std::vector<double> SquaredDistanceTransform(int width, int height, std::span<const uint8_t> seed);

// Per cell of a width x height grid, the radius of the largest disc inside the shape
// that covers the cell, where `distance` is each cell's distance to the silhouette (0
// outside the shape and on it). Past a disc's rim its radius fades linearly, so the field
// has no steps where a thin part leaves a thick one. Approximate (discs reach cells
// through 4-connected paths). Exposed for tests.
std::vector<double> LocalRadius(int width, int height, std::span<const double> distance);

// Sets background pixels so that no 2x2 block holds exactly two foreground pixels on a
// diagonal (such pixels would share a corner vertex only). Returns how many it set.
// Exposed for tests.
int64_t FillDiagonalContacts(int width, int height, std::vector<uint8_t>& mask);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_IMAGE_TO3D_IMAGE_INFLATE_H_
