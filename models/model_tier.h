// Model tiers: which of a manifest's tiers (ModelManifest.tiers, in order of
// preference) a device runs, and so in which dtype. The device is the executor's own
// kiln.v1.Device (compute_capability 0 for a CPU). Pure functions; any thread.
#ifndef KILN_MODELS_MODEL_TIER_H_
#define KILN_MODELS_MODEL_TIER_H_

#include <string>

#include "absl/status/statusor.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/model.pb.h"

namespace kiln::models {

struct ModelTierChoice {
  // Index into manifest.tiers; -1 when the manifest has no tiers (any device, float32).
  int index = -1;
  // The tier's name ("tier-<index>" when unnamed; "default" without tiers).
  std::string name = "default";
  // "bfloat16", "float16" or "float32".
  std::string dtype = "float32";
};

// Empty when `device` meets `requirements`; otherwise why not ("needs compute
// capability >= 80, device has 75").
std::string WhyDeviceMissesRequirements(const kiln::v1::Requirements& requirements,
                                        const kiln::v1::Device& device);

// The first tier of `manifest` that `device` meets. FailedPrecondition naming the model,
// the device and each tier's reason when none does.
absl::StatusOr<ModelTierChoice> SelectModelTier(const kiln::v1::ModelManifest& manifest,
                                                const kiln::v1::Device& device);

}  // namespace kiln::models

#endif  // KILN_MODELS_MODEL_TIER_H_
