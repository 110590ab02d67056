#include "common/device_features.h"

namespace kiln {
namespace {

struct FeatureRow {
  const char* name;
  int min_compute_capability;
};

// From NVIDIA's CUDA C++ Programming Guide feature tables.
constexpr FeatureRow kFeatures[] = {
    {"fp16", 53},          // half-precision arithmetic
    {"tensor_cores", 70},  // mma instructions (Volta and later)
    {"int8", 72},          // int8 tensor-core mma
    {"bf16", 80},          // bfloat16 arithmetic and tensor cores (Ampere)
    {"tf32", 80},          // TensorFloat-32 tensor cores
    {"fp8", 89},           // e4m3/e5m2 tensor cores (Ada, Hopper)
    {"tma", 90},           // Tensor Memory Accelerator and thread-block clusters (Hopper)
    {"fp4", 100},          // e2m1 tensor cores (Blackwell)
};

}  // namespace

std::vector<std::string> FeaturesForComputeCapability(int compute_capability) {
  std::vector<std::string> features;
  if (compute_capability <= 0) return features;
  for (const FeatureRow& row : kFeatures) {
    if (compute_capability >= row.min_compute_capability) features.emplace_back(row.name);
  }
  return features;
}

bool IsKnownFeature(absl::string_view feature) {
  for (const FeatureRow& row : kFeatures) {
    if (feature == row.name) return true;
  }
  return false;
}

std::vector<std::string> KnownFeatures() {
  std::vector<std::string> names;
  for (const FeatureRow& row : kFeatures) names.emplace_back(row.name);
  return names;
}

}  // namespace kiln
