// Test helpers shared by the CPU and GPU tests of worker/fieldnet: a random MLP with
// PyTorch's default nn.Linear initialisation (uniform in +-1/sqrt(fan_in)).
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "worker/fieldnet/mlp_weights.h"

namespace kiln::fieldnet {

inline MlpWeights RandomMlpForTest(const std::vector<int>& widths, unsigned seed) {
  std::mt19937 rng(seed);
  MlpWeights mlp;
  mlp.widths = widths;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(widths[l]));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    std::vector<float> w(static_cast<size_t>(widths[l]) * widths[l + 1]);
    std::vector<float> b(widths[l + 1]);
    for (float& v : w) v = uniform(rng);
    for (float& v : b) v = uniform(rng);
    mlp.weights.push_back(std::move(w));
    mlp.biases.push_back(std::move(b));
  }
  return mlp;
}

}  // namespace kiln::fieldnet
