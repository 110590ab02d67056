#include "models/model_tier.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/device_features.h"

namespace kiln::models {

std::string WhyDeviceMissesRequirements(const kiln::v1::Requirements& r,
                                        const kiln::v1::Device& device) {
  const int cc = device.compute_capability();
  const bool is_gpu = cc > 0;
  if (r.accelerator() == kiln::v1::ACCELERATOR_GPU && !is_gpu) return "needs a GPU";
  if (r.accelerator() == kiln::v1::ACCELERATOR_CPU && is_gpu) return "needs a CPU";
  // Compute-capability bounds and architectures speak of GPUs only.
  if (r.min_compute_capability() > 0 && cc < r.min_compute_capability()) {
    return absl::StrCat("needs compute capability >= ", r.min_compute_capability(), ", device has ",
                        cc);
  }
  if (r.max_compute_capability() > 0 && (!is_gpu || cc > r.max_compute_capability())) {
    return absl::StrCat("needs compute capability <= ", r.max_compute_capability(), ", device has ",
                        cc);
  }
  if (!r.architectures().empty()) {
    const std::string arch = is_gpu ? absl::StrCat("sm_", cc) : "cpu";
    if (std::find(r.architectures().begin(), r.architectures().end(), arch) ==
        r.architectures().end()) {
      return absl::StrCat("needs one of ", absl::StrJoin(r.architectures(), ", "), ", device is ",
                          arch);
    }
  }
  if (r.min_device_memory_bytes() > 0 &&
      device.total_memory_bytes() < r.min_device_memory_bytes()) {
    return absl::StrCat("needs ", r.min_device_memory_bytes(),
                        " bytes of device memory, device has ", device.total_memory_bytes());
  }
  const std::vector<std::string> features = FeaturesForComputeCapability(cc);
  for (const std::string& feature : r.features()) {
    if (std::find(features.begin(), features.end(), feature) == features.end()) {
      return absl::StrCat("needs feature ", feature);
    }
  }
  return "";
}

absl::StatusOr<ModelTierChoice> SelectModelTier(const kiln::v1::ModelManifest& manifest,
                                                const kiln::v1::Device& device) {
  if (manifest.tiers().empty()) return ModelTierChoice{};
  std::vector<std::string> reasons;
  for (int i = 0; i < manifest.tiers_size(); ++i) {
    const kiln::v1::ModelTier& tier = manifest.tiers(i);
    const std::string name = tier.name().empty() ? absl::StrCat("tier-", i) : tier.name();
    const std::string why = WhyDeviceMissesRequirements(tier.requirements(), device);
    if (why.empty()) {
      return ModelTierChoice{
          .index = i, .name = name, .dtype = tier.dtype().empty() ? "float32" : tier.dtype()};
    }
    reasons.push_back(absl::StrCat(name, ": ", why));
  }
  const std::string device_name =
      device.compute_capability() > 0 ? absl::StrCat("sm_", device.compute_capability()) : "cpu";
  return absl::FailedPreconditionError(
      absl::StrCat("model ", manifest.name(), "@", manifest.version(), " has no tier for device ",
                   device_name, " (", absl::StrJoin(reasons, "; "), ")"));
}

}  // namespace kiln::models
