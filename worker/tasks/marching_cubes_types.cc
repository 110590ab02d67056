#include "worker/tasks/marching_cubes_types.h"

#include <cmath>

namespace kiln::tasks {

MarchingCubesStatus ValidateGrid(const GridSpec& grid) {
  static constexpr const char* kAxis[3] = {"x", "y", "z"};
  for (int a = 0; a < 3; ++a) {
    if (grid.cells[a] < 1) {
      return MarchingCubesStatus::Error(MarchingCubesCode::kInvalidArgument,
                                        std::string("grid: cells must be >= 1 (cells.") + kAxis[a] +
                                            " = " + std::to_string(grid.cells[a]) + ")");
    }
    if (!(grid.spacing[a] > 0) || !std::isfinite(grid.spacing[a]) ||
        !std::isfinite(grid.origin[a])) {
      return MarchingCubesStatus::Error(
          MarchingCubesCode::kInvalidArgument,
          std::string("grid: spacing must be finite and > 0 and origin finite (axis ") + kAxis[a] +
              ")");
    }
  }
  return MarchingCubesStatus::Ok();
}

MarchingCubesStatus NonFiniteSampleError(long long i, long long j, long long k, float value) {
  const char* what = std::isnan(value) ? "nan" : (value > 0 ? "+inf" : "-inf");
  return MarchingCubesStatus::Error(MarchingCubesCode::kInvalidArgument,
                                    "field: sample (" + std::to_string(i) + ", " +
                                        std::to_string(j) + ", " + std::to_string(k) + ") is " +
                                        what + "; marching cubes needs finite values");
}

}  // namespace kiln::tasks
