// GPU test of a build whose kernels are sm_120 SASS only (no PTX): on any GPU that is
// not sm_12x the probe must report the device not runnable, with the reason a real
// launch gives, and a fake device of the same architecture must read the same.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "worker/device/device_probe.h"

namespace kiln::device {
namespace {

TEST(Sm120OnlyBuildTest, OtherGpusAreNotRunnableWithTheNoKernelImageReason) {
  ASSERT_EQ(BuiltCudaArchitectures(), "120-real");
  const ProbeReport report = ProbeDevices({});
  if (!report.error.empty()) {
    EXPECT_TRUE(report.devices.empty());
    GTEST_SKIP() << "no usable GPU here: " << report.error;
  }
  int checked = 0;
  for (const DeviceProbe& d : report.devices) {
    const std::string sm = SmName(d.compute_capability);
    if (ArchitectureCovered(d.compute_capability, {"sm_120"}, {}, nullptr)) {
      std::printf("device %d is %s: sm_120 SASS runs on it, nothing to check\n", d.ordinal,
                  sm.c_str());
      continue;
    }
    ++checked;
    EXPECT_FALSE(d.runnable);
    EXPECT_EQ(d.failure, ProbeFailure::kNoKernelImage);
    EXPECT_EQ(d.unrunnable_reason, "no kernel image for " + sm + ": built for sm_120");
    EXPECT_EQ(d.kernel_sass, std::vector<std::string>{"sm_120"});
    EXPECT_TRUE(d.kernel_ptx.empty());
    EXPECT_GT(d.total_memory_bytes, 0);
    std::printf("device %d: %s, %s, runnable=%s, reason \"%s\" (self-test %.2f ms)\n", d.ordinal,
                d.name.c_str(), sm.c_str(), d.runnable ? "true" : "false",
                d.unrunnable_reason.c_str(), d.self_test_ms);

    // The simulated path gives the same answer for the same architecture.
    unsetenv("CUDA_VISIBLE_DEVICES");
    const ProbeReport fake =
        ProbeDevices({.fake_devices = sm + ":" + std::to_string(d.total_memory_bytes) + "B"});
    ASSERT_EQ(fake.devices.size(), 1u) << fake.error;
    EXPECT_EQ(fake.devices[0].unrunnable_reason, d.unrunnable_reason);
  }
  if (checked == 0) GTEST_SKIP() << "every visible device is sm_12x; this test needs another GPU";
}

}  // namespace
}  // namespace kiln::device
