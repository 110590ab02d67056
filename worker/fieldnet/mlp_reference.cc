#include "worker/fieldnet/mlp_reference.h"

#include <algorithm>

#include "worker/fieldnet/mlp_point_math.h"

namespace kiln::fieldnet {

std::vector<std::vector<double>> ReferenceActivations(const MlpWeights& mlp, double x, double y,
                                                      double z) {
  std::vector<std::vector<double>> activations;
  activations.push_back({x, y, z});
  for (int l = 0; l < mlp.layer_count(); ++l) {
    const int in = mlp.widths[l];
    const int out = mlp.widths[l + 1];
    const bool hidden = l + 1 < mlp.layer_count();
    const std::vector<double>& input = activations.back();
    std::vector<double> output(out);
    for (int o = 0; o < out; ++o) {
      double sum = mlp.biases[l][o];
      for (int i = 0; i < in; ++i) {
        sum += static_cast<double>(mlp.weights[l][static_cast<size_t>(o) * in + i]) * input[i];
      }
      output[o] = hidden ? std::max(sum, 0.0) : sum;
    }
    activations.push_back(std::move(output));
  }
  return activations;
}

std::vector<double> ReferenceOutputs(const MlpWeights& mlp, const GridSpec& grid,
                                     const std::vector<int64_t>& indices) {
  std::vector<double> outputs;
  outputs.reserve(indices.size() * mlp.output_count());
  for (int64_t index : indices) {
    const Point3 p = GridSamplePoint(grid, index);
    const auto activations = ReferenceActivations(mlp, p.x, p.y, p.z);
    outputs.insert(outputs.end(), activations.back().begin(), activations.back().end());
  }
  return outputs;
}

}  // namespace kiln::fieldnet
