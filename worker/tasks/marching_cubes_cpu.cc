#include "worker/tasks/marching_cubes_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "worker/tasks/marching_cubes_cell.h"
#include "worker/tasks/marching_cubes_tables.h"

namespace kiln::tasks {
namespace {

namespace mc = marching_cubes;
using Vec = std::array<double, 3>;

Vec Sub(const Vec& a, const Vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec Cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// The grid's geometry as the shared cell functions take it (no samples attached).
mc::FieldView GeometryView(const GridSpec& grid) {
  mc::FieldView view;
  for (int a = 0; a < 3; ++a) {
    view.origin[a] = grid.origin[a];
    view.spacing[a] = grid.spacing[a];
    view.cells[a] = grid.cells[a];
  }
  view.row = uint64_t(grid.cells[0]) + 1;
  view.slice = view.row * (uint64_t(grid.cells[1]) + 1);
  return view;
}

}  // namespace

MarchingCubesStatus ExtractIsosurfaceOnCpu(const GridSpec& grid, const SliceSampler& sample,
                                           const MarchingCubesOptions& options, Mesh* mesh_out) {
  constexpr int64_t kMaxSliceSamples = int64_t{1} << 28;
  if (MarchingCubesStatus status = ValidateGrid(grid); !status.ok()) return status;
  const int nx = grid.cells[0], ny = grid.cells[1], nz = grid.cells[2];
  const int sx = nx + 1, sy = ny + 1;
  if (int64_t{sx} * sy > kMaxSliceSamples) {
    return MarchingCubesStatus::Error(
        MarchingCubesCode::kInvalidArgument,
        "grid: " + std::to_string(sx) + "x" + std::to_string(sy) + " slices too large");
  }
  const mc::TableView tables = GetMarchingCubesTables().View();
  const mc::FieldView geometry = GeometryView(grid);
  const float iso = static_cast<float>(options.iso);

  Mesh mesh;
  std::vector<uint32_t> missing_normals;
  auto add_vertex_at = [&](const double p[3]) -> uint32_t {
    const auto index = static_cast<uint32_t>(mesh.positions.size());
    mesh.positions.push_back({float(p[0]), float(p[1]), float(p[2])});
    if (options.gradient) {
      const Vec g = options.gradient({p[0], p[1], p[2]});
      float n[3];
      if (!mc::NormalFromGradient(g.data(), n)) missing_normals.push_back(index);
      mesh.normals.push_back({n[0], n[1], n[2]});
    }
    return index;
  };
  // The vertex on the grid edge from sample (i, j, k) along `axis`.
  auto add_vertex = [&](int i, int j, int k, int axis, float v0, float v1) -> uint32_t {
    double p[3];
    mc::EdgePoint(geometry, i, j, k, axis, mc::EdgeCrossingT(v0, v1), p);
    return add_vertex_at(p);
  };

  // Two slices of samples (relative to iso) and the vertex index of every crossing
  // edge in them and between them; entries of edges that do not cross are stale.
  std::vector<float> lo(size_t(sx) * sy), hi(size_t(sx) * sy);
  std::vector<uint32_t> x_lo(size_t(nx) * sy), x_hi(x_lo.size());
  std::vector<uint32_t> y_lo(size_t(sx) * ny), y_hi(y_lo.size());
  std::vector<uint32_t> z_mid(size_t(sx) * sy);

  auto load_slice = [&](int k, std::vector<float>& values, std::vector<uint32_t>& xs,
                        std::vector<uint32_t>& ys) -> MarchingCubesStatus {
    sample(k, std::span<float>(values));
    for (size_t s = 0; s < values.size(); ++s) {
      if (!std::isfinite(values[s])) {
        return NonFiniteSampleError(static_cast<long long>(s % sx), static_cast<long long>(s / sx),
                                    k, values[s]);
      }
    }
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
    return MarchingCubesStatus::Ok();
  };

  if (MarchingCubesStatus status = load_slice(0, lo, x_lo, y_lo); !status.ok()) return status;
  for (int k = 0; k < nz; ++k) {
    // A slab adds at most one vertex per edge of its top slice and its verticals, and
    // fewer than that in centre vertices.
    if (mesh.positions.size() + 6 * size_t(sx) * sy > std::numeric_limits<uint32_t>::max()) {
      return MarchingCubesStatus::Error(MarchingCubesCode::kResourceExhausted,
                                        "mesh has more than 2^32 vertices");
    }
    if (MarchingCubesStatus status = load_slice(k + 1, hi, x_hi, y_hi); !status.ok()) {
      return status;
    }
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
        const int mask = mc::CubeMask(v);
        if (mask == 0 || mask == 255) continue;
        const uint32_t var = mc::CubeVariant(tables, mask, v);
        auto edge_vertex = [&](int e) -> uint32_t {
          const int a = e & 1, b = (e >> 1) & 1;
          switch (mc::EdgeAxis(e)) {
            case 0:  // Along x; a: +y, b: +z.
              return (b ? x_hi : x_lo)[size_t(j + a) * nx + i];
            case 1:  // Along y; a: +x, b: +z.
              return (b ? y_hi : y_lo)[size_t(j) * sx + i + a];
            default:  // Along z; a: +x, b: +y.
              return z_mid[size_t(j + b) * sx + i + a];
          }
        };
        // Centre vertices (rare): the mean of their loop's vertices.
        uint32_t centers[mc::kMaxCenters];
        for (uint32_t c = tables.center_begin[var]; c < tables.center_begin[var + 1]; ++c) {
          double p[3] = {0, 0, 0};
          const uint32_t first = tables.center_edge_begin[c], end = tables.center_edge_begin[c + 1];
          for (uint32_t m = first; m < end; ++m) {
            const auto& q = mesh.positions[edge_vertex(tables.center_edges[m])];
            for (int a = 0; a < 3; ++a) p[a] += q[a];
          }
          for (double& x : p) x /= double(end - first);
          centers[c - tables.center_begin[var]] = add_vertex_at(p);
        }
        for (uint32_t t = tables.tri_begin[var]; t < tables.tri_begin[var + 1]; ++t) {
          std::array<uint32_t, 3> out;
          for (int c = 0; c < 3; ++c) {
            const uint8_t code = tables.tri_codes[3 * t + c];
            out[c] = code < mc::kCenterCode ? edge_vertex(code) : centers[code - mc::kCenterCode];
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
  FillMissingNormals(missing_normals, &mesh);
  *mesh_out = std::move(mesh);
  return MarchingCubesStatus::Ok();
}

void FillMissingNormals(std::span<const uint32_t> missing_normals, Mesh* mesh) {
  if (missing_normals.empty()) return;
  std::vector<bool> missing(mesh->positions.size(), false);
  for (uint32_t index : missing_normals) missing[index] = true;
  for (const auto& t : mesh->triangles) {
    Vec p[3];
    for (int c = 0; c < 3; ++c) {
      const auto& q = mesh->positions[t[c]];
      p[c] = {q[0], q[1], q[2]};
    }
    const Vec n = Cross(Sub(p[1], p[0]), Sub(p[2], p[0]));
    for (uint32_t index : t) {
      if (!missing[index]) continue;
      for (int a = 0; a < 3; ++a) mesh->normals[index][a] += float(n[a]);
    }
  }
  for (uint32_t index : missing_normals) {
    auto& n = mesh->normals[index];
    const float len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (len > 0) {
      for (float& c : n) c /= len;
    }
  }
}

void SetNormalsFromGradient(const GradientFunction& gradient, Mesh* mesh) {
  mesh->normals.assign(mesh->positions.size(), {0, 0, 0});
  std::vector<uint32_t> missing;
  for (size_t v = 0; v < mesh->positions.size(); ++v) {
    const auto& q = mesh->positions[v];
    const Vec g = gradient({q[0], q[1], q[2]});
    float n[3];
    if (!marching_cubes::NormalFromGradient(g.data(), n)) missing.push_back(uint32_t(v));
    mesh->normals[v] = {n[0], n[1], n[2]};
  }
  FillMissingNormals(missing, mesh);
}

GradientFunction SampledFieldGradient(const GridSpec& grid, std::span<const float> field) {
  mc::FieldView view = GeometryView(grid);
  view.values = field.data();
  return [view](const Vec& p) {
    double u[3];
    for (int a = 0; a < 3; ++a) u[a] = (p[a] - view.origin[a]) / view.spacing[a];
    Vec g;
    mc::InterpolatedGradient(view, u, g.data());
    return g;
  };
}

SliceSampler FieldSliceSampler(const GridSpec& grid, std::span<const float> field) {
  const size_t slice = (size_t(grid.cells[0]) + 1) * (size_t(grid.cells[1]) + 1);
  return [field, slice](int k, std::span<float> values) {
    const float* from = field.data() + size_t(k) * slice;
    std::copy(from, from + slice, values.begin());
  };
}

}  // namespace kiln::tasks
