#include "worker/render/testing/test_meshes.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>

namespace kiln::render::testing {

tasks::Mesh ColoredBox(const std::array<float, 3>& lo, const std::array<float, 3>& hi) {
  tasks::Mesh mesh;
  struct Face {
    int axis;
    int side;  // 0: min, 1: max
    std::array<uint8_t, 4> color;
  };
  const Face faces[6] = {{0, 1, {220, 40, 40, 255}}, {0, 0, {40, 200, 200, 255}},
                         {1, 1, {40, 200, 40, 255}}, {1, 0, {200, 40, 200, 255}},
                         {2, 1, {50, 70, 230, 255}}, {2, 0, {220, 200, 40, 255}}};
  for (const Face& f : faces) {
    const int u = (f.axis + 1) % 3, v = (f.axis + 2) % 3;
    const uint32_t base = static_cast<uint32_t>(mesh.positions.size());
    const float corners[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
    for (const auto& c : corners) {
      std::array<float, 3> p;
      p[f.axis] = f.side ? hi[f.axis] : lo[f.axis];
      p[u] = c[0] ? hi[u] : lo[u];
      p[v] = c[1] ? hi[v] : lo[v];
      mesh.positions.push_back(p);
      std::array<float, 3> n = {0, 0, 0};
      n[f.axis] = f.side ? 1.0f : -1.0f;
      mesh.normals.push_back(n);
      mesh.colors.push_back(f.color);
    }
    // (u, v, axis) is right-handed: counter-clockwise in (u, v) faces +axis.
    if (f.side) {
      mesh.triangles.push_back({base, base + 1, base + 2});
      mesh.triangles.push_back({base, base + 2, base + 3});
    } else {
      mesh.triangles.push_back({base, base + 2, base + 1});
      mesh.triangles.push_back({base, base + 3, base + 2});
    }
  }
  return mesh;
}

tasks::Mesh UvSphere(const std::array<float, 3>& c, float r, int rings, int segments) {
  tasks::Mesh mesh;
  for (int i = 0; i <= rings; ++i) {
    const double theta = std::numbers::pi * i / rings;  // from +Y down
    for (int j = 0; j < segments; ++j) {
      const double phi = 2 * std::numbers::pi * j / segments;
      mesh.positions.push_back({c[0] + static_cast<float>(r * std::sin(theta) * std::cos(phi)),
                                c[1] + static_cast<float>(r * std::cos(theta)),
                                c[2] - static_cast<float>(r * std::sin(theta) * std::sin(phi))});
    }
  }
  auto at = [&](int i, int j) { return static_cast<uint32_t>(i * segments + (j % segments)); };
  for (int i = 0; i < rings; ++i) {
    for (int j = 0; j < segments; ++j) {
      // Outward: seen from outside, (i,j) -> (i+1,j) -> (i+1,j+1) is counter-clockwise.
      // Ring 0 and ring `rings` are the poles (all their vertices coincide): skip the
      // triangle that would be degenerate there.
      if (i + 1 < rings) mesh.triangles.push_back({at(i, j), at(i + 1, j), at(i + 1, j + 1)});
      if (i > 0) mesh.triangles.push_back({at(i, j), at(i + 1, j + 1), at(i, j + 1)});
    }
  }
  return mesh;
}

tasks::Mesh Merge(const tasks::Mesh& a, const tasks::Mesh& b) {
  tasks::Mesh out = a;
  const uint32_t base = static_cast<uint32_t>(a.positions.size());
  out.positions.insert(out.positions.end(), b.positions.begin(), b.positions.end());
  if (!a.normals.empty() && !b.normals.empty()) {
    out.normals.insert(out.normals.end(), b.normals.begin(), b.normals.end());
  } else {
    out.normals.clear();
  }
  if (!a.colors.empty() && !b.colors.empty()) {
    out.colors.insert(out.colors.end(), b.colors.begin(), b.colors.end());
  } else if (!a.colors.empty() || !b.colors.empty()) {
    // Keep the colours of the one that has them; grey for the other.
    out.colors.clear();
    for (size_t i = 0; i < a.positions.size(); ++i) {
      out.colors.push_back(a.colors.empty() ? std::array<uint8_t, 4>{170, 170, 170, 255}
                                            : a.colors[i]);
    }
    for (size_t i = 0; i < b.positions.size(); ++i) {
      out.colors.push_back(b.colors.empty() ? std::array<uint8_t, 4>{170, 170, 170, 255}
                                            : b.colors[i]);
    }
  }
  for (const auto& t : b.triangles)
    out.triangles.push_back({t[0] + base, t[1] + base, t[2] + base});
  return out;
}

tasks::Mesh ReferenceScene() {
  return Merge(ColoredBox({-1.0f, -0.8f, -0.8f}, {0.4f, 0.6f, 0.6f}),
               UvSphere({0.55f, -0.2f, 0.55f}, 0.55f, 24, 48));
}

tasks::Mesh TriangleSoup(int triangles, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> where(-1.0f, 1.0f), offset(-0.15f, 0.15f);
  std::uniform_int_distribution<int> byte(30, 255);
  tasks::Mesh mesh;
  for (int t = 0; t < triangles; ++t) {
    const std::array<float, 3> c = {where(rng), where(rng), where(rng)};
    const uint32_t base = static_cast<uint32_t>(mesh.positions.size());
    const std::array<uint8_t, 4> color = {static_cast<uint8_t>(byte(rng)),
                                          static_cast<uint8_t>(byte(rng)),
                                          static_cast<uint8_t>(byte(rng)), 255};
    for (int k = 0; k < 3; ++k) {
      mesh.positions.push_back({c[0] + offset(rng), c[1] + offset(rng), c[2] + offset(rng)});
      mesh.colors.push_back(color);
    }
    mesh.triangles.push_back({base, base + 1, base + 2});
  }
  return mesh;
}

ImageDifference CompareImages(const image::Image& a, const image::Image& b, int tolerance) {
  ImageDifference d;
  if (a.width != b.width || a.height != b.height || a.rgba.size() != b.rgba.size()) {
    d.pixels = -1;
    return d;
  }
  d.pixels = static_cast<int64_t>(a.width) * a.height;
  for (int64_t p = 0; p < d.pixels; ++p) {
    int worst = 0;
    for (int c = 0; c < 4; ++c)
      worst = std::max(worst, std::abs(a.rgba[4 * p + c] - b.rgba[4 * p + c]));
    d.max_channel_difference = std::max(d.max_channel_difference, worst);
    if (worst > tolerance) ++d.over_tolerance;
  }
  return d;
}

}  // namespace kiln::render::testing
