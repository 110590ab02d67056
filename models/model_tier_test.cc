#include "models/model_tier.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using ::testing::HasSubstr;

// GPU cc >= 8.0 bf16, then any GPU fp16, then CPU fp32: the built-in models' tiers.
kiln::v1::ModelManifest ThreeTiers() {
  kiln::v1::ModelManifest m;
  m.set_name("m");
  m.set_version("1");
  auto* bf16 = m.add_tiers();
  bf16->set_name("ampere-bf16");
  bf16->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  bf16->mutable_requirements()->set_min_compute_capability(80);
  bf16->set_dtype("bfloat16");
  auto* fp16 = m.add_tiers();
  fp16->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  fp16->set_dtype("float16");
  auto* cpu = m.add_tiers();
  cpu->set_name("cpu-fp32");
  cpu->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_CPU);
  cpu->set_dtype("float32");
  return m;
}

kiln::v1::Device Gpu(int cc) {
  kiln::v1::Device d;
  d.set_compute_capability(cc);
  d.set_total_memory_bytes(int64_t{80} << 30);
  return d;
}

TEST(SelectModelTierTest, PicksTheFirstTierTheDeviceMeets) {
  const auto m = ThreeTiers();
  auto h100 = SelectModelTier(m, Gpu(90));
  ASSERT_TRUE(h100.ok()) << h100.status();
  EXPECT_EQ(h100->index, 0);
  EXPECT_EQ(h100->dtype, "bfloat16");
  auto t4 = SelectModelTier(m, Gpu(75));
  ASSERT_TRUE(t4.ok());
  EXPECT_EQ(t4->index, 1);
  EXPECT_EQ(t4->name, "tier-1");
  EXPECT_EQ(t4->dtype, "float16");
  auto cpu = SelectModelTier(m, kiln::v1::Device());
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->name, "cpu-fp32");
  EXPECT_EQ(cpu->dtype, "float32");
}

TEST(SelectModelTierTest, NoTiersMeansFloat32Anywhere) {
  auto choice = SelectModelTier(kiln::v1::ModelManifest(), Gpu(120));
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->index, -1);
  EXPECT_EQ(choice->dtype, "float32");
}

TEST(SelectModelTierTest, NoFittingTierSaysWhyPerTier) {
  auto m = ThreeTiers();
  m.mutable_tiers()->RemoveLast();  // GPU only now
  auto cpu = SelectModelTier(m, kiln::v1::Device());
  ASSERT_FALSE(cpu.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(cpu.status()));
  EXPECT_THAT(cpu.status().message(), HasSubstr("m@1 has no tier for device cpu"));
  EXPECT_THAT(cpu.status().message(), HasSubstr("ampere-bf16: needs a GPU"));
}

TEST(WhyDeviceMissesRequirementsTest, ChecksEachRequirement) {
  kiln::v1::Requirements r;
  r.add_architectures("sm_90");
  EXPECT_EQ(WhyDeviceMissesRequirements(r, Gpu(90)), "");
  EXPECT_THAT(WhyDeviceMissesRequirements(r, Gpu(120)), HasSubstr("device is sm_120"));
  r.Clear();
  r.set_max_compute_capability(89);
  EXPECT_THAT(WhyDeviceMissesRequirements(r, Gpu(90)), HasSubstr("<= 89"));
  r.Clear();
  r.set_min_device_memory_bytes(int64_t{100} << 30);
  EXPECT_THAT(WhyDeviceMissesRequirements(r, Gpu(90)), HasSubstr("bytes of device memory"));
  r.Clear();
  r.add_features("fp8");
  EXPECT_THAT(WhyDeviceMissesRequirements(r, Gpu(80)), HasSubstr("needs feature fp8"));
  EXPECT_EQ(WhyDeviceMissesRequirements(r, Gpu(90)), "");
}

}  // namespace
}  // namespace kiln::models
