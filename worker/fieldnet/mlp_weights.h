// The weights of a plain MLP field network: xyz -> Linear -> ReLU -> ... -> Linear, with one
// output (SDF or occupancy) or four (value + RGB colour). Owned by value; the decoder copies
// them to the device at Create. Also the raw file format the benchmark and the LibTorch
// task use to hand weights over (see WriteMlpWeightsFile).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/fieldnet/fieldnet_status.h"

namespace kiln::fieldnet {

inline constexpr int kMlpInputWidth = 3;
inline constexpr int kMaxHiddenWidth = 2048;

struct MlpWeights {
  // Layer widths, input first: {3, 256, 256, 256, 256, 1} is four hidden layers of 256.
  // widths[0] == 3; the last is 1 (value) or 4 (value, r, g, b); at least one hidden layer.
  std::vector<int> widths;
  // Per linear layer l (widths.size() - 1 of them): row-major [widths[l+1]][widths[l]],
  // i.e. torch.nn.Linear.weight as stored.
  std::vector<std::vector<float>> weights;
  // Per linear layer l: [widths[l+1]].
  std::vector<std::vector<float>> biases;

  int layer_count() const { return static_cast<int>(widths.size()) - 1; }
  int output_count() const { return widths.empty() ? 0 : widths.back(); }
};

// InvalidArgument naming the offending field: "weights[2] has 1000 values, expected
// 65536 ([256][256])", "biases[1][7] is not finite", ...
Status ValidateMlpWeights(const MlpWeights& mlp);

// Multiply-adds count as two: 2 * sum(widths[l] * widths[l+1]). 395,264 for the
// {3, 256 x4, 1} benchmark network.
int64_t MlpFlopsPerPoint(const std::vector<int>& widths);

// Raw little-endian file: "KILNMLP1" (8 bytes), uint32 number of widths, int32 widths[],
// then per layer float32 weight[out][in] followed by float32 bias[out]. Nothing else.
Status WriteMlpWeightsFile(const std::string& path, const MlpWeights& mlp);
// Reads and validates; errors name the file and what is wrong with it.
Status ReadMlpWeightsFile(const std::string& path, MlpWeights* mlp);

}  // namespace kiln::fieldnet
