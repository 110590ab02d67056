// GPU test of the real probe: every visible device is reported with what the CUDA
// runtime itself says, and our self-test kernel ran on it. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "worker/device/device_probe.h"

namespace kiln::device {
namespace {

TEST(GpuProbeTest, ReportsEachDeviceAsTheRuntimeSeesItAndRunsTheSelfTest) {
  const ProbeReport report = ProbeDevices({});
  if (!report.error.empty()) {
    EXPECT_TRUE(report.devices.empty());
    GTEST_SKIP() << "no usable GPU here: " << report.error;
  }
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  ASSERT_EQ(static_cast<int>(report.devices.size()), count);
  const char* expect_cc = std::getenv("KILN_DEVICE_EXPECT_CC");
  for (const DeviceProbe& d : report.devices) {
    cudaDeviceProp properties{};
    ASSERT_EQ(cudaGetDeviceProperties(&properties, d.ordinal), cudaSuccess);
    EXPECT_EQ(d.name, properties.name);
    EXPECT_EQ(d.compute_capability, properties.major * 10 + properties.minor);
    if (expect_cc != nullptr && *expect_cc != '\0') {
      EXPECT_EQ(d.compute_capability, std::atoi(expect_cc));
    }
    EXPECT_EQ(d.total_memory_bytes, static_cast<int64_t>(properties.totalGlobalMem));
    EXPECT_GT(d.total_memory_bytes, 0);
    EXPECT_GT(d.free_memory_bytes, 0);
    EXPECT_LE(d.free_memory_bytes, d.total_memory_bytes);
    EXPECT_TRUE(d.runnable) << d.unrunnable_reason;
    EXPECT_EQ(d.unrunnable_reason, "");
    EXPECT_EQ(d.failure, ProbeFailure::kNone);
    EXPECT_FALSE(d.simulated);
    EXPECT_GT(d.self_test_ms, 0);
    EXPECT_GT(d.driver_version, 0);
    EXPECT_EQ(d.runtime_version, CUDART_VERSION);
    std::string why;
    EXPECT_TRUE(ArchitectureCovered(d.compute_capability, d.kernel_sass, d.kernel_ptx, &why))
        << why;
    std::printf(
        "device %d: %s, %s, total %.1f GiB, free %.1f GiB, runnable, self-test %.2f ms, "
        "covered by %s; driver CUDA %s, runtime CUDA %s; kernels built for %s\n",
        d.ordinal, d.name.c_str(), SmName(d.compute_capability).c_str(),
        d.total_memory_bytes / 1073741824.0, d.free_memory_bytes / 1073741824.0, d.self_test_ms,
        why.c_str(), CudaVersionString(d.driver_version).c_str(),
        CudaVersionString(d.runtime_version).c_str(),
        std::string(BuiltCudaArchitectures()).c_str());
  }
  // A re-probe (as after a device-cannot-run failure) finds the module loaded.
  const ProbeReport again = ProbeDevices({});
  ASSERT_EQ(again.devices.size(), report.devices.size());
  for (const DeviceProbe& d : again.devices) {
    EXPECT_TRUE(d.runnable) << d.unrunnable_reason;
    std::printf("re-probe device %d: self-test %.2f ms\n", d.ordinal, d.self_test_ms);
  }
}

}  // namespace
}  // namespace kiln::device
