// Capability matching: can a worker's slot, on its device, run a job, and in
// which of the job's tiers? Pure functions shared by the scheduler's placement,
// its pending reasons and tests; the worker's advertisement
// (kiln.v1.WorkerCapabilities) is the only input besides the spec.
#ifndef KILN_COMMON_CAPABILITY_MATCH_H_
#define KILN_COMMON_CAPABILITY_MATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln {

// Most tiers a job may list.
inline constexpr int kMaxTiers = 8;

// "sm_90" for compute capability 90; empty for CPUs (0).
std::string ArchitectureName(int compute_capability);

// A job without tiers has one implicit tier: its own requirements and model.
int TierCount(const kiln::v1::JobSpec& spec);
const kiln::v1::Requirements& TierRequirements(const kiln::v1::JobSpec& spec, int tier);
// The tier's model, or the job's when the tier names none.
const std::string& TierModel(const kiln::v1::JobSpec& spec, int tier);
// The tier's name: its own, "tier-<n>" when unnamed, "default" without tiers.
std::string TierName(const kiln::v1::JobSpec& spec, int tier);
// The job's parameters with the tier's top-level keys merged over them.
google::protobuf::Struct TierParameters(const kiln::v1::JobSpec& spec, int tier);

// Whether a job's model reference ("name" for any version, or "name@version") names
// the model with key "name@version".
bool ModelRefMatches(std::string_view ref, std::string_view key);
// Whether `ref` matches one of `keys` (a slot's models, or the models loaded in it).
template <typename Keys>
bool AnyModelMatches(std::string_view ref, const Keys& keys) {
  for (const auto& key : keys) {
    if (ModelRefMatches(ref, key)) return true;
  }
  return false;
}

// Empty when `slot` on `device` can run tier `tier` of `spec`, with
// `reserved_bytes` of the device's memory already held by running jobs;
// otherwise why not, for pending reasons (e.g. "device cpu is not a GPU").
std::string WhyCannotRun(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                         const kiln::v1::JobSpec& spec, int tier = 0, int64_t reserved_bytes = 0);

// WhyCannotRun(...).empty(), without building any message (placement's hot path).
bool Fits(const kiln::v1::Device& device, const kiln::v1::Slot& slot, const kiln::v1::JobSpec& spec,
          int tier = 0, int64_t reserved_bytes = 0);

// Whether a device of this compute capability (0 for a CPU), total memory and
// feature set (sorted; null: not known) could meet `requirements` at all: Fits'
// checks that look at nothing else. A necessary condition only (tasks, models,
// reservations are not looked at), so that placement can skip a whole run of such
// devices at once.
bool DeviceClassMayFit(int compute_capability, int64_t total_memory_bytes,
                       const std::vector<std::string>* sorted_features,
                       const kiln::v1::Requirements& requirements);

// The first tier of `spec` that `slot` on `device` can run, or -1.
int FirstFittingTier(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                     const kiln::v1::JobSpec& spec, int64_t reserved_bytes = 0);

// How specific a tier's requirements are: the lowest compute capability they
// admit (0 when any). Placement gives a capable device the most specific work
// first, so that generic work does not take scarce devices from work only they
// can run.
int Specificity(const kiln::v1::Requirements& requirements);

// A stable key of everything placement looks at (task, model and every tier's
// requirements): jobs with equal keys fit exactly the same slots, so the queue
// indexes by it.
std::string RequirementClassKey(const kiln::v1::JobSpec& spec);

}  // namespace kiln

#endif  // KILN_COMMON_CAPABILITY_MATCH_H_
