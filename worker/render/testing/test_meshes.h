// Meshes for the rasterizer's tests (CPU, reference image, CUDA vs CPU), made in code.
#ifndef KILN_WORKER_RENDER_TESTING_TEST_MESHES_H_
#define KILN_WORKER_RENDER_TESTING_TEST_MESHES_H_

#include <array>
#include <cstdint>

#include "worker/image/image.h"
#include "worker/tasks/mesh.h"

namespace kiln::render::testing {

// An axis-aligned box, 4 vertices per face so each face has its own colour (+X red, -X
// cyan, +Y green, -Y magenta, +Z blue, -Z yellow) and flat normals.
tasks::Mesh ColoredBox(const std::array<float, 3>& min, const std::array<float, 3>& max);

// A UV sphere (no normals, no colours: both computed/defaulted by the renderer).
tasks::Mesh UvSphere(const std::array<float, 3>& center, float radius, int rings, int segments);

// `b` appended to `a` (indices shifted). Normals/colours kept only when both have them.
tasks::Mesh Merge(const tasks::Mesh& a, const tasks::Mesh& b);

// The reference scene: a coloured box with a grey sphere in front of its corner.
tasks::Mesh ReferenceScene();

// A mesh of many small random triangles in a cube (a stress case for the z-buffer).
tasks::Mesh TriangleSoup(int triangles, uint32_t seed);

struct ImageDifference {
  int64_t pixels = 0;
  int64_t over_tolerance = 0;  // pixels with some channel differing by more than tolerance
  int max_channel_difference = 0;
};
ImageDifference CompareImages(const image::Image& a, const image::Image& b, int tolerance);

}  // namespace kiln::render::testing

#endif  // KILN_WORKER_RENDER_TESTING_TEST_MESHES_H_
