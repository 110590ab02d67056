#include "worker/tasks/mesh_stats.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace kiln::tasks {
namespace {

uint32_t Find(std::vector<uint32_t>& parent, uint32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

}  // namespace

MeshStats ComputeMeshStats(const Mesh& mesh) {
  MeshStats stats;
  const size_t n = mesh.positions.size();
  stats.vertices = static_cast<int64_t>(n);
  stats.faces = static_cast<int64_t>(mesh.triangles.size());
  if (n > 0) {
    stats.bbox_min = stats.bbox_max = mesh.positions[0];
    for (const auto& p : mesh.positions) {
      for (int a = 0; a < 3; ++a) {
        stats.bbox_min[a] = std::min(stats.bbox_min[a], p[a]);
        stats.bbox_max[a] = std::max(stats.bbox_max[a], p[a]);
      }
    }
  }

  // Directed edges a->b grouped by a (CSR), sorted; far smaller than a hash map.
  std::vector<uint32_t> begin(n + 1, 0);
  for (const auto& t : mesh.triangles) {
    for (int c = 0; c < 3; ++c) ++begin[t[c] + 1];
  }
  std::partial_sum(begin.begin(), begin.end(), begin.begin());
  std::vector<uint32_t> fill(begin.begin(), begin.end() - 1);
  std::vector<uint32_t> to(begin[n]);
  std::vector<uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<bool> used(n, false);
  for (const auto& t : mesh.triangles) {
    for (int c = 0; c < 3; ++c) {
      const uint32_t a = t[c], b = t[(c + 1) % 3];
      if (a == b) stats.watertight = false;  // Degenerate face.
      to[fill[a]++] = b;
      used[a] = true;
      const uint32_t ra = Find(parent, a), rb = Find(parent, b);
      if (ra != rb) parent[ra] = rb;
      const auto& p = mesh.positions;
      if (c == 0) {
        const auto &p0 = p[t[0]], &p1 = p[t[1]], &p2 = p[t[2]];
        stats.signed_volume += (double(p0[0]) * (double(p1[1]) * p2[2] - double(p1[2]) * p2[1]) +
                                double(p0[1]) * (double(p1[2]) * p2[0] - double(p1[0]) * p2[2]) +
                                double(p0[2]) * (double(p1[0]) * p2[1] - double(p1[1]) * p2[0])) /
                               6;
      }
    }
  }
  for (size_t v = 0; v < n; ++v) std::sort(to.begin() + begin[v], to.begin() + begin[v + 1]);
  // How many faces traverse the directed edge a->b.
  auto directed = [&](uint32_t a, uint32_t b) {
    const auto [lo, hi] = std::equal_range(to.begin() + begin[a], to.begin() + begin[a + 1], b);
    return static_cast<int64_t>(hi - lo);
  };
  int64_t used_vertices = 0;
  for (uint32_t a = 0; a < n; ++a) {
    if (!used[a]) continue;
    ++used_vertices;
    if (Find(parent, a) == a) ++stats.components;
    for (uint32_t i = begin[a]; i < begin[a + 1];) {
      const uint32_t b = to[i];
      const int64_t forward = directed(a, b);
      i += static_cast<uint32_t>(forward);
      const int64_t reverse = directed(b, a);
      // Exactly one face each way, or the surface is open, folded or non-manifold here.
      if (forward != 1 || reverse != 1) stats.watertight = false;
      if (a > b && reverse > 0) continue;  // Counted from b.
      ++stats.edges;
      if (forward + reverse == 1) ++stats.boundary_edges;
      if (forward + reverse > 2) ++stats.non_manifold_edges;
    }
  }
  stats.euler_characteristic = used_vertices - stats.edges + stats.faces;
  return stats;
}

}  // namespace kiln::tasks
