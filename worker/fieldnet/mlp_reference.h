// The float64 host reference of an MLP field network: what every GPU path is checked
// against. Slow (a few M multiply-adds per point) and exact enough to judge fp32.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/fieldnet/grid_spec.h"
#include "worker/fieldnet/mlp_weights.h"

namespace kiln::fieldnet {

// Activations of every layer for one point: [0] is the input xyz, [l] the output of
// linear layer l-1 (after ReLU for hidden layers; the last one is the raw output).
std::vector<std::vector<double>> ReferenceActivations(const MlpWeights& mlp, double x, double y,
                                                      double z);

// Outputs of `mlp` (output_count() per sample, sample-major) at the grid samples `indices`,
// positions computed in float exactly as the kernels do (GridSamplePoint).
std::vector<double> ReferenceOutputs(const MlpWeights& mlp, const GridSpec& grid,
                                     const std::vector<int64_t>& indices);

}  // namespace kiln::fieldnet
