#include "common/metric_labels.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

kiln::v1::Device Unrunnable(const std::string& reason) {
  kiln::v1::Device device;
  device.set_runnable(false);
  device.set_unrunnable_reason(reason);
  return device;
}

TEST(MetricLabelsTest, ArchitecturesAndCapabilities) {
  EXPECT_EQ(ArchLabel(0), "cpu");
  EXPECT_EQ(ArchLabel(90), "sm_90");
  EXPECT_EQ(ArchLabel(120), "sm_120");
  EXPECT_EQ(MinComputeCapabilityLabel(0), "none");
  EXPECT_EQ(MinComputeCapabilityLabel(86), "8.6");
  EXPECT_EQ(MinComputeCapabilityLabel(120), "12.0");
}

TEST(MetricLabelsTest, UnrunnableReasonsFallIntoAFewBuckets) {
  kiln::v1::Device ok;
  ok.set_runnable(true);
  EXPECT_EQ(UnrunnableReasonLabel(ok), "none");
  EXPECT_EQ(UnrunnableReasonLabel(Unrunnable("no kernel image for sm_90: built for sm_120")),
            "no_kernel_image");
  EXPECT_EQ(UnrunnableReasonLabel(Unrunnable("self-test kernel computed wrong results")),
            "self_test_failed");
  EXPECT_EQ(UnrunnableReasonLabel(Unrunnable("CUDA error: cudaMemGetInfo: out of memory")),
            "cuda_error");
  EXPECT_EQ(UnrunnableReasonLabel(Unrunnable("the slot's executor sees no CUDA device (x)")),
            "not_visible");
  // Free text from a worker never becomes a label value of its own.
  EXPECT_EQ(UnrunnableReasonLabel(Unrunnable("something new \"quoted\"\n")), "other");
}

TEST(MetricLabelsTest, MemoryBandsAndAccelerators) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(MemoryBandLabel(0), "none");
  EXPECT_EQ(MemoryBandLabel(kGiB), "lt8GiB");
  EXPECT_EQ(MemoryBandLabel(8 * kGiB), "8to16GiB");
  EXPECT_EQ(MemoryBandLabel(24 * kGiB), "24to48GiB");
  EXPECT_EQ(MemoryBandLabel(32 * kGiB), "24to48GiB");
  EXPECT_EQ(MemoryBandLabel(80 * kGiB), "80GiBplus");
  EXPECT_EQ(AcceleratorLabel(kiln::v1::ACCELERATOR_UNSPECIFIED), "any");
  EXPECT_EQ(AcceleratorLabel(kiln::v1::ACCELERATOR_GPU), "gpu");
  EXPECT_EQ(AcceleratorLabel(kiln::v1::ACCELERATOR_CPU), "cpu");
}

TEST(MetricLabelsTest, ExitReasons) {
  EXPECT_EQ(ExitReasonLabel(kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN), "device_cannot_run");
  EXPECT_EQ(ExitReasonLabel(kiln::v1::EXIT_REASON_SUCCEEDED), "succeeded");
  EXPECT_EQ(ExitReasonLabel(static_cast<kiln::v1::ExitReason>(999)), "unspecified");
}

}  // namespace
}  // namespace kiln
