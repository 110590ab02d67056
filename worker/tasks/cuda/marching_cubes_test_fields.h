// Test and benchmark fields for marching cubes, computable on the host and on the device
// (__host__ __device__ under nvcc): a sphere, a torus, a gyroid and a random field whose
// uniform values in [-1, 1] make ambiguous faces everywhere. Fields are defined on the cube
// [-1, 1]^3 (TestFieldGrid), or on any grid for the random one.
//   - FillTestFieldOnHost: in marching_cubes_test_fields.cc (pure C++).
//   - FillTestFieldOnDevice: in marching_cubes_test_fields.cu (CUDA builds only).
// The same field computed on host and device may differ in the last bits of sin/cos (the
// gyroid); compare CPU and GPU meshes on one field, copied between them.
#ifndef KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_H_
#define KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/tasks/marching_cubes_cell.h"
#include "worker/tasks/marching_cubes_types.h"

namespace kiln::tasks::marching_cubes {

enum class TestField { kSphere, kTorus, kGyroid, kRandom };

// "sphere", "torus", "gyroid", "random".
inline const char* TestFieldName(TestField field) {
  switch (field) {
    case TestField::kSphere:
      return "sphere";
    case TestField::kTorus:
      return "torus";
    case TestField::kGyroid:
      return "gyroid";
    case TestField::kRandom:
      break;
  }
  return "random";
}

// cells[0] x cells[1] x cells[2] cubes covering [-1, 1] along the longest axis, with the
// same spacing along all three.
inline GridSpec TestFieldGrid(int nx, int ny, int nz) {
  GridSpec grid;
  grid.cells = {nx, ny, nz};
  const int longest = nx > ny ? (nx > nz ? nx : nz) : (ny > nz ? ny : nz);
  const double spacing = 2.0 / longest;
  for (int a = 0; a < 3; ++a) {
    grid.spacing[a] = spacing;
    grid.origin[a] = -spacing * grid.cells[a] / 2;
  }
  return grid;
}

// A well-mixed 32-bit hash of a sample index and a seed (splitmix64's finalizer).
KILN_MC_INLINE uint32_t HashSample(uint64_t s, uint32_t seed) {
  uint64_t z = s + 0x9E3779B97F4A7C15ull * (uint64_t(seed) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return uint32_t((z ^ (z >> 31)) >> 32);
}

// The field at sample (i, j, k) of `f` (only origin, spacing, row and slice are read).
KILN_MC_INLINE float TestFieldValue(TestField field, const FieldView& f, uint32_t seed, int i,
                                    int j, int k) {
  const double x = f.origin[0] + f.spacing[0] * i;
  const double y = f.origin[1] + f.spacing[1] * j;
  const double z = f.origin[2] + f.spacing[2] * k;
  switch (field) {
    case TestField::kSphere: {
      // Off the grid's symmetry so that no sample lies exactly on the surface.
      const double dx = x - 0.0123, dy = y + 0.0217, dz = z - 0.0071;
      return float(sqrt(dx * dx + dy * dy + dz * dz) - 0.71);
    }
    case TestField::kTorus: {
      const double dx = x - 0.013, dy = y + 0.007, dz = z - 0.021;
      const double ring = sqrt(dx * dx + dy * dy) - 0.6;
      return float(sqrt(ring * ring + dz * dz) - 0.25);
    }
    case TestField::kGyroid: {
      // Four periods across [-1, 1]: about 10 million triangles at 512^3, the load of
      // issue 4's reference figure for scikit-image.
      const double w = 3.14159265358979323846 * 4;
      const float fx = float(w * x) + 0.1f, fy = float(w * y) + 0.2f, fz = float(w * z) + 0.3f;
      return sinf(fx) * cosf(fy) + sinf(fy) * cosf(fz) + sinf(fz) * cosf(fx);
    }
    case TestField::kRandom:
      break;
  }
  const uint64_t s = uint64_t(i) + f.row * uint64_t(j) + f.slice * uint64_t(k);
  // Uniform in [-1, 1] on a 2^-23 lattice, never exactly 0.
  const float u = float(HashSample(s, seed) >> 8) * (2.0f / 16777216.0f) - 1.0f;
  return u == 0 ? 0.5f : u;
}

// Fills *values with the field on `grid` ((cells+1)^3 samples, x fastest).
void FillTestFieldOnHost(TestField field, const GridSpec& grid, uint32_t seed,
                         std::vector<float>* values);

}  // namespace kiln::tasks::marching_cubes

#endif  // KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_TEST_FIELDS_H_
