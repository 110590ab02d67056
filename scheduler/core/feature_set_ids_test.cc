#include "scheduler/core/feature_set_ids.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln::core {
namespace {

kiln::v1::Device WithFeatures(const std::vector<std::string>& features) {
  kiln::v1::Device device;
  for (const std::string& f : features) device.add_features(f);
  return device;
}

TEST(FeatureSetIdsTest, EqualSetsShareAnIdWhateverTheOrder) {
  FeatureSetIds ids;
  const int a = ids.IdOf(WithFeatures({"fp16", "bf16", "tf32"}));
  const int b = ids.IdOf(WithFeatures({"tf32", "fp16", "bf16", "bf16"}));
  const int c = ids.IdOf(WithFeatures({"fp16"}));
  const int none = ids.IdOf(WithFeatures({}));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(c, none);
  EXPECT_EQ(ids.size(), 3u);
  ASSERT_NE(ids.Features(a), nullptr);
  EXPECT_EQ(*ids.Features(a), (std::vector<std::string>{"bf16", "fp16", "tf32"}));
  ASSERT_NE(ids.Features(none), nullptr);
  EXPECT_TRUE(ids.Features(none)->empty());
}

TEST(FeatureSetIdsTest, PastTheLimitSetsAreUnknownAndKnownOnesKeepTheirIds) {
  FeatureSetIds ids(/*max_sets=*/2);
  const int a = ids.IdOf(WithFeatures({"a"}));
  const int b = ids.IdOf(WithFeatures({"b"}));
  EXPECT_EQ(ids.IdOf(WithFeatures({"c"})), FeatureSetIds::kUnknown);
  EXPECT_EQ(ids.Features(FeatureSetIds::kUnknown), nullptr);
  EXPECT_EQ(ids.IdOf(WithFeatures({"a"})), a);
  EXPECT_EQ(ids.IdOf(WithFeatures({"b"})), b);
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace kiln::core
