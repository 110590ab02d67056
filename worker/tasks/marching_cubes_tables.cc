#include "worker/tasks/marching_cubes_tables.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

namespace kiln::tasks {
namespace {

using marching_cubes::EdgeAxis;
using marching_cubes::EdgeLowCorner;
using marching_cubes::FaceCorner;
using marching_cubes::kCenterCode;
using marching_cubes::kMaxCenters;
using Vec = std::array<double, 3>;

std::array<int, 2> EdgeCorners(int e) {
  const int a = EdgeLowCorner(e);
  return {a, a | (1 << EdgeAxis(e))};
}

bool EdgeOnFace(int e, int f) {
  const int axis = f / 2;
  return EdgeAxis(e) != axis && ((EdgeCorners(e)[0] >> axis) & 1) == f % 2;
}

std::array<int, 4> FaceCorners(int f) {
  return {FaceCorner(f, 0), FaceCorner(f, 1), FaceCorner(f, 2), FaceCorner(f, 3)};
}

Vec CornerPosition(int c) { return {double(c & 1), double((c >> 1) & 1), double((c >> 2) & 1)}; }

Vec EdgeMidpoint(int e) {
  const auto [a, b] = EdgeCorners(e);
  const Vec pa = CornerPosition(a), pb = CornerPosition(b);
  return {(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2};
}

Vec Sub(const Vec& a, const Vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec Cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double Dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// A face is ambiguous when its diagonal corners agree and its neighbours differ.
bool FaceAmbiguous(int mask, int f) {
  const auto c = FaceCorners(f);
  auto in = [mask](int k) { return (mask >> k) & 1; };
  return in(c[0]) == in(c[3]) && in(c[1]) == in(c[2]) && in(c[0]) != in(c[1]);
}

[[noreturn]] void TableBug(const char* what, int mask) {
  std::fprintf(stderr, "marching cubes table generation: %s (case %d)\n", what, mask);
  std::abort();
}

// The triangulation of one cube for one case and set of face decisions.
struct CubeTriangles {
  std::vector<std::array<uint8_t, 3>> tris;   // Counter-clockwise seen from outside.
  std::vector<std::vector<uint8_t>> centers;  // Loop of edges around each centre vertex.
};

// Triangulates a closed loop of cube edges, keeping its orientation.
//
// A diagonal between two vertices on one cube face could also be used by the cube on
// the other side of that face, putting the edge in four triangles. So diagonals on the
// cube's -x, -y and -z faces are never used, while those on its +x, +y and +z faces
// are allowed (the neighbour across such a face sees it as its -x, -y or -z face and so
// never uses that pair). Among the remaining triangulations the one with the shortest
// diagonals wins. The few loops where every triangulation needs a forbidden diagonal get
// a centre vertex of their own and a fan around it.
void TriangulateLoop(const std::vector<int>& loop, int mask, CubeTriangles& out) {
  const int n = static_cast<int>(loop.size());
  if (n < 3) TableBug("loop shorter than 3", mask);
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  auto chord = [&](int i, int j) {
    if (j == i + 1 || (i == 0 && j == n - 1)) return 0.0;  // A side, not a diagonal.
    for (int f = 0; f < 6; f += 2) {
      if (EdgeOnFace(loop[i], f) && EdgeOnFace(loop[j], f)) return kInfinity;
    }
    const Vec d = Sub(EdgeMidpoint(loop[i]), EdgeMidpoint(loop[j]));
    return Dot(d, d);
  };
  // best[i][j]: cheapest triangulation of the sub-polygon i..j; split[i][j]: its apex.
  std::vector<std::vector<double>> best(n, std::vector<double>(n, 0));
  std::vector<std::vector<int>> split(n, std::vector<int>(n, -1));
  for (int len = 2; len < n; ++len) {
    for (int i = 0; i + len < n; ++i) {
      const int j = i + len;
      best[i][j] = kInfinity;
      for (int k = i + 1; k < j; ++k) {
        const double c = best[i][k] + best[k][j] + chord(i, k) + chord(k, j);
        if (c < best[i][j]) {
          best[i][j] = c;
          split[i][j] = k;
        }
      }
    }
  }
  if (best[0][n - 1] == kInfinity) {
    const auto center = static_cast<uint8_t>(kCenterCode + out.centers.size());
    out.centers.emplace_back(loop.begin(), loop.end());
    for (int i = 0; i < n; ++i) {
      out.tris.push_back({uint8_t(loop[i]), uint8_t(loop[(i + 1) % n]), center});
    }
    return;
  }
  std::vector<std::pair<int, int>> stack = {{0, n - 1}};
  while (!stack.empty()) {
    const auto [i, j] = stack.back();
    stack.pop_back();
    if (j - i < 2) continue;
    const int k = split[i][j];
    out.tris.push_back({uint8_t(loop[i]), uint8_t(loop[k]), uint8_t(loop[j])});
    stack.push_back({i, k});
    stack.push_back({k, j});
  }
}

// Triangles for corner mask `mask` (bit c: corner c inside) where bit f of `join` says
// whether the inside corners of ambiguous face f are connected.
CubeTriangles TriangulateCube(int mask, int join) {
  auto inside = [mask](int c) { return ((mask >> c) & 1) != 0; };
  auto crosses = [&](int e) {
    const auto [a, b] = EdgeCorners(e);
    return inside(a) != inside(b);
  };
  std::array<int, 12> next;
  next.fill(-1);
  std::array<int, 12> incoming{};
  for (int f = 0; f < 6; ++f) {
    std::vector<int> on;
    for (int e = 0; e < 12; ++e) {
      if (EdgeOnFace(e, f) && crosses(e)) on.push_back(e);
    }
    std::vector<std::pair<int, int>> segments;
    if (on.size() == 2) {
      segments.push_back({on[0], on[1]});
    } else if (on.size() == 4) {
      // Cut off the corners of the side that is not connected across the face.
      const bool join_inside = (join >> f) & 1;
      for (int k : FaceCorners(f)) {
        if (inside(k) == join_inside) continue;
        std::vector<int> at_k;
        for (int e : on) {
          const auto [a, b] = EdgeCorners(e);
          if (a == k || b == k) at_k.push_back(e);
        }
        if (at_k.size() != 2) TableBug("ambiguous face corner without two edges", mask);
        segments.push_back({at_k[0], at_k[1]});
      }
    } else if (!on.empty()) {
      TableBug("face with an odd number of crossings", mask);
    }
    const int axis = f / 2;
    Vec normal{0, 0, 0};
    normal[axis] = f % 2 ? 1 : -1;
    for (auto [e1, e2] : segments) {
      // Orient the segment so that, with the surface normal pointing from inside to
      // outside, the cube interior lies to the left of it (counter-clockwise seen from
      // outside). Reference: the corner the segment cuts off, else an inside corner.
      const auto c1 = EdgeCorners(e1), c2 = EdgeCorners(e2);
      int ref = -1;
      for (int a : c1) {
        if (a == c2[0] || a == c2[1]) ref = a;
      }
      if (ref < 0) ref = inside(c1[0]) ? c1[0] : c1[1];
      const Vec m1 = EdgeMidpoint(e1), m2 = EdgeMidpoint(e2);
      const Vec mid = {(m1[0] + m2[0]) / 2, (m1[1] + m2[1]) / 2, (m1[2] + m2[2]) / 2};
      const Vec up = inside(ref) ? Sub(mid, CornerPosition(ref)) : Sub(CornerPosition(ref), mid);
      const double side = Dot(Cross(up, Sub(m2, m1)), normal);
      if (side == 0) TableBug("degenerate face segment", mask);
      if (side > 0) std::swap(e1, e2);
      if (next[e1] != -1) TableBug("edge with two outgoing segments", mask);
      next[e1] = e2;
      ++incoming[e2];
    }
  }
  CubeTriangles out;
  std::array<bool, 12> used{};
  for (int e = 0; e < 12; ++e) {
    if (!crosses(e)) continue;
    if (next[e] < 0 || incoming[e] != 1) TableBug("segments do not form loops", mask);
    if (used[e]) continue;
    std::vector<int> loop;
    for (int x = e; !used[x]; x = next[x]) {
      used[x] = true;
      loop.push_back(x);
    }
    TriangulateLoop(loop, mask, out);
  }
  return out;
}

MarchingCubesTables* BuildTables() {
  auto* t = new MarchingCubesTables;
  t->tri_begin.push_back(0);
  t->center_begin.push_back(0);
  t->center_edge_begin.push_back(0);
  for (int mask = 0; mask < 256; ++mask) {
    std::vector<int> faces;
    for (int f = 0; f < 6; ++f) {
      if (FaceAmbiguous(mask, f)) {
        faces.push_back(f);
        t->ambiguous_faces[mask] |= uint8_t(1 << f);
      }
    }
    t->first_variant[mask] = static_cast<uint32_t>(t->tri_begin.size() - 1);
    for (int variant = 0; variant < (1 << faces.size()); ++variant) {
      int join = 0;
      for (size_t i = 0; i < faces.size(); ++i) {
        if ((variant >> i) & 1) join |= 1 << faces[i];
      }
      const CubeTriangles cube = TriangulateCube(mask, join);
      if (cube.centers.size() > size_t{kMaxCenters}) TableBug("too many centre vertices", mask);
      for (const auto& tri : cube.tris)
        t->tri_codes.insert(t->tri_codes.end(), tri.begin(), tri.end());
      for (const auto& loop : cube.centers) {
        t->center_edges.insert(t->center_edges.end(), loop.begin(), loop.end());
        t->center_edge_begin.push_back(static_cast<uint32_t>(t->center_edges.size()));
      }
      t->tri_begin.push_back(static_cast<uint32_t>(t->tri_codes.size() / 3));
      t->center_begin.push_back(static_cast<uint32_t>(t->center_edge_begin.size() - 1));
    }
  }
  return t;
}

}  // namespace

marching_cubes::TableView MarchingCubesTables::View() const {
  marching_cubes::TableView view;
  view.ambiguous_faces = ambiguous_faces.data();
  view.first_variant = first_variant.data();
  view.tri_begin = tri_begin.data();
  view.center_begin = center_begin.data();
  view.tri_codes = tri_codes.data();
  view.center_edge_begin = center_edge_begin.data();
  view.center_edges = center_edges.data();
  return view;
}

const MarchingCubesTables& GetMarchingCubesTables() {
  static const MarchingCubesTables* tables = BuildTables();
  return *tables;
}

}  // namespace kiln::tasks
