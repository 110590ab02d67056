#include "worker/tasks/marching_cubes.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"

namespace kiln::tasks {
namespace {

using P = std::array<double, 3>;
using Field = std::function<double(const P&)>;

struct Extracted {
  Mesh mesh;
  MeshStats stats;
  double cell = 0;
};

// Samples `field` on cubes of edge (longest side of [lo, hi]) / resolution from lo.
Extracted Extract(const Field& field, const P& lo, const P& hi, int resolution, bool normals = true,
                  double iso = 0) {
  double longest = 0;
  for (int a = 0; a < 3; ++a) longest = std::max(longest, hi[a] - lo[a]);
  GridSpec grid;
  const double cell = longest / resolution;
  for (int a = 0; a < 3; ++a) {
    grid.origin[a] = lo[a];
    grid.spacing[a] = cell;
    grid.cells[a] = static_cast<int>(std::ceil((hi[a] - lo[a]) / cell - 1e-9));
  }
  const int sx = grid.cells[0] + 1;
  SliceSampler sample = [&](int k, std::span<float> values) {
    for (size_t s = 0; s < values.size(); ++s) {
      values[s] = float(
          field({lo[0] + cell * double(s % sx), lo[1] + cell * double(s / sx), lo[2] + cell * k}));
    }
  };
  MarchingCubesOptions options;
  options.iso = iso;
  if (normals) {
    options.gradient = [&](const P& p) {
      P g;
      for (int a = 0; a < 3; ++a) {
        P plus = p, minus = p;
        plus[a] += 1e-5;
        minus[a] -= 1e-5;
        g[a] = field(plus) - field(minus);
      }
      return g;
    };
  }
  auto mesh = ExtractIsosurface(grid, sample, options);
  EXPECT_TRUE(mesh.ok()) << mesh.status();
  Extracted out{*std::move(mesh), {}, cell};
  out.stats = ComputeMeshStats(out.mesh);
  return out;
}

double Length(const P& p) { return std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]); }
P Sub(const P& a, const P& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
P ToP(const std::array<float, 3>& f) { return {f[0], f[1], f[2]}; }
P Cross(const P& a, const P& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double Dot(const P& a, const P& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Off the grid's symmetry so that no sample lands exactly on the surface.
constexpr P kCenter = {0.0123, -0.0217, 0.0071};
constexpr double kRadius = 1;

double SphereField(const P& p) { return Length(Sub(p, kCenter)) - kRadius; }

Extracted Sphere(int resolution) {
  return Extract(SphereField, {-1.2, -1.2, -1.2}, {1.2, 1.2, 1.2}, resolution);
}

class SphereTest : public ::testing::TestWithParam<int> {};

TEST_P(SphereTest, ClosedAccurateAndOutward) {
  const Extracted e = Sphere(GetParam());
  const MeshStats& s = e.stats;
  EXPECT_TRUE(s.watertight);
  EXPECT_EQ(s.components, 1);
  EXPECT_EQ(s.euler_characteristic, 2);
  EXPECT_EQ(e.mesh.normals.size(), e.mesh.positions.size());

  // Along a grid edge of length h the sphere's distance is convex with second
  // derivative <= 1 / (r - h) near the surface, so the root of the linear interpolant
  // lies where the true distance is within h^2 / (8 (r - h)) of zero; the rest is float
  // rounding of samples and positions.
  const double h = e.cell;
  const double tolerance = h * h / (8 * (kRadius - h)) + 1e-6;
  double worst = 0;
  for (const auto& v : e.mesh.positions) worst = std::max(worst, std::abs(SphereField(ToP(v))));
  EXPECT_LE(worst, tolerance) << "cell " << h;

  // Positive volume means counter-clockwise winding seen from outside. The vertices are
  // inside the ball (the distance is convex along an edge, so the interpolated root is
  // at or inside the surface), hence so is the mesh. Triangles span at most a cube
  // diagonal, so they sag at most (sqrt(3) h)^2 / (8 r) below the sphere.
  const double volume = 4.0 / 3 * std::numbers::pi * kRadius * kRadius * kRadius;
  const double area = 4 * std::numbers::pi * kRadius * kRadius;
  EXPECT_LT(s.signed_volume, volume + area * 1e-6);
  EXPECT_GT(s.signed_volume, volume - area * 3 * h * h / (8 * kRadius));
  EXPECT_NEAR(s.signed_volume, volume, 0.03 * volume);

  for (size_t i = 0; i < e.mesh.positions.size(); ++i) {
    const P radial = Sub(ToP(e.mesh.positions[i]), kCenter);
    ASSERT_GT(Dot(ToP(e.mesh.normals[i]), radial) / Length(radial), 0.999) << "vertex " << i;
  }
  int inward = 0;
  for (const auto& t : e.mesh.triangles) {
    const P a = ToP(e.mesh.positions[t[0]]), b = ToP(e.mesh.positions[t[1]]),
            c = ToP(e.mesh.positions[t[2]]);
    const P centroid = {(a[0] + b[0] + c[0]) / 3, (a[1] + b[1] + c[1]) / 3,
                        (a[2] + b[2] + c[2]) / 3};
    if (Dot(Cross(Sub(b, a), Sub(c, a)), Sub(centroid, kCenter)) <= 0) ++inward;
  }
  EXPECT_EQ(inward, 0);
}

INSTANTIATE_TEST_SUITE_P(Resolutions, SphereTest, ::testing::Values(12, 32, 64, 100));

TEST(MarchingCubesTest, CountsGrowQuadratically) {
  const MeshStats s32 = Sphere(32).stats, s64 = Sphere(64).stats;
  const double faces = double(s64.faces) / s32.faces;
  const double vertices = double(s64.vertices) / s32.vertices;
  EXPECT_GT(faces, 3.6);
  EXPECT_LT(faces, 4.4);
  EXPECT_GT(vertices, 3.6);
  EXPECT_LT(vertices, 4.4);
  EXPECT_EQ(s32.faces, 2 * s32.vertices - 4);  // Euler 2 on a closed triangle mesh.
}

// The performance bar: a 256^3 sphere with normals in well under 2 s (RelWithDebInfo;
// this also guards against accidental quadratic behaviour).
TEST(MarchingCubesTest, HighResolutionSphere) {
  const absl::Time start = absl::Now();
  const Extracted e = Sphere(256);
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_TRUE(e.stats.watertight);
  EXPECT_EQ(e.stats.euler_characteristic, 2);
  EXPECT_GT(e.stats.faces, 300'000);
  ::testing::Test::RecordProperty("seconds", absl::StrCat(absl::ToDoubleSeconds(elapsed)));
  std::printf("sphere 256: %lld vertices, %lld faces in %s\n",
              static_cast<long long>(e.stats.vertices), static_cast<long long>(e.stats.faces),
              absl::FormatDuration(elapsed).c_str());
}

TEST(MarchingCubesTest, IsoSelectsTheLevelSet) {
  const Extracted e = Extract([](const P& p) { return Length(Sub(p, kCenter)); },
                              {-1.2, -1.2, -1.2}, {1.2, 1.2, 1.2}, 48, false, 0.8);
  EXPECT_TRUE(e.stats.watertight);
  EXPECT_TRUE(e.mesh.normals.empty());
  for (const auto& v : e.mesh.positions) {
    ASSERT_NEAR(Length(Sub(ToP(v), kCenter)), 0.8, 0.01);
  }
}

TEST(MarchingCubesTest, Torus) {
  const double major = 1, minor = 0.35;
  const Extracted e = Extract(
      [&](const P& p) {
        const double q = std::hypot(p[0] - 0.011, p[1] + 0.007) - major;
        return std::hypot(q, p[2] - 0.003) - minor;
      },
      {-1.5, -1.5, -0.5}, {1.5, 1.5, 0.5}, 64);
  EXPECT_TRUE(e.stats.watertight);
  EXPECT_EQ(e.stats.components, 1);
  EXPECT_EQ(e.stats.euler_characteristic, 0);
  const double volume = 2 * std::numbers::pi * std::numbers::pi * major * minor * minor;
  EXPECT_NEAR(e.stats.signed_volume, volume, 0.03 * volume);
}

TEST(MarchingCubesTest, BoxMinusSphere) {
  // The cube [-1,1]^3 with an eighth of a sphere of radius 0.8 bitten off a corner.
  const Extracted e = Extract(
      [](const P& p) {
        double outside = 0, inside = -1e9;
        for (int a = 0; a < 3; ++a) {
          const double q = std::abs(p[a]) - 1;
          outside += std::max(q, 0.0) * std::max(q, 0.0);
          inside = std::max(inside, q);
        }
        const double box = std::sqrt(outside) + std::min(inside, 0.0);
        const double sphere = Length(Sub(p, {1, 1, 1})) - 0.8;
        return std::max(box, -sphere);
      },
      {-1.13, -1.17, -1.11}, {1.19, 1.15, 1.14}, 64);
  EXPECT_TRUE(e.stats.watertight);
  EXPECT_EQ(e.stats.components, 1);
  EXPECT_EQ(e.stats.euler_characteristic, 2);
  const double volume = 8 - 4.0 / 3 * std::numbers::pi * 0.8 * 0.8 * 0.8 / 8;
  EXPECT_NEAR(e.stats.signed_volume, volume, 0.03 * volume);
}

TEST(MarchingCubesTest, DisjointSpheres) {
  const Extracted e = Extract(
      [](const P& p) {
        return std::min(Length(Sub(p, {-1, 0.01, 0})) - 0.6, Length(Sub(p, {1, 0, 0.02})) - 0.6);
      },
      {-1.8, -0.8, -0.8}, {1.8, 0.8, 0.8}, 72);
  EXPECT_TRUE(e.stats.watertight);
  EXPECT_EQ(e.stats.components, 2);
  EXPECT_EQ(e.stats.euler_characteristic, 4);
}

TEST(MarchingCubesTest, SurfaceLeavingTheGridIsOpen) {
  const Extracted e = Extract(SphereField, {-0.5, -0.5, -0.5}, {1.2, 1.2, 1.2}, 24);
  EXPECT_GT(e.stats.faces, 0);
  EXPECT_FALSE(e.stats.watertight);
}

// Runs marching cubes over explicit samples (n^3 of them, x fastest).
MeshStats ExtractSamples(int n, const std::vector<float>& values) {
  GridSpec grid;
  grid.cells = {n - 1, n - 1, n - 1};
  SliceSampler sample = [&](int k, std::span<float> out) {
    std::copy_n(values.begin() + size_t(k) * n * n, n * n, out.begin());
  };
  auto mesh = ExtractIsosurface(grid, sample, {});
  EXPECT_TRUE(mesh.ok()) << mesh.status();
  return ComputeMeshStats(*mesh);
}

// Sample magnitudes: either continuous or from {0, 0.5, 1}, which makes exact ties
// (vertices on corners, asymptotic-decider saddles at exactly iso) common.
float Magnitude(std::mt19937& rng, bool discrete, bool inside) {
  if (discrete) {
    const int level = std::uniform_int_distribution<int>(inside ? 1 : 0, 2)(rng);
    return inside ? -0.5f * level : 0.5f * level;
  }
  const float m = std::uniform_real_distribution<float>(0.01f, 1.0f)(rng);
  return inside ? -m : m;
}

void ExpectClosed(const MeshStats& s, const std::string& what) {
  EXPECT_TRUE(s.watertight) << what;
  EXPECT_EQ(s.euler_characteristic % 2, 0) << what;  // 2 - 2g per closed component.
  EXPECT_GT(s.signed_volume, 0) << what;
  EXPECT_GT(s.faces, 0) << what;
}

// Every corner sign case and, through random values, every ambiguous-face decision:
// one cube in a 3x3x3 block whose border is outside, so the surface must close.
TEST(MarchingCubesTest, EveryCubeCaseIsWatertight) {
  std::mt19937 rng(12345);
  for (int mask = 1; mask < 255; ++mask) {
    for (int seed = 0; seed < 24; ++seed) {
      const bool discrete = seed % 3 == 0;
      std::vector<float> values(64);
      for (int k = 0; k < 4; ++k) {
        for (int j = 0; j < 4; ++j) {
          for (int i = 0; i < 4; ++i) {
            bool inside = false;
            if (i >= 1 && i <= 2 && j >= 1 && j <= 2 && k >= 1 && k <= 2) {
              const int corner = (i - 1) | ((j - 1) << 1) | ((k - 1) << 2);
              inside = (mask >> corner) & 1;
            }
            values[(k * 4 + j) * 4 + i] = Magnitude(rng, discrete, inside);
          }
        }
      }
      ExpectClosed(ExtractSamples(4, values), absl::StrCat("case ", mask, " seed ", seed));
      if (HasFailure()) return;
    }
  }
}

// Corners 1, 2 and 4 inside, with the face decisions (separate on z=0, joined on x=0 and
// y=0) that make a 9-edge loop no triangulation of which avoids a diagonal on a -x, -y
// or -z face: the loop gets a centre vertex.
TEST(MarchingCubesTest, LoopWithCentreVertex) {
  const float cube[8] = {0.1f, -1, -1, 20, -1, 1, 1, 1};
  GridSpec one;
  one.cells = {1, 1, 1};
  auto mesh = ExtractIsosurface(
      one, [&](int k, std::span<float> out) { std::copy_n(cube + 4 * k, 4, out.begin()); }, {});
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->positions.size(), 9u + 1u);  // 9 crossing edges and the centre.
  EXPECT_EQ(mesh->triangles.size(), 9u);       // A fan around the centre.

  std::vector<float> values(64, 1.0f);  // Padded with outside samples: must close.
  for (int c = 0; c < 8; ++c) {
    values[((1 + (c >> 2)) * 4 + 1 + ((c >> 1) & 1)) * 4 + 1 + (c & 1)] = cube[c];
  }
  ExpectClosed(ExtractSamples(4, values), "padded");
}

// Random signs on the interior of larger blocks: neighbouring cubes in every
// combination of cases, so shared faces are exercised from both sides.
TEST(MarchingCubesTest, RandomBlocksAreWatertight) {
  std::mt19937 rng(777);
  for (int n : {5, 7}) {
    for (int seed = 0; seed < 1500; ++seed) {
      const bool discrete = seed % 3 == 0;
      std::vector<float> values(n * n * n);
      bool any_inside = false;
      for (int k = 0; k < n; ++k) {
        for (int j = 0; j < n; ++j) {
          for (int i = 0; i < n; ++i) {
            const bool border =
                i == 0 || j == 0 || k == 0 || i == n - 1 || j == n - 1 || k == n - 1;
            const bool inside = !border && (rng() & 1);
            any_inside |= inside;
            values[(k * n + j) * n + i] = Magnitude(rng, discrete, inside);
          }
        }
      }
      if (!any_inside) continue;
      ExpectClosed(ExtractSamples(n, values), absl::StrCat("n ", n, " seed ", seed));
      if (HasFailure()) return;
    }
  }
}

TEST(MarchingCubesTest, ReportsProgressPerSlab) {
  GridSpec grid;
  grid.cells = {4, 5, 6};
  std::vector<int> slabs;
  MarchingCubesOptions options;
  options.progress = [&](int done, int total) {
    EXPECT_EQ(total, 6);
    slabs.push_back(done);
  };
  std::vector<int> slices;
  auto mesh = ExtractIsosurface(
      grid,
      [&](int k, std::span<float> values) {
        EXPECT_EQ(values.size(), 5u * 6u);
        slices.push_back(k);
        std::fill(values.begin(), values.end(), 1.0f);
      },
      options);
  ASSERT_TRUE(mesh.ok());
  EXPECT_TRUE(mesh->triangles.empty());
  EXPECT_EQ(slabs, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(slices, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(MarchingCubesTest, RejectsBadGrids) {
  auto sample = [](int, std::span<float>) {};
  GridSpec grid;
  grid.cells = {0, 1, 1};
  EXPECT_EQ(ExtractIsosurface(grid, sample, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  grid.cells = {1, 1, 1};
  grid.spacing = {1, -1, 1};
  EXPECT_EQ(ExtractIsosurface(grid, sample, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::tasks
