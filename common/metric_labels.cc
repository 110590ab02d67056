#include "common/metric_labels.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kiln {

std::string ArchLabel(int compute_capability) {
  if (compute_capability <= 0) return "cpu";
  return absl::StrCat("sm_", compute_capability);
}

absl::string_view UnrunnableReasonLabel(const kiln::v1::Device& device) {
  if (device.runnable()) return "none";
  const absl::string_view reason = device.unrunnable_reason();
  if (absl::StartsWith(reason, "no kernel image")) return "no_kernel_image";
  if (absl::StrContains(reason, "self-test")) return "self_test_failed";
  if (absl::StartsWith(reason, "CUDA error")) return "cuda_error";
  if (absl::StrContains(reason, "sees no CUDA device") ||
      absl::StrContains(reason, "no longer sees")) {
    return "not_visible";
  }
  return "other";
}

absl::string_view AcceleratorLabel(kiln::v1::Accelerator accelerator) {
  switch (accelerator) {
    case kiln::v1::ACCELERATOR_GPU:
      return "gpu";
    case kiln::v1::ACCELERATOR_CPU:
      return "cpu";
    default:
      return "any";
  }
}

std::string MinComputeCapabilityLabel(int compute_capability) {
  if (compute_capability <= 0) return "none";
  return absl::StrCat(compute_capability / 10, ".", compute_capability % 10);
}

absl::string_view MemoryBandLabel(int64_t bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  if (bytes <= 0) return "none";
  if (bytes < 8 * kGiB) return "lt8GiB";
  if (bytes < 16 * kGiB) return "8to16GiB";
  if (bytes < 24 * kGiB) return "16to24GiB";
  if (bytes < 48 * kGiB) return "24to48GiB";
  if (bytes < 80 * kGiB) return "48to80GiB";
  return "80GiBplus";
}

std::string ExitReasonLabel(kiln::v1::ExitReason reason) {
  if (!kiln::v1::ExitReason_IsValid(reason)) return "unspecified";
  std::string name = kiln::v1::ExitReason_Name(reason);
  constexpr absl::string_view kPrefix = "EXIT_REASON_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

}  // namespace kiln
