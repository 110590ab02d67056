#include "worker/fieldnet/grid_spec.h"

#include <cmath>
#include <string>

namespace kiln::fieldnet {

int64_t GridSampleCount(const GridSpec& grid) {
  return (grid.cells[0] + 1) * (grid.cells[1] + 1) * (grid.cells[2] + 1);
}

Status ValidateGridSpec(const GridSpec& grid) {
  for (int axis = 0; axis < 3; ++axis) {
    const std::string index = "[" + std::to_string(axis) + "]";
    if (grid.cells[axis] < 1 || grid.cells[axis] > kMaxCellsPerAxis) {
      return InvalidArgumentError("grid.cells" + index + " = " + std::to_string(grid.cells[axis]) +
                                  ": must be in [1, " + std::to_string(kMaxCellsPerAxis) + "]");
    }
    if (!std::isfinite(grid.origin[axis])) {
      return InvalidArgumentError("grid.origin" + index + " is not finite");
    }
    if (!std::isfinite(grid.spacing[axis]) || !(grid.spacing[axis] > 0.0f)) {
      return InvalidArgumentError("grid.spacing" + index + " = " +
                                  std::to_string(grid.spacing[axis]) + ": must be finite and > 0");
    }
  }
  // Each factor is at most 2^16 + 1, so the product fits in int64.
  const int64_t samples = GridSampleCount(grid);
  if (samples > kMaxGridSamples) {
    return InvalidArgumentError("grid has " + std::to_string(samples) + " samples: at most " +
                                std::to_string(kMaxGridSamples) + " are allowed");
  }
  return OkStatus();
}

}  // namespace kiln::fieldnet
