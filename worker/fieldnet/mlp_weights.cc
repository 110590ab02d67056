#include "worker/fieldnet/mlp_weights.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kiln::fieldnet {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'M', 'L', 'P', '1'};
// Far above any field network; keeps a corrupt header from asking for gigabytes.
constexpr uint32_t kMaxWidthCount = 64;

Status CheckFinite(const std::vector<float>& values, const std::string& name) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgumentError(name + "[" + std::to_string(i) + "] is not finite");
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateMlpWeights(const MlpWeights& mlp) {
  const auto& widths = mlp.widths;
  if (widths.size() < 3) {
    return InvalidArgumentError("widths has " + std::to_string(widths.size()) +
                                " entries: need input 3, at least one hidden layer and the "
                                "output (e.g. {3, 256, 1})");
  }
  if (widths.front() != kMlpInputWidth) {
    return InvalidArgumentError("widths[0] = " + std::to_string(widths.front()) +
                                ": the input must be 3 (x, y, z)");
  }
  if (widths.back() != 1 && widths.back() != 4) {
    return InvalidArgumentError("widths[" + std::to_string(widths.size() - 1) +
                                "] = " + std::to_string(widths.back()) +
                                ": the output must be 1 (value) or 4 (value + rgb)");
  }
  for (size_t l = 1; l + 1 < widths.size(); ++l) {
    if (widths[l] < 1 || widths[l] > kMaxHiddenWidth) {
      return InvalidArgumentError(
          "widths[" + std::to_string(l) + "] = " + std::to_string(widths[l]) +
          ": hidden widths must be in [1, " + std::to_string(kMaxHiddenWidth) + "]");
    }
  }
  const size_t layers = widths.size() - 1;
  if (mlp.weights.size() != layers) {
    return InvalidArgumentError("weights has " + std::to_string(mlp.weights.size()) +
                                " layers, widths imply " + std::to_string(layers));
  }
  if (mlp.biases.size() != layers) {
    return InvalidArgumentError("biases has " + std::to_string(mlp.biases.size()) +
                                " layers, widths imply " + std::to_string(layers));
  }
  for (size_t l = 0; l < layers; ++l) {
    const size_t in = widths[l];
    const size_t out = widths[l + 1];
    const std::string w_name = "weights[" + std::to_string(l) + "]";
    const std::string b_name = "biases[" + std::to_string(l) + "]";
    if (mlp.weights[l].size() != out * in) {
      return InvalidArgumentError(w_name + " has " + std::to_string(mlp.weights[l].size()) +
                                  " values, expected " + std::to_string(out * in) + " ([" +
                                  std::to_string(out) + "][" + std::to_string(in) + "])");
    }
    if (mlp.biases[l].size() != out) {
      return InvalidArgumentError(b_name + " has " + std::to_string(mlp.biases[l].size()) +
                                  " values, expected " + std::to_string(out));
    }
    KILN_FIELDNET_RETURN_IF_ERROR(CheckFinite(mlp.weights[l], w_name));
    KILN_FIELDNET_RETURN_IF_ERROR(CheckFinite(mlp.biases[l], b_name));
  }
  return OkStatus();
}

int64_t MlpFlopsPerPoint(const std::vector<int>& widths) {
  int64_t flops = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    flops += 2 * static_cast<int64_t>(widths[l]) * widths[l + 1];
  }
  return flops;
}

Status WriteMlpWeightsFile(const std::string& path, const MlpWeights& mlp) {
  KILN_FIELDNET_RETURN_IF_ERROR(ValidateMlpWeights(mlp));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return InvalidArgumentError(path + ": cannot open for writing");
  out.write(kMagic, sizeof(kMagic));
  const uint32_t count = static_cast<uint32_t>(mlp.widths.size());
  out.write(reinterpret_cast<const char*>(&count), sizeof(count));
  for (int width : mlp.widths) {
    const int32_t w = width;
    out.write(reinterpret_cast<const char*>(&w), sizeof(w));
  }
  for (int l = 0; l < mlp.layer_count(); ++l) {
    out.write(reinterpret_cast<const char*>(mlp.weights[l].data()),
              static_cast<std::streamsize>(mlp.weights[l].size() * sizeof(float)));
    out.write(reinterpret_cast<const char*>(mlp.biases[l].data()),
              static_cast<std::streamsize>(mlp.biases[l].size() * sizeof(float)));
  }
  out.close();
  if (!out) return Status(StatusCode::kInternal, path + ": write failed");
  return OkStatus();
}

Status ReadMlpWeightsFile(const std::string& path, MlpWeights* mlp) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(path + ": cannot open");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto take = [&](void* dst, size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  char magic[sizeof(kMagic)];
  if (!take(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return InvalidArgumentError(path + ": not a Kiln MLP weights file (no KILNMLP1 header)");
  }
  uint32_t count = 0;
  if (!take(&count, sizeof(count)) || count < 2 || count > kMaxWidthCount) {
    return InvalidArgumentError(path + ": width count " + std::to_string(count) +
                                " is not in [2, " + std::to_string(kMaxWidthCount) + "]");
  }
  MlpWeights result;
  for (uint32_t i = 0; i < count; ++i) {
    int32_t width = 0;
    if (!take(&width, sizeof(width))) return InvalidArgumentError(path + ": truncated widths");
    if (width < 1 || width > kMaxHiddenWidth) {
      return InvalidArgumentError(path + ": widths[" + std::to_string(i) +
                                  "] = " + std::to_string(width) + " is out of range");
    }
    result.widths.push_back(width);
  }
  for (int l = 0; l < result.layer_count(); ++l) {
    const size_t in_width = result.widths[l];
    const size_t out_width = result.widths[l + 1];
    result.weights.emplace_back(in_width * out_width);
    result.biases.emplace_back(out_width);
    if (!take(result.weights.back().data(), in_width * out_width * sizeof(float)) ||
        !take(result.biases.back().data(), out_width * sizeof(float))) {
      return InvalidArgumentError(path + ": truncated in layer " + std::to_string(l) + " (" +
                                  std::to_string(bytes.size()) + " bytes in the file)");
    }
  }
  if (pos != bytes.size()) {
    return InvalidArgumentError(path + ": " + std::to_string(bytes.size() - pos) +
                                " unexpected trailing bytes after the last layer");
  }
  Status valid = ValidateMlpWeights(result);
  if (!valid.ok()) return InvalidArgumentError(path + ": " + valid.message());
  *mlp = std::move(result);
  return OkStatus();
}

}  // namespace kiln::fieldnet
