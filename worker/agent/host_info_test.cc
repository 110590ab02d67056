#include "worker/agent/host_info.h"

#include "gtest/gtest.h"

namespace kiln::agent {
namespace {

TEST(HostInfoTest, CpuModelIsTheFirstModelName) {
  EXPECT_EQ(CpuModelFromCpuinfo("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                                "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz \n"
                                "processor\t: 1\nmodel name\t: Other\n"),
            "Intel(R) Xeon(R) CPU @ 2.20GHz");
  EXPECT_EQ(CpuModelFromCpuinfo("processor : 0\nBogoMIPS : 50.00\n"), "CPU");
}

TEST(HostInfoTest, ProbeCpuDeviceReportsMemory) {
  const kiln::v1::Device device = ProbeCpuDevice();
  EXPECT_EQ(device.id(), "cpu");
  EXPECT_FALSE(device.name().empty());
  EXPECT_EQ(device.compute_capability(), 0);
  EXPECT_GT(device.total_memory_bytes(), 0);
  EXPECT_GT(device.free_memory_bytes(), 0);
  EXPECT_LE(device.free_memory_bytes(), device.total_memory_bytes());
  EXPECT_TRUE(device.runnable());
}

}  // namespace
}  // namespace kiln::agent
