// Label values shared by the scheduler's and the workers' Prometheus metrics, so that
// both speak of devices, requirement classes and failures in the same few words. Every
// function maps onto a small fixed set (or, for architectures, one value per SM
// generation), which keeps the series' cardinality bounded whatever workers send.
// Pure functions; any thread.
#ifndef KILN_COMMON_METRIC_LABELS_H_
#define KILN_COMMON_METRIC_LABELS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln {

// "sm_90" for compute capability 90, "cpu" for 0 (a CPU device).
std::string ArchLabel(int compute_capability);
// Why a device is not runnable, as one of: none (it is runnable), no_kernel_image,
// self_test_failed, cuda_error, not_visible, other.
absl::string_view UnrunnableReasonLabel(const kiln::v1::Device& device);
// A job's accelerator requirement: any, gpu or cpu.
absl::string_view AcceleratorLabel(kiln::v1::Accelerator accelerator);
// A minimum compute capability: "none" for 0, else "8.0"-style.
std::string MinComputeCapabilityLabel(int compute_capability);
// A device memory requirement as a band: none, lt8GiB, 8to16GiB, 16to24GiB,
// 24to48GiB, 48to80GiB, 80GiBplus.
absl::string_view MemoryBandLabel(int64_t bytes);
// An attempt's end: succeeded, task_error, executor_crash, lease_expired, cancelled,
// timeout, worker_error, device_cannot_run (unspecified for none).
std::string ExitReasonLabel(kiln::v1::ExitReason reason);

}  // namespace kiln

#endif  // KILN_COMMON_METRIC_LABELS_H_
