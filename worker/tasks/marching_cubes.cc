#include "worker/tasks/marching_cubes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::tasks {
namespace {

// Cube corner c sits at (c & 1, (c >> 1) & 1, (c >> 2) & 1). Edge e runs along axis
// e / 4; bits 0 and 1 of e give its position on the other two axes (ascending). Face
// f is the side (f % 2) of axis f / 2.
using Vec = std::array<double, 3>;

std::array<int, 2> OtherAxes(int axis) {
  return axis == 0 ? std::array<int, 2>{1, 2}
                   : (axis == 1 ? std::array<int, 2>{0, 2} : std::array<int, 2>{0, 1});
}

std::array<int, 2> EdgeCorners(int e) {
  const int axis = e / 4;
  const auto [u, v] = OtherAxes(axis);
  const int a = ((e & 1) << u) | (((e >> 1) & 1) << v);
  return {a, a | (1 << axis)};
}

bool EdgeOnFace(int e, int f) {
  const int axis = f / 2;
  return e / 4 != axis && ((EdgeCorners(e)[0] >> axis) & 1) == f % 2;
}

// The face's corners at (s, t) = (0,0), (1,0), (0,1), (1,1) over its two other axes,
// ascending. Both cubes sharing a face see it in this same order.
std::array<int, 4> FaceCorners(int f) {
  const auto [u, v] = OtherAxes(f / 2);
  const int base = (f % 2) << (f / 2);
  return {base, base | (1 << u), base | (1 << v), base | (1 << u) | (1 << v)};
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

// The asymptotic decider: on an ambiguous face the bilinear interpolant has a saddle;
// when its value is inside, the two inside corners are connected across the face.
// Values are relative to iso and in FaceCorners order; products of floats are exact in
// double, so both cubes sharing the face decide identically.
bool JoinsInside(float a, float b, float c, float d) {
  const double num = double(a) * d - double(b) * c;
  const double den = double(a) + d - b - c;  // Nonzero on an ambiguous face.
  return num != 0 && ((num < 0) != (den < 0));
}

[[noreturn]] void TableBug(const char* what, int mask) {
  std::fprintf(stderr, "marching cubes table generation: %s (case %d)\n", what, mask);
  std::abort();
}

// Vertex codes in a table triangle: 0..11 are cube edges; kCenterCode + m is the m-th
// loop centre vertex of the cube (see CubeTriangles).
constexpr uint8_t kCenterCode = 12;
// At most 4 loops fit in a cube (the alternating case); checked when building tables.
constexpr size_t kMaxCenters = 4;

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

struct Tables {
  // Bit f set when face f is ambiguous for the case.
  std::array<uint8_t, 256> ambiguous_faces{};
  // Index of the case's first variant; a case with k ambiguous faces has 2^k variants,
  // bit i of the variant index being the decision for its i-th ambiguous face.
  std::array<uint32_t, 256> first_variant{};
  // Variant v: triangles tris[tri_begin[v] .. tri_begin[v + 1]) and centre vertices
  // centers[center_begin[v] .. center_begin[v + 1]).
  std::vector<uint32_t> tri_begin;
  std::vector<uint32_t> center_begin;
  std::vector<std::array<uint8_t, 3>> tris;
  std::vector<std::vector<uint8_t>> centers;
  std::array<std::array<int, 4>, 6> face_corners;
};

const Tables& GetTables() {
  static const Tables* tables = [] {
    auto* t = new Tables;
    for (int f = 0; f < 6; ++f) t->face_corners[f] = FaceCorners(f);
    t->tri_begin.push_back(0);
    t->center_begin.push_back(0);
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
        CubeTriangles cube = TriangulateCube(mask, join);
        if (cube.centers.size() > kMaxCenters) TableBug("too many centre vertices", mask);
        t->tris.insert(t->tris.end(), cube.tris.begin(), cube.tris.end());
        t->centers.insert(t->centers.end(), cube.centers.begin(), cube.centers.end());
        t->tri_begin.push_back(static_cast<uint32_t>(t->tris.size()));
        t->center_begin.push_back(static_cast<uint32_t>(t->centers.size()));
      }
    }
    return t;
  }();
  return *tables;
}

}  // namespace

absl::StatusOr<Mesh> ExtractIsosurface(const GridSpec& grid, const SliceSampler& sample,
                                       const MarchingCubesOptions& options) {
  constexpr int64_t kMaxSliceSamples = int64_t{1} << 28;
  for (int a = 0; a < 3; ++a) {
    if (grid.cells[a] < 1) return absl::InvalidArgumentError("grid: cells must be >= 1");
    if (!(grid.spacing[a] > 0) || !std::isfinite(grid.spacing[a]) ||
        !std::isfinite(grid.origin[a])) {
      return absl::InvalidArgumentError("grid: spacing must be finite and > 0");
    }
  }
  const int nx = grid.cells[0], ny = grid.cells[1], nz = grid.cells[2];
  const int sx = nx + 1, sy = ny + 1;
  if (int64_t{sx} * sy > kMaxSliceSamples) {
    return absl::InvalidArgumentError(absl::StrCat("grid: ", sx, "x", sy, " slices too large"));
  }
  const Tables& tables = GetTables();
  const float iso = static_cast<float>(options.iso);

  Mesh mesh;
  std::vector<uint32_t> missing_normals;
  auto add_vertex_at = [&](const std::array<double, 3>& p) -> uint32_t {
    const auto index = static_cast<uint32_t>(mesh.positions.size());
    mesh.positions.push_back({float(p[0]), float(p[1]), float(p[2])});
    if (options.gradient) {
      const auto g = options.gradient(p);
      const double len = std::sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
      if (len > 0 && std::isfinite(len)) {
        mesh.normals.push_back({float(g[0] / len), float(g[1] / len), float(g[2] / len)});
      } else {
        mesh.normals.push_back({0, 0, 0});
        missing_normals.push_back(index);
      }
    }
    return index;
  };
  // The vertex on the grid edge from sample (i, j, k) along `axis`.
  auto add_vertex = [&](int i, int j, int k, int axis, float v0, float v1) -> uint32_t {
    double t = v0 / (double(v0) - v1);
    if (!(t >= 0 && t <= 1)) t = 0.5;  // Only for NaN samples.
    std::array<double, 3> p = {grid.origin[0] + grid.spacing[0] * i,
                               grid.origin[1] + grid.spacing[1] * j,
                               grid.origin[2] + grid.spacing[2] * k};
    p[axis] += grid.spacing[axis] * t;
    return add_vertex_at(p);
  };

  // Two slices of samples (relative to iso) and the vertex index of every crossing
  // edge in them and between them; entries of edges that do not cross are stale.
  std::vector<float> lo(size_t(sx) * sy), hi(size_t(sx) * sy);
  std::vector<uint32_t> x_lo(size_t(nx) * sy), x_hi(x_lo.size());
  std::vector<uint32_t> y_lo(size_t(sx) * ny), y_hi(y_lo.size());
  std::vector<uint32_t> z_mid(size_t(sx) * sy);

  auto load_slice = [&](int k, std::vector<float>& values, std::vector<uint32_t>& xs,
                        std::vector<uint32_t>& ys) {
    sample(k, std::span<float>(values));
    if (iso != 0) {
      for (float& v : values) v -= iso;
    }
    for (int j = 0; j < sy; ++j) {
      const float* row = &values[size_t(j) * sx];
      for (int i = 0; i < nx; ++i) {
        if ((row[i] < 0) != (row[i + 1] < 0)) {
          xs[size_t(j) * nx + i] = add_vertex(i, j, k, 0, row[i], row[i + 1]);
        }
      }
    }
    for (int j = 0; j < ny; ++j) {
      const float* row = &values[size_t(j) * sx];
      const float* up = row + sx;
      for (int i = 0; i < sx; ++i) {
        if ((row[i] < 0) != (up[i] < 0)) {
          ys[size_t(j) * sx + i] = add_vertex(i, j, k, 1, row[i], up[i]);
        }
      }
    }
  };

  load_slice(0, lo, x_lo, y_lo);
  for (int k = 0; k < nz; ++k) {
    // A slab adds at most one vertex per edge of its top slice and its verticals, and
    // fewer than that in centre vertices.
    if (mesh.positions.size() + 6 * size_t(sx) * sy > std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError("mesh has more than 2^32 vertices");
    }
    load_slice(k + 1, hi, x_hi, y_hi);
    for (size_t s = 0; s < z_mid.size(); ++s) {
      if ((lo[s] < 0) != (hi[s] < 0)) {
        z_mid[s] = add_vertex(int(s % sx), int(s / sx), k, 2, lo[s], hi[s]);
      }
    }
    for (int j = 0; j < ny; ++j) {
      for (int i = 0; i < nx; ++i) {
        const size_t base = size_t(j) * sx + i;
        const float v[8] = {lo[base], lo[base + 1], lo[base + sx], lo[base + sx + 1],
                            hi[base], hi[base + 1], hi[base + sx], hi[base + sx + 1]};
        int mask = 0;
        for (int c = 0; c < 8; ++c) mask |= int(v[c] < 0) << c;
        if (mask == 0 || mask == 255) continue;
        uint32_t variant = 0;
        if (const int ambiguous = tables.ambiguous_faces[mask]; ambiguous != 0) {
          int bit = 0;
          for (int f = 0; f < 6; ++f) {
            if (!((ambiguous >> f) & 1)) continue;
            const auto& fc = tables.face_corners[f];
            if (JoinsInside(v[fc[0]], v[fc[1]], v[fc[2]], v[fc[3]])) variant |= 1u << bit;
            ++bit;
          }
        }
        auto edge_vertex = [&](int e) -> uint32_t {
          const int a = e & 1, b = (e >> 1) & 1;
          switch (e / 4) {
            case 0:  // Along x; a: +y, b: +z.
              return (b ? x_hi : x_lo)[size_t(j + a) * nx + i];
            case 1:  // Along y; a: +x, b: +z.
              return (b ? y_hi : y_lo)[size_t(j) * sx + i + a];
            default:  // Along z; a: +x, b: +y.
              return z_mid[size_t(j + b) * sx + i + a];
          }
        };
        const uint32_t var = tables.first_variant[mask] + variant;
        // Centre vertices (rare): the mean of their loop's vertices.
        uint32_t centers[kMaxCenters];
        for (uint32_t c = tables.center_begin[var]; c < tables.center_begin[var + 1]; ++c) {
          std::array<double, 3> p{0, 0, 0};
          for (uint8_t e : tables.centers[c]) {
            for (int a = 0; a < 3; ++a) p[a] += mesh.positions[edge_vertex(e)][a];
          }
          for (double& x : p) x /= double(tables.centers[c].size());
          centers[c - tables.center_begin[var]] = add_vertex_at(p);
        }
        for (uint32_t t = tables.tri_begin[var]; t < tables.tri_begin[var + 1]; ++t) {
          const auto& tri = tables.tris[t];
          std::array<uint32_t, 3> out;
          for (int c = 0; c < 3; ++c) {
            out[c] = tri[c] < kCenterCode ? edge_vertex(tri[c]) : centers[tri[c] - kCenterCode];
          }
          mesh.triangles.push_back(out);
        }
      }
    }
    std::swap(lo, hi);
    std::swap(x_lo, x_hi);
    std::swap(y_lo, y_hi);
    if (options.progress) options.progress(k + 1, nz);
  }

  // Where the gradient vanished (e.g. on a medial axis), use the area-weighted normal
  // of the triangles around the vertex instead.
  if (!missing_normals.empty()) {
    std::vector<bool> missing(mesh.positions.size(), false);
    for (uint32_t index : missing_normals) missing[index] = true;
    for (const auto& t : mesh.triangles) {
      Vec p[3];
      for (int c = 0; c < 3; ++c) {
        const auto& q = mesh.positions[t[c]];
        p[c] = {q[0], q[1], q[2]};
      }
      const Vec n = Cross(Sub(p[1], p[0]), Sub(p[2], p[0]));
      for (uint32_t index : t) {
        if (!missing[index]) continue;
        for (int a = 0; a < 3; ++a) mesh.normals[index][a] += float(n[a]);
      }
    }
    for (uint32_t index : missing_normals) {
      auto& n = mesh.normals[index];
      const float len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
      if (len > 0) {
        for (float& c : n) c /= len;
      }
    }
  }
  return mesh;
}

}  // namespace kiln::tasks
