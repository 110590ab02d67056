#include "common/capability_match.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

struct Fixture {
  kiln::v1::Device device;
  kiln::v1::Slot slot;
  kiln::v1::JobSpec spec;
  Fixture(int cc, int64_t memory) {
    device.set_id(cc ? "cuda:0" : "cpu");
    device.set_compute_capability(cc);
    device.set_total_memory_bytes(memory);
    device.set_runnable(true);
    slot.set_device_id(device.id());
    slot.add_tasks("mesh.extract");
    spec.set_task("mesh.extract");
  }
};

TEST(CapabilityMatchTest, AcceleratorKinds) {
  Fixture cpu(0, 1 << 30), gpu(90, int64_t{80} << 30);
  EXPECT_EQ(WhyCannotRun(cpu.device, cpu.slot, cpu.spec), "");
  EXPECT_EQ(WhyCannotRun(gpu.device, gpu.slot, gpu.spec), "");
  cpu.spec.mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  EXPECT_EQ(WhyCannotRun(cpu.device, cpu.slot, cpu.spec), "device cpu is not a GPU");
  gpu.spec.mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_CPU);
  EXPECT_EQ(WhyCannotRun(gpu.device, gpu.slot, gpu.spec), "device cuda:0 is not a CPU");
}

TEST(CapabilityMatchTest, ComputeCapabilityArchitecturesAndMemory) {
  Fixture gpu(86, int64_t{24} << 30);
  gpu.spec.mutable_requirements()->set_min_compute_capability(90);
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("below 90"), std::string::npos);
  gpu.spec.mutable_requirements()->set_min_compute_capability(80);
  gpu.spec.mutable_requirements()->set_max_compute_capability(80);
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("above 80"), std::string::npos);
  gpu.spec.mutable_requirements()->set_max_compute_capability(0);
  gpu.spec.mutable_requirements()->add_architectures("sm_120");
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("sm_86, not one of sm_120"),
            std::string::npos);
  gpu.spec.mutable_requirements()->add_architectures("sm_86");
  EXPECT_EQ(WhyCannotRun(gpu.device, gpu.slot, gpu.spec), "");
  gpu.spec.mutable_requirements()->set_min_device_memory_bytes(int64_t{32} << 30);
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("memory"), std::string::npos);
}

TEST(CapabilityMatchTest, TaskAndRunnability) {
  Fixture gpu(90, int64_t{80} << 30);
  gpu.spec.set_task("debug.sleep");
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("does not run task"),
            std::string::npos);
  gpu.spec.set_task("mesh.extract");
  gpu.device.set_runnable(false);
  gpu.device.set_unrunnable_reason("no kernel image for sm_90");
  EXPECT_NE(WhyCannotRun(gpu.device, gpu.slot, gpu.spec).find("no kernel image"),
            std::string::npos);
}

TEST(CapabilityMatchTest, ClassKeyIgnoresParametersButNotRequirements) {
  kiln::v1::JobSpec a, b;
  a.set_task("mesh.extract");
  b.set_task("mesh.extract");
  (*b.mutable_parameters()->mutable_fields())["resolution"].set_number_value(64);
  b.set_priority(7);
  EXPECT_EQ(RequirementClassKey(a), RequirementClassKey(b));
  b.mutable_requirements()->set_min_compute_capability(80);
  EXPECT_NE(RequirementClassKey(a), RequirementClassKey(b));
  a.mutable_requirements()->add_architectures("sm_90");
  a.mutable_requirements()->add_architectures("sm_80");
  b = a;
  b.mutable_requirements()->clear_architectures();
  b.mutable_requirements()->add_architectures("sm_80");
  b.mutable_requirements()->add_architectures("sm_90");
  EXPECT_EQ(RequirementClassKey(a), RequirementClassKey(b));
  EXPECT_EQ(ArchitectureName(120), "sm_120");
  EXPECT_EQ(ArchitectureName(0), "");
}

}  // namespace
}  // namespace kiln
