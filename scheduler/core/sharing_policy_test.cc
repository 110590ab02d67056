// SharingPolicy: parsing and validation of the --sharing-policy file.
#include "scheduler/core/sharing_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/testing/scoped_temp_dir.h"

namespace kiln::core {
namespace {

using ::testing::HasSubstr;

TEST(SharingPolicyTest, ParsesWeightsAndLimits) {
  absl::StatusOr<SharingPolicy> policy = SharingPolicy::Parse(
      R"({"tenants": [{"tenant": "team-a", "weight": 2, "max_running": 4},
                      {"tenant": "team-b"}],
          "label_limits": [{"key": "license", "value": "houdini", "max_running": 3}]})",
      "policy.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Weight("team-a"), 2);
  EXPECT_EQ(policy->TenantLimit("team-a"), 4);
  EXPECT_EQ(policy->Weight("team-b"), 1);  // absent weight means 1
  EXPECT_EQ(policy->TenantLimit("team-b"), 0);
  EXPECT_EQ(policy->Weight("unlisted"), 1);
  EXPECT_EQ(policy->LabelLimit("license", "houdini"), 3);
  EXPECT_EQ(policy->LabelLimit("license", "maya"), 0);
  EXPECT_THAT(policy->limited_keys(), ::testing::ElementsAre("license"));
}

TEST(SharingPolicyTest, RefusesBadFilesNamingTheField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"tenants": [{"tenant": "a"}, {"tenant": "b", "weight": -1}]})",
       "policy.json: tenants[1].weight: must be > 0"},
      {R"({"tenants": [{"tenant": "a", "max_running": -2}]})",
       "policy.json: tenants[0].max_running: must be >= 0"},
      {R"({"tenants": [{"tenant": "bad name"}]})", "policy.json: tenants[0].tenant: must be"},
      {R"({"tenants": [{"tenant": "a"}, {"tenant": "a"}]})",
       "tenants[1].tenant: \"a\" is listed twice"},
      {R"({"label_limits": [{"key": "gpu", "value": "a100", "max_running": 0}]})",
       "policy.json: label_limits[0].max_running: must be >= 1"},
      {R"({"label_limits": [{"key": "", "value": "a100", "max_running": 1}]})",
       "label_limits[0].key: must be 1..63"},
      {R"({"label_limits": [{"key": "k", "value": "v", "max_running": 1},
                            {"key": "k", "value": "v", "max_running": 2}]})",
       "label_limits[1].value: \"k\" = \"v\" is limited twice"},
      {R"({"tenants": [{"tenant": "a", "wieght": 2}]})", "not a sharing policy"},
      {R"({"tenants": [{"tenant": "a", "weight": "heavy"}]})", "not a sharing policy"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SharingPolicy> policy = SharingPolicy::Parse(c.json, "policy.json");
    ASSERT_FALSE(policy.ok()) << c.json;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(policy.status().message()), HasSubstr(c.message)) << c.json;
  }
}

TEST(SharingPolicyTest, LoadsAFileAndNamesAMissingOne) {
  kiln::testing::ScopedTempDir dir;
  const std::string path = dir.Sub("policy.json");
  {
    std::ofstream out(path);
    out << R"({"tenants": [{"tenant": "render", "weight": 3}]})";
  }
  absl::StatusOr<SharingPolicy> policy = SharingPolicy::Load(path);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Weight("render"), 3);
  absl::StatusOr<SharingPolicy> missing = SharingPolicy::Load(dir.Sub("nope.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.json"));
}

TEST(SharingPolicyTest, TheExampleFileIsValid) {
  absl::StatusOr<SharingPolicy> policy =
      SharingPolicy::Load(std::string(KILN_SOURCE_DIR) + "/deploy/sharing/sharing-policy.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Weight("team-b"), 2);
  EXPECT_EQ(policy->LabelLimit("license", "houdini"), 4);
}

}  // namespace
}  // namespace kiln::core
