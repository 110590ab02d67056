// The CUDA marching cubes' passes, run on the host (marching_cubes_emulation.h), make
// the same mesh as the CPU path: same vertices bit for bit, same triangles up to order
// and rotation, same normals when the CPU path is given the sampled field's gradient.
// Runs everywhere (no GPU needed).
#include "worker/tasks/cuda/marching_cubes_emulation.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/cuda/marching_cubes_test_fields.h"
#include "worker/tasks/cuda/mesh_compare.h"
#include "worker/tasks/marching_cubes_cpu.h"

namespace kiln::tasks {
namespace {

using marching_cubes::FillTestFieldOnHost;
using marching_cubes::TestField;
using marching_cubes::TestFieldGrid;

Mesh CpuMesh(const std::vector<float>& field, const GridSpec& grid, double iso, bool normals) {
  MarchingCubesOptions options;
  options.iso = iso;
  if (normals) options.gradient = SampledFieldGradient(grid, field);
  Mesh mesh;
  const MarchingCubesStatus status =
      ExtractIsosurfaceOnCpu(grid, FieldSliceSampler(grid, field), options, &mesh);
  EXPECT_TRUE(status.ok()) << status.message;
  return mesh;
}

// Emulation == CPU: positions bit for bit; normals within float rounding (the CPU
// evaluates the gradient at the rounded-to-double position, the passes at i + t).
void ExpectSameMesh(const std::vector<float>& field, const GridSpec& grid, double iso,
                    const std::string& what, size_t min_triangles = 1) {
  const Mesh cpu = CpuMesh(field, grid, iso, /*normals=*/true);
  Mesh emulated;
  const MarchingCubesStatus status = EmulateCudaMarchingCubes(field, grid, iso, true, &emulated);
  ASSERT_TRUE(status.ok()) << what << ": " << status.message;
  EXPECT_GE(cpu.triangles.size(), min_triangles) << what;
  MeshCompareOptions compare;
  compare.position_tolerance = 0;
  compare.normal_tolerance = 2e-6f;
  const MeshComparison result = CompareMeshes(cpu, emulated, compare);
  EXPECT_TRUE(result.same) << what << ": " << result.difference;

  // Without normals the topology and positions are the same too, and there are none.
  Mesh bare;
  ASSERT_TRUE(EmulateCudaMarchingCubes(field, grid, iso, false, &bare).ok());
  EXPECT_TRUE(bare.normals.empty());
  compare.normal_tolerance = -1;
  EXPECT_TRUE(CompareMeshes(cpu, bare, compare).same) << what << " without normals";
}

void ExpectSameMesh(TestField field, const GridSpec& grid, uint32_t seed = 1, double iso = 0,
                    size_t min_triangles = 1) {
  std::vector<float> values;
  FillTestFieldOnHost(field, grid, seed, &values);
  ExpectSameMesh(values, grid, iso,
                 std::string(marching_cubes::TestFieldName(field)) + " " +
                     std::to_string(grid.cells[0]) + "x" + std::to_string(grid.cells[1]) + "x" +
                     std::to_string(grid.cells[2]) + " seed " + std::to_string(seed),
                 min_triangles);
}

TEST(MarchingCubesEmulationTest, Sphere) {
  ExpectSameMesh(TestField::kSphere, TestFieldGrid(40, 40, 40), 1, 0, 1000);
}

TEST(MarchingCubesEmulationTest, SphereAtAnotherIso) {
  ExpectSameMesh(TestField::kSphere, TestFieldGrid(33, 33, 33), 1, 0.125, 500);
}

TEST(MarchingCubesEmulationTest, Torus) {
  ExpectSameMesh(TestField::kTorus, TestFieldGrid(48, 40, 24), 1, 0, 1000);
}

TEST(MarchingCubesEmulationTest, Gyroid) {
  ExpectSameMesh(TestField::kGyroid, TestFieldGrid(56, 56, 56), 1, 0, 10000);
}

// Uniform random samples: about half of all faces are ambiguous, so every asymptotic
// decision and many centre vertices are exercised, across block boundaries in x and y.
TEST(MarchingCubesEmulationTest, RandomFieldsWithAmbiguousFaces) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    ExpectSameMesh(TestField::kRandom, TestFieldGrid(17, 5, 9), seed);
    ExpectSameMesh(TestField::kRandom, TestFieldGrid(40, 11, 3), seed);
    if (HasFailure()) return;
  }
  ExpectSameMesh(TestField::kRandom, TestFieldGrid(70, 20, 6), 99, 0.25);
}

TEST(MarchingCubesEmulationTest, RandomFieldsHaveAmbiguousFacesAndCentres) {
  std::vector<float> values;
  const GridSpec grid = TestFieldGrid(24, 24, 24);
  FillTestFieldOnHost(TestField::kRandom, grid, 7, &values);
  Mesh mesh;
  ASSERT_TRUE(EmulateCudaMarchingCubes(values, grid, 0, false, &mesh).ok());
  // Centre vertices are the only ones off the grid lines: two coordinates not on it.
  int centres = 0;
  for (const auto& p : mesh.positions) {
    int off = 0;
    for (int a = 0; a < 3; ++a) {
      const double u = (p[a] - grid.origin[a]) / grid.spacing[a];
      if (std::abs(u - std::round(u)) > 1e-3) ++off;
    }
    if (off >= 2) ++centres;
  }
  EXPECT_GT(centres, 0) << "the random field should need loop centre vertices";
}

// Odd sizes: partial blocks on x and y, a single slab, a single cube.
TEST(MarchingCubesEmulationTest, GridsThatAreNotCubes) {
  ExpectSameMesh(TestField::kSphere, TestFieldGrid(17, 5, 9));
  ExpectSameMesh(TestField::kSphere, TestFieldGrid(3, 40, 31));
  ExpectSameMesh(TestField::kTorus, TestFieldGrid(65, 9, 1));
  ExpectSameMesh(TestField::kGyroid, TestFieldGrid(33, 1, 40));
  // Has samples exactly at iso: distinct vertices (t = 0 and t = 1 on different edges)
  // share a position (the first H200 run's failure).
  ExpectSameMesh(TestField::kGyroid, TestFieldGrid(257, 129, 65));
}

// Two distinct vertices at one position (as a sample exactly at iso makes): the comparison
// pairs them by their triangles, whatever the vertex order, and still sees a triangle
// that uses the wrong one.
TEST(MarchingCubesEmulationTest, MeshCompareVerticesThatSharePositions) {
  Mesh expected;
  expected.positions = {{0, 0, 0}, {0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  expected.triangles = {{0, 2, 3}, {1, 3, 4}};
  Mesh reordered;  // Vertices 0 and 1 swapped, the rest rotated: the same mesh.
  reordered.positions = {{0, 0, 0}, {0, 0, 0}, {0, 0, 1}, {1, 0, 0}, {0, 1, 0}};
  reordered.triangles = {{1, 3, 4}, {4, 2, 0}};
  EXPECT_TRUE(CompareMeshes(expected, reordered, {}).same)
      << CompareMeshes(expected, reordered, {}).difference;
  Mesh rewired = expected;  // Both triangles on vertex 0; vertex 1 unused.
  rewired.triangles = {{0, 2, 3}, {0, 3, 4}};
  const MeshComparison result = CompareMeshes(expected, rewired, {});
  EXPECT_FALSE(result.same);
  EXPECT_NE(result.difference.find("different triangles around them"), std::string::npos)
      << result.difference;
}

// One cube whose 9-edge loop needs a centre vertex (see marching_cubes_test.cc).
TEST(MarchingCubesEmulationTest, CubeWithCentreVertex) {
  GridSpec one;
  one.cells = {1, 1, 1};
  const std::vector<float> cube = {0.1f, -1, -1, 20, -1, 1, 1, 1};
  ExpectSameMesh(cube, one, 0, "centre cube");
  Mesh mesh;
  ASSERT_TRUE(EmulateCudaMarchingCubes(cube, one, 0, false, &mesh).ok());
  EXPECT_EQ(mesh.positions.size(), 10u);
  EXPECT_EQ(mesh.triangles.size(), 9u);
}

// Where the interpolated gradient vanishes, both paths fall back to the area-weighted
// normal of the triangles around the vertex. Along x the samples are -1, 1, -5: on the
// first edge (t = 1/2) the one-sided and central differences cancel exactly.
TEST(MarchingCubesEmulationTest, VanishingGradientUsesFaceNormals) {
  GridSpec grid;
  grid.cells = {2, 2, 2};
  std::vector<float> field;
  for (int k = 0; k <= 2; ++k) {
    for (int j = 0; j <= 2; ++j) {
      for (float v : {-1.0f, 1.0f, -5.0f}) field.push_back(v);
    }
  }
  ExpectSameMesh(field, grid, 0, "vanishing gradient");
  Mesh mesh;
  ASSERT_TRUE(EmulateCudaMarchingCubes(field, grid, 0, true, &mesh).ok());
  int on_first_plane = 0;
  for (size_t v = 0; v < mesh.positions.size(); ++v) {
    if (mesh.positions[v][0] != 0.5f) continue;
    ++on_first_plane;
    // The surface there is the plane x = 0.5 with the inside at x < 0.5.
    EXPECT_NEAR(mesh.normals[v][0], 1.0f, 1e-6) << "vertex " << v;
    EXPECT_NEAR(mesh.normals[v][1], 0.0f, 1e-6);
    EXPECT_NEAR(mesh.normals[v][2], 0.0f, 1e-6);
  }
  EXPECT_EQ(on_first_plane, 9);
}

TEST(MarchingCubesEmulationTest, EmptyWhenTheSurfaceMissesTheGrid) {
  const GridSpec grid = TestFieldGrid(9, 10, 11);
  std::vector<float> field(marching_cubes::SampleCount(grid), 2.0f);
  Mesh mesh;
  ASSERT_TRUE(EmulateCudaMarchingCubes(field, grid, 0, true, &mesh).ok());
  EXPECT_TRUE(mesh.positions.empty());
  EXPECT_TRUE(mesh.triangles.empty());
}

TEST(MarchingCubesEmulationTest, NonFiniteSamplesAreInvalidArgumentOnBothPaths) {
  const GridSpec grid = TestFieldGrid(9, 10, 11);
  std::vector<float> field;
  FillTestFieldOnHost(TestField::kSphere, grid, 1, &field);
  const size_t row = 10, slice = 10 * 11;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> broken = field;
    broken[3 + row * 4 + slice * 5] = bad;
    broken[7 + row * 8 + slice * 9] = bad;  // Only the first one is named.
    Mesh mesh;
    const MarchingCubesStatus emulated = EmulateCudaMarchingCubes(broken, grid, 0, true, &mesh);
    EXPECT_EQ(emulated.code, MarchingCubesCode::kInvalidArgument);
    EXPECT_NE(emulated.message.find("field: sample (3, 4, 5) is "), std::string::npos)
        << emulated.message;
    MarchingCubesOptions options;
    const MarchingCubesStatus cpu =
        ExtractIsosurfaceOnCpu(grid, FieldSliceSampler(grid, broken), options, &mesh);
    EXPECT_EQ(cpu.code, MarchingCubesCode::kInvalidArgument);
    EXPECT_EQ(cpu.message, emulated.message);
  }
}

TEST(MarchingCubesEmulationTest, RejectsFieldsOfTheWrongSize) {
  const GridSpec grid = TestFieldGrid(4, 5, 6);
  std::vector<float> field(5 * 6 * 7 - 1, 1.0f);
  Mesh mesh;
  const MarchingCubesStatus status = EmulateCudaMarchingCubes(field, grid, 0, false, &mesh);
  EXPECT_EQ(status.code, MarchingCubesCode::kInvalidArgument);
  EXPECT_NE(status.message.find("field: 209 samples for a grid of 4x5x6 cells"), std::string::npos)
      << status.message;
}

TEST(MarchingCubesEmulationTest, RejectsGridsBeyondLaunchLimits) {
  GridSpec grid;
  grid.cells = {1, 1, 70000};
  EXPECT_EQ(marching_cubes::ValidateGridForCuda(grid).code, MarchingCubesCode::kInvalidArgument);
  grid.cells = {1, 0, 1};
  EXPECT_EQ(marching_cubes::ValidateGridForCuda(grid).code, MarchingCubesCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::tasks
