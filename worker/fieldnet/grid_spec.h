// The dense regular grid a field is decoded on, and its validation. Samples lie at
// origin + spacing * (i, j, k) for i in [0, cells[0]] (so cells + 1 samples per axis), stored
// x fastest: index = i + (cells[0] + 1) * (j + (cells[1] + 1) * k). This is the layout the
// CUDA marching cubes consumes. A plain aggregate so kernels take it by value.
#pragma once

#include <cstdint>

#include "worker/fieldnet/fieldnet_status.h"

namespace kiln::fieldnet {

struct GridSpec {
  float origin[3] = {0.0f, 0.0f, 0.0f};
  float spacing[3] = {1.0f, 1.0f, 1.0f};
  int64_t cells[3] = {0, 0, 0};  // cells per axis; samples per axis are cells + 1
};

// Bounds that keep a decode sane: a field of kMaxGridSamples floats is 256 GiB.
inline constexpr int64_t kMaxCellsPerAxis = 1 << 16;
inline constexpr int64_t kMaxGridSamples = int64_t{1} << 36;

// (cells[0]+1) * (cells[1]+1) * (cells[2]+1); only meaningful for a valid grid.
int64_t GridSampleCount(const GridSpec& grid);

// InvalidArgument naming the field (e.g. "grid.cells[1] = 0: must be in [1, 65536]").
Status ValidateGridSpec(const GridSpec& grid);

}  // namespace kiln::fieldnet
