// The one table of device features derived from a CUDA compute capability
// (major*10+minor): what a job may require in Requirements.features and what a
// worker advertises in Device.features. Pure; any thread.
#ifndef KILN_COMMON_DEVICE_FEATURES_H_
#define KILN_COMMON_DEVICE_FEATURES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kiln {

// Features of a GPU of this compute capability, in table order; empty for 0 (CPU).
std::vector<std::string> FeaturesForComputeCapability(int compute_capability);

// True when `feature` is a name the table knows.
bool IsKnownFeature(absl::string_view feature);

// All feature names, in table order.
std::vector<std::string> KnownFeatures();

}  // namespace kiln

#endif  // KILN_COMMON_DEVICE_FEATURES_H_
