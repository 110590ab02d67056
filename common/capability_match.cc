#include "common/capability_match.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

std::string ArchitectureName(int compute_capability) {
  if (compute_capability <= 0) return "";
  return absl::StrCat("sm_", compute_capability);
}

std::string WhyCannotRun(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                         const kiln::v1::JobSpec& spec) {
  if (std::find(slot.tasks().begin(), slot.tasks().end(), spec.task()) == slot.tasks().end()) {
    return absl::StrCat("slot ", slot.index(), " does not run task ", spec.task());
  }
  if (!device.runnable()) {
    return absl::StrCat("device ", device.id(), " is not runnable: ", device.unrunnable_reason());
  }
  const kiln::v1::Requirements& req = spec.requirements();
  const bool is_gpu = device.compute_capability() > 0;
  if (req.accelerator() == kiln::v1::ACCELERATOR_GPU && !is_gpu) {
    return absl::StrCat("device ", device.id(), " is not a GPU");
  }
  if (req.accelerator() == kiln::v1::ACCELERATOR_CPU && is_gpu) {
    return absl::StrCat("device ", device.id(), " is not a CPU");
  }
  const int cc = device.compute_capability();
  if (req.min_compute_capability() > 0 && cc < req.min_compute_capability()) {
    return absl::StrCat("device ", device.id(), " has compute capability ", cc, ", below ",
                        req.min_compute_capability());
  }
  if (req.max_compute_capability() > 0 && cc > req.max_compute_capability()) {
    return absl::StrCat("device ", device.id(), " has compute capability ", cc, ", above ",
                        req.max_compute_capability());
  }
  if (!req.architectures().empty()) {
    const std::string arch = ArchitectureName(cc);
    if (std::find(req.architectures().begin(), req.architectures().end(), arch) ==
        req.architectures().end()) {
      return absl::StrCat("device ", device.id(), " is ", arch.empty() ? "a CPU" : arch,
                          ", not one of ", absl::StrJoin(req.architectures(), ","));
    }
  }
  if (req.min_device_memory_bytes() > 0 &&
      device.total_memory_bytes() < req.min_device_memory_bytes()) {
    return absl::StrCat("device ", device.id(), " has ", device.total_memory_bytes(),
                        " bytes of memory, below ", req.min_device_memory_bytes());
  }
  return "";
}

std::string RequirementClassKey(const kiln::v1::JobSpec& spec) {
  const kiln::v1::Requirements& req = spec.requirements();
  std::vector<std::string> archs(req.architectures().begin(), req.architectures().end());
  std::sort(archs.begin(), archs.end());
  return absl::StrCat(spec.task(), "|", spec.model(), "|", static_cast<int>(req.accelerator()), "|",
                      req.min_compute_capability(), "|", req.max_compute_capability(), "|",
                      absl::StrJoin(archs, ","), "|", req.min_device_memory_bytes());
}

}  // namespace kiln
