// Per-point arithmetic shared by the CUDA kernels and their host tests: the grid sample
// position, the first layer (3 -> W, ReLU) and the fused output layer's dot products,
// written once as __host__ __device__ functions so the CPU tests check the exact
// operation order the GPU runs. Pure functions; any thread.
#pragma once

#include <math.h>  // ::fmaf and ::fmaxf, as device code names them

#include <cstdint>

#include "worker/fieldnet/grid_spec.h"

#if defined(__CUDACC__)
#define KILN_FIELDNET_HD __host__ __device__ __forceinline__
#else
#define KILN_FIELDNET_HD inline
#endif

namespace kiln::fieldnet {

// Activations are stored in groups of this many consecutive units: one 16-byte vector of
// bf16/fp16. Hidden widths are padded up to a multiple of it with zero units.
inline constexpr int kUnitGroup = 8;
// The output layer reduces across one warp.
inline constexpr int kOutputLanes = 32;
inline constexpr int kMaxOutputs = 4;

KILN_FIELDNET_HD int PaddedWidth(int width) {
  return (width + kUnitGroup - 1) / kUnitGroup * kUnitGroup;
}

struct Point3 {
  float x, y, z;
};

// Position of sample `index` (x fastest). Explicit fmaf: host and device round alike.
KILN_FIELDNET_HD Point3 GridSamplePoint(const GridSpec& grid, int64_t index) {
  const int64_t nx = grid.cells[0] + 1;
  const int64_t ny = grid.cells[1] + 1;
  const int64_t i = index % nx;
  const int64_t rest = index / nx;
  const int64_t j = rest % ny;
  const int64_t k = rest / ny;
  return {fmaf(grid.spacing[0], static_cast<float>(i), grid.origin[0]),
          fmaf(grid.spacing[1], static_cast<float>(j), grid.origin[1]),
          fmaf(grid.spacing[2], static_cast<float>(k), grid.origin[2])};
}

// One unit of the first layer: relu(w . p + b); w is that unit's row [3].
KILN_FIELDNET_HD float FirstLayerUnit(const float* w, float bias, Point3 p) {
  const float sum = fmaf(w[2], p.z, fmaf(w[1], p.y, fmaf(w[0], p.x, bias)));
  return fmaxf(sum, 0.0f);
}

// Adds one group of kUnitGroup products to a running dot product, in order.
KILN_FIELDNET_HD float AccumulateGroup(float acc, const float* h, const float* w) {
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int e = 0; e < kUnitGroup; ++e) acc = fmaf(h[e], w[e], acc);
  return acc;
}

// The output layer as one warp computes it, on the host: lane l accumulates groups
// l, l + 32, ... of the padded_width activations `h`, then the lanes are summed by the
// xor butterfly of __shfl_xor_sync (offsets 16, 8, 4, 2, 1), then the bias is added.
inline float OutputUnitLikeWarp(const float* h, const float* w, int padded_width, float bias) {
  float lane_sum[kOutputLanes];
  const int groups = padded_width / kUnitGroup;
  for (int lane = 0; lane < kOutputLanes; ++lane) {
    float acc = 0.0f;
    for (int g = lane; g < groups; g += kOutputLanes) {
      acc = AccumulateGroup(acc, h + g * kUnitGroup, w + g * kUnitGroup);
    }
    lane_sum[lane] = acc;
  }
  for (int offset = kOutputLanes / 2; offset > 0; offset /= 2) {
    float next[kOutputLanes];
    for (int lane = 0; lane < kOutputLanes; ++lane) {
      next[lane] = lane_sum[lane] + lane_sum[lane ^ offset];
    }
    for (int lane = 0; lane < kOutputLanes; ++lane) lane_sum[lane] = next[lane];
  }
  return lane_sum[0] + bias;
}

}  // namespace kiln::fieldnet
