#include "common/capability_match.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln {
namespace {

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string CcName(int cc) { return absl::StrCat(cc / 10, ".", cc % 10); }

}  // namespace

std::string ArchitectureName(int compute_capability) {
  if (compute_capability <= 0) return "";
  return absl::StrCat("sm_", compute_capability);
}

bool ModelRefMatches(std::string_view ref, std::string_view key) {
  if (ref.size() > key.size() || key.substr(0, ref.size()) != ref) return false;
  // Exact, or "name" against "name@version".
  return ref.size() == key.size() ||
         (key[ref.size()] == '@' && ref.find('@') == std::string_view::npos);
}

int TierCount(const kiln::v1::JobSpec& spec) { return std::max(1, spec.tiers_size()); }

const kiln::v1::Requirements& TierRequirements(const kiln::v1::JobSpec& spec, int tier) {
  return spec.tiers().empty() ? spec.requirements() : spec.tiers(tier).requirements();
}

const std::string& TierModel(const kiln::v1::JobSpec& spec, int tier) {
  if (spec.tiers().empty() || spec.tiers(tier).model().empty()) return spec.model();
  return spec.tiers(tier).model();
}

std::string TierName(const kiln::v1::JobSpec& spec, int tier) {
  if (spec.tiers().empty()) return "default";
  if (!spec.tiers(tier).name().empty()) return spec.tiers(tier).name();
  return absl::StrCat("tier-", tier);
}

google::protobuf::Struct TierParameters(const kiln::v1::JobSpec& spec, int tier) {
  google::protobuf::Struct merged = spec.parameters();
  if (!spec.tiers().empty()) {
    for (const auto& [key, value] : spec.tiers(tier).parameters().fields()) {
      (*merged.mutable_fields())[key] = value;
    }
  }
  return merged;
}

namespace {

// The one feasibility check. Builds the reason only when `why` is given: placement
// asks millions of times and needs only the answer.
bool CheckFits(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
               const kiln::v1::JobSpec& spec, int tier, int64_t reserved_bytes, std::string* why) {
  const auto fail = [&](auto&&... parts) {
    if (why != nullptr) *why = absl::StrCat(parts...);
    return false;
  };
  if (std::find(slot.tasks().begin(), slot.tasks().end(), spec.task()) == slot.tasks().end()) {
    return fail("slot ", slot.index(), " does not run task ", spec.task());
  }
  if (const std::string& model = TierModel(spec, tier);
      !model.empty() && !AnyModelMatches(model, slot.models())) {
    return fail("slot ", slot.index(), " has no model ", model);
  }
  if (!device.runnable()) {
    return fail("device ", device.id(), " is not runnable: ", device.unrunnable_reason());
  }
  const kiln::v1::Requirements& req = TierRequirements(spec, tier);
  const bool is_gpu = device.compute_capability() > 0;
  if (req.accelerator() == kiln::v1::ACCELERATOR_GPU && !is_gpu) {
    return fail("device ", device.id(), " is not a GPU");
  }
  if (req.accelerator() == kiln::v1::ACCELERATOR_CPU && is_gpu) {
    return fail("device ", device.id(), " is not a CPU");
  }
  const int cc = device.compute_capability();
  if (req.min_compute_capability() > 0 && cc < req.min_compute_capability()) {
    if (!is_gpu) return fail("device ", device.id(), " is not a GPU");
    return fail("device ", device.id(), " has compute capability ", CcName(cc), ", below ",
                CcName(req.min_compute_capability()));
  }
  if (req.max_compute_capability() > 0 && cc > req.max_compute_capability()) {
    return fail("device ", device.id(), " has compute capability ", CcName(cc), ", above ",
                CcName(req.max_compute_capability()));
  }
  if (!req.architectures().empty()) {
    const std::string arch = ArchitectureName(cc);
    if (std::find(req.architectures().begin(), req.architectures().end(), arch) ==
        req.architectures().end()) {
      return fail("device ", device.id(), " is ", arch.empty() ? "a CPU" : arch, ", not ",
                  absl::StrJoin(req.architectures(), " or "));
    }
  }
  for (const std::string& feature : req.features()) {
    if (std::find(device.features().begin(), device.features().end(), feature) ==
        device.features().end()) {
      return fail("device ", device.id(), " has no ", feature);
    }
  }
  if (req.min_device_memory_bytes() > 0) {
    if (device.total_memory_bytes() < req.min_device_memory_bytes()) {
      return fail("device ", device.id(), " has ", GiB(device.total_memory_bytes()), ", below ",
                  GiB(req.min_device_memory_bytes()));
    }
    if (device.total_memory_bytes() - reserved_bytes < req.min_device_memory_bytes()) {
      return fail("device ", device.id(), " has ",
                  GiB(device.total_memory_bytes() - reserved_bytes),
                  " not reserved by running jobs, below ", GiB(req.min_device_memory_bytes()));
    }
  }
  return true;
}

}  // namespace

std::string WhyCannotRun(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                         const kiln::v1::JobSpec& spec, int tier, int64_t reserved_bytes) {
  std::string why;
  CheckFits(device, slot, spec, tier, reserved_bytes, &why);
  return why;
}

bool Fits(const kiln::v1::Device& device, const kiln::v1::Slot& slot, const kiln::v1::JobSpec& spec,
          int tier, int64_t reserved_bytes) {
  return CheckFits(device, slot, spec, tier, reserved_bytes, nullptr);
}

bool DeviceClassMayFit(int compute_capability, int64_t total_memory_bytes,
                       const std::vector<std::string>* sorted_features,
                       const kiln::v1::Requirements& req) {
  const int cc = compute_capability;
  if (req.accelerator() == kiln::v1::ACCELERATOR_GPU && cc <= 0) return false;
  if (req.accelerator() == kiln::v1::ACCELERATOR_CPU && cc > 0) return false;
  if (req.min_compute_capability() > 0 && cc < req.min_compute_capability()) return false;
  if (req.max_compute_capability() > 0 && cc > req.max_compute_capability()) return false;
  if (!req.architectures().empty() &&
      std::find(req.architectures().begin(), req.architectures().end(), ArchitectureName(cc)) ==
          req.architectures().end()) {
    return false;
  }
  if (sorted_features != nullptr) {
    for (const std::string& feature : req.features()) {
      if (!std::binary_search(sorted_features->begin(), sorted_features->end(), feature)) {
        return false;
      }
    }
  }
  return total_memory_bytes >= req.min_device_memory_bytes();
}

int FirstFittingTier(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                     const kiln::v1::JobSpec& spec, int64_t reserved_bytes) {
  for (int tier = 0; tier < TierCount(spec); ++tier) {
    if (Fits(device, slot, spec, tier, reserved_bytes)) return tier;
  }
  return -1;
}

int Specificity(const kiln::v1::Requirements& requirements) {
  int lowest = requirements.min_compute_capability();
  if (!requirements.architectures().empty()) {
    int lowest_arch = 0;
    for (const std::string& arch : requirements.architectures()) {
      int cc = 0;
      if (arch.size() > 3) cc = std::atoi(arch.c_str() + 3);
      lowest_arch = lowest_arch == 0 ? cc : std::min(lowest_arch, cc);
    }
    lowest = std::max(lowest, lowest_arch);
  }
  return lowest;
}

namespace {

void AppendRequirementsKey(const kiln::v1::Requirements& req, std::string* out) {
  std::vector<std::string> archs(req.architectures().begin(), req.architectures().end());
  std::sort(archs.begin(), archs.end());
  std::vector<std::string> features(req.features().begin(), req.features().end());
  std::sort(features.begin(), features.end());
  absl::StrAppend(out, "|", static_cast<int>(req.accelerator()), "|", req.min_compute_capability(),
                  "|", req.max_compute_capability(), "|", absl::StrJoin(archs, ","), "|",
                  absl::StrJoin(features, ","), "|", req.min_device_memory_bytes());
}

}  // namespace

std::string RequirementClassKey(const kiln::v1::JobSpec& spec) {
  std::string key = absl::StrCat(spec.task(), "|", spec.model());
  for (int tier = 0; tier < TierCount(spec); ++tier) {
    absl::StrAppend(&key, "#", TierModel(spec, tier));
    AppendRequirementsKey(TierRequirements(spec, tier), &key);
  }
  return key;
}

}  // namespace kiln
