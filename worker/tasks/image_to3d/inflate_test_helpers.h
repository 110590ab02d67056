// Test-only helpers for image.to3d: images drawn by the test, a front silhouette
// rasterizer (orthographic along -z, triangle coverage of pixel centres) and a
// vertex-manifold check, so the tests measure the mesh rather than trust it.
#ifndef KILN_WORKER_TASKS_IMAGE_TO3D_INFLATE_TEST_HELPERS_H_
#define KILN_WORKER_TASKS_IMAGE_TO3D_INFLATE_TEST_HELPERS_H_

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "worker/image/image.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks::testing {

// A width x height image, transparent where `inside(x, y)` (pixel centre coordinates)
// is false, `color(x, y)` where it is true.
inline image::Image DrawShape(
    int width, int height, const std::function<bool(double, double)>& inside,
    const std::function<std::array<uint8_t, 3>(double, double)>& color = [](double, double) {
      return std::array<uint8_t, 3>{200, 120, 40};
    }) {
  image::Image image = image::Image::Blank(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (!inside(x + 0.5, y + 0.5)) continue;
      const std::array<uint8_t, 3> c = color(x + 0.5, y + 0.5);
      uint8_t* p = image.pixel(x, y);
      p[0] = c[0], p[1] = c[1], p[2] = c[2], p[3] = 255;
    }
  }
  return image;
}

// alpha >= 128 per pixel.
inline std::vector<uint8_t> AlphaMask(const image::Image& image) {
  std::vector<uint8_t> mask(static_cast<size_t>(image.width) * image.height);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = image.rgba[i * 4 + 3] >= 128;
  return mask;
}

// The front silhouette of `mesh` on a width x height grid spanning x in
// [-size/2, size/2] and y in [-size*height/width/2, +...], row 0 on top: a pixel is
// covered when its centre lies in the xy projection of some triangle.
inline std::vector<uint8_t> FrontSilhouette(const Mesh& mesh, int width, int height, double size) {
  std::vector<uint8_t> covered(static_cast<size_t>(width) * height, 0);
  const double pixel = size / width;
  auto to_px = [&](const std::array<float, 3>& p) {
    return std::array<double, 2>{p[0] / pixel + width / 2.0, height / 2.0 - p[1] / pixel};
  };
  for (const auto& t : mesh.triangles) {
    std::array<std::array<double, 2>, 3> v = {
        to_px(mesh.positions[t[0]]), to_px(mesh.positions[t[1]]), to_px(mesh.positions[t[2]])};
    const double area =
        (v[1][0] - v[0][0]) * (v[2][1] - v[0][1]) - (v[1][1] - v[0][1]) * (v[2][0] - v[0][0]);
    if (std::abs(area) < 1e-12) continue;
    const int x0 = std::max(0, static_cast<int>(std::floor(std::min({v[0][0], v[1][0], v[2][0]}))));
    const int x1 =
        std::min(width - 1, static_cast<int>(std::ceil(std::max({v[0][0], v[1][0], v[2][0]}))));
    const int y0 = std::max(0, static_cast<int>(std::floor(std::min({v[0][1], v[1][1], v[2][1]}))));
    const int y1 =
        std::min(height - 1, static_cast<int>(std::ceil(std::max({v[0][1], v[1][1], v[2][1]}))));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const double px = x + 0.5, py = y + 0.5;
        bool inside = true;
        for (int e = 0; e < 3 && inside; ++e) {
          const auto& a = v[e];
          const auto& b = v[(e + 1) % 3];
          const double edge = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]);
          // Inclusive, whatever the winding.
          inside = area > 0 ? edge >= -1e-9 : edge <= 1e-9;
        }
        if (inside) covered[static_cast<size_t>(y) * width + x] = 1;
      }
    }
  }
  return covered;
}

inline double IoU(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int64_t both = 0, either = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    both += a[i] && b[i];
    either += a[i] || b[i];
  }
  return either == 0 ? 1.0 : static_cast<double>(both) / either;
}

// Number of vertices whose incident triangles do not form one closed fan (the link of
// the vertex is not a single cycle). 0 for a closed 2-manifold.
inline int64_t NonManifoldVertices(const Mesh& mesh) {
  // Per vertex: the opposite edges (next -> prev) of its triangles.
  std::vector<std::vector<std::array<uint32_t, 2>>> link(mesh.positions.size());
  for (const auto& t : mesh.triangles) {
    for (int k = 0; k < 3; ++k) link[t[k]].push_back({t[(k + 1) % 3], t[(k + 2) % 3]});
  }
  int64_t bad = 0;
  for (const auto& edges : link) {
    if (edges.empty()) continue;
    std::map<uint32_t, uint32_t> next;
    bool ok = true;
    for (const auto& e : edges) ok = ok && next.emplace(e[0], e[1]).second;
    if (ok) {
      // Walk the cycle from the first edge; it must visit every edge exactly once.
      uint32_t at = edges[0][0];
      size_t steps = 0;
      do {
        auto it = next.find(at);
        if (it == next.end()) {
          ok = false;
          break;
        }
        at = it->second;
        ++steps;
      } while (at != edges[0][0] && steps <= edges.size());
      ok = ok && steps == edges.size() && at == edges[0][0];
    }
    bad += !ok;
  }
  return bad;
}

}  // namespace kiln::tasks::testing

#endif  // KILN_WORKER_TASKS_IMAGE_TO3D_INFLATE_TEST_HELPERS_H_
