#include "worker/torch/plain_mlp.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::torchrt {
namespace {

constexpr int64_t kProbePoints = 512;

absl::Status NotPlain(absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("not a plain MLP field network: ", why));
}

// Probe points spread over the bounds (a fixed low-discrepancy sequence, so the verdict
// does not depend on a random seed).
torch::Tensor ProbePoints(const std::array<double, 6>& bounds) {
  std::vector<float> xyz(kProbePoints * 3);
  const double primes[3] = {2, 3, 5};
  for (int64_t i = 0; i < kProbePoints; ++i) {
    for (int a = 0; a < 3; ++a) {
      double f = 1, r = 0;  // Halton radical inverse of i + 1 in base primes[a].
      for (int64_t n = i + 1; n > 0; n /= static_cast<int64_t>(primes[a])) {
        f /= primes[a];
        r += f * static_cast<double>(n % static_cast<int64_t>(primes[a]));
      }
      xyz[i * 3 + a] = static_cast<float>(bounds[a] + r * (bounds[a + 3] - bounds[a]));
    }
  }
  return torch::from_blob(xyz.data(), {kProbePoints, 3}, torch::kFloat).clone();
}

std::vector<float> ToVector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// The weights read with one storage convention, or why the shapes do not chain.
absl::StatusOr<fieldnet::MlpWeights> ReadLayers(const std::vector<torch::Tensor>& params,
                                                bool out_in) {
  fieldnet::MlpWeights mlp;
  mlp.widths.push_back(fieldnet::kMlpInputWidth);
  for (size_t l = 0; l * 2 < params.size(); ++l) {
    const torch::Tensor& w = params[2 * l];
    const torch::Tensor& b = params[2 * l + 1];
    if (w.dim() != 2 || b.dim() != 1) {
      return NotPlain(absl::StrCat("parameter pair ", l, " is not a matrix and a vector"));
    }
    const int64_t out = out_in ? w.size(0) : w.size(1);
    const int64_t in = out_in ? w.size(1) : w.size(0);
    if (in != mlp.widths.back() || b.size(0) != out) {
      return NotPlain(absl::StrCat("layer ", l, " does not chain (", in, " inputs after ",
                                   mlp.widths.back(), " outputs)"));
    }
    mlp.widths.push_back(static_cast<int>(out));
    mlp.weights.push_back(ToVector(out_in ? w : w.t()));
    mlp.biases.push_back(ToVector(b));
  }
  if (mlp.output_count() != 1 && mlp.output_count() != 4) {
    return NotPlain(absl::StrCat("it ends in ", mlp.output_count(), " outputs, not 1 or 4"));
  }
  if (fieldnet::Status s = fieldnet::ValidateMlpWeights(mlp); !s.ok()) {
    return NotPlain(s.message());
  }
  return mlp;
}

// Linear -> ReLU -> ... -> Linear in float64.
torch::Tensor RunLayers(const fieldnet::MlpWeights& mlp, const torch::Tensor& points) {
  torch::Tensor x = points.to(torch::kDouble);
  for (int l = 0; l < mlp.layer_count(); ++l) {
    const torch::Tensor w = torch::from_blob(const_cast<float*>(mlp.weights[l].data()),
                                             {mlp.widths[l + 1], mlp.widths[l]}, torch::kFloat)
                                .to(torch::kDouble);
    const torch::Tensor b = torch::from_blob(const_cast<float*>(mlp.biases[l].data()),
                                             {mlp.widths[l + 1]}, torch::kFloat)
                                .to(torch::kDouble);
    x = torch::addmm(b, x, w.t());
    if (l + 1 < mlp.layer_count()) x = torch::relu(x);
  }
  return x;
}

}  // namespace

absl::StatusOr<fieldnet::MlpWeights> ExtractPlainMlp(const torch::jit::Module& module,
                                                     const std::array<double, 6>& bounds) {
  try {
    torch::NoGradGuard no_grad;
    torch::jit::Module cpu = module.clone();
    cpu.to(torch::kCPU, torch::kFloat);
    std::vector<torch::Tensor> params;
    for (const auto& p : cpu.named_parameters(/*recurse=*/true)) {
      params.push_back(p.value.detach());
    }
    if (cpu.named_buffers(/*recurse=*/true).size() > 0) {
      return NotPlain("it has buffers");
    }
    if (params.size() < 4 || params.size() % 2 != 0) {
      return NotPlain("its parameters are not (weight, bias) pairs of two or more layers");
    }
    const torch::Tensor probe = ProbePoints(bounds);
    const torch::Tensor out = cpu.forward({probe}).toTensor().to(torch::kDouble);
    std::string last_reason;
    for (const bool out_in : {true, false}) {
      absl::StatusOr<fieldnet::MlpWeights> mlp = ReadLayers(params, out_in);
      if (!mlp.ok()) {
        // A convention whose shapes do not chain says less than one that ran and differed.
        if (last_reason.empty()) last_reason = std::string(mlp.status().message());
        continue;
      }
      const torch::Tensor expected = RunLayers(*mlp, probe);
      if (out.numel() != expected.numel()) {
        last_reason = absl::StrCat("forward() gives ", out.numel(), " values for ", kProbePoints,
                                   " points, the layers ", expected.numel());
        continue;
      }
      const double scale = std::max(1.0, (expected.max() - expected.min()).item<double>());
      const double diff = (out.reshape(-1) - expected.reshape(-1)).abs().max().item<double>();
      if (diff <= 1e-4 * scale) return *std::move(mlp);
      last_reason = absl::StrFormat(
          "not a plain MLP field network: forward() differs from Linear/ReLU layers of its "
          "parameters by up to %.3g on probe points",
          diff);
    }
    return absl::FailedPreconditionError(last_reason);
  } catch (const c10::Error& e) {
    return NotPlain(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return NotPlain(e.what());
  }
}

}  // namespace kiln::torchrt
