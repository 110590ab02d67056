#include "common/device_features.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using Features = std::vector<std::string>;

TEST(DeviceFeaturesTest, TableByArchitecture) {
  EXPECT_EQ(FeaturesForComputeCapability(0), Features{});
  EXPECT_EQ(FeaturesForComputeCapability(75), (Features{"fp16", "tensor_cores", "int8"}));
  EXPECT_EQ(FeaturesForComputeCapability(86),
            (Features{"fp16", "tensor_cores", "int8", "bf16", "tf32"}));
  EXPECT_EQ(FeaturesForComputeCapability(89),
            (Features{"fp16", "tensor_cores", "int8", "bf16", "tf32", "fp8"}));
  EXPECT_EQ(FeaturesForComputeCapability(90),
            (Features{"fp16", "tensor_cores", "int8", "bf16", "tf32", "fp8", "tma"}));
  EXPECT_EQ(FeaturesForComputeCapability(120).back(), "fp4");
}

TEST(DeviceFeaturesTest, KnownNames) {
  EXPECT_TRUE(IsKnownFeature("bf16"));
  EXPECT_FALSE(IsKnownFeature("bfloat16"));
  EXPECT_EQ(KnownFeatures().size(), 8u);
}

}  // namespace
}  // namespace kiln
