#include "autoscale/pool_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::autoscale {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kConfig[] = R"({
  "pools": [
    {"name": "h100", "classes": [{"accelerator": "gpu", "min_cc": ["8.0", "9.0"]}],
     "script": "/opt/kiln/slurm/kiln-worker.sbatch", "partition": "gpu",
     "gres": "gpu:h100:4", "constraint": "h100", "sbatch_args": ["--time=12:00:00"],
     "env": {"KILN_SHARED": "/shared/kiln"}, "min_workers": 0, "max_workers": 8,
     "jobs_per_worker": 4, "scale_up_polls": 3, "scale_down_polls": 10, "max_step": 2},
    {"name": "cpu", "classes": [{"accelerator": ["cpu", "any"]}],
     "script": "kiln-worker.sbatch", "max_workers": 2}
  ]
})";

TEST(PoolConfigTest, ParsesPools) {
  absl::StatusOr<AutoscaleConfig> config = ParseAutoscaleConfig(kConfig, "pools.json");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->pools.size(), 2u);
  const PoolConfig& gpu = config->pools[0];
  EXPECT_EQ(gpu.name, "h100");
  EXPECT_EQ(gpu.partition, "gpu");
  EXPECT_EQ(gpu.gres, "gpu:h100:4");
  EXPECT_EQ(gpu.constraint, "h100");
  EXPECT_THAT(gpu.sbatch_args, ElementsAre("--time=12:00:00"));
  EXPECT_THAT(gpu.env, ElementsAre(Pair("KILN_SHARED", "/shared/kiln")));
  EXPECT_EQ(gpu.policy.max_workers, 8);
  EXPECT_EQ(gpu.policy.jobs_per_worker, 4);
  EXPECT_EQ(gpu.policy.scale_up_polls, 3);
  EXPECT_EQ(gpu.policy.scale_down_polls, 10);
  EXPECT_EQ(gpu.policy.max_step, 2);
  ASSERT_EQ(gpu.classes.size(), 1u);
  EXPECT_THAT(gpu.classes[0].labels.at("min_cc"), ElementsAre("8.0", "9.0"));
  // Defaults.
  const PoolConfig& cpu = config->pools[1];
  EXPECT_EQ(cpu.policy.min_workers, 0);
  EXPECT_EQ(cpu.policy.jobs_per_worker, 1);
  EXPECT_EQ(SlurmJobName(cpu), "kiln-cpu");
}

TEST(PoolConfigTest, DemandSumsTheMatchingClassesOnce) {
  absl::StatusOr<AutoscaleConfig> config = ParseAutoscaleConfig(kConfig, "pools.json");
  ASSERT_TRUE(config.ok());
  const std::vector<Sample> samples = {
      {{{"task", "a"}, {"accelerator", "gpu"}, {"min_cc", "8.0"}}, 2},
      {{{"task", "b"}, {"accelerator", "gpu"}, {"min_cc", "none"}}, 5},  // no min_cc match
      {{{"task", "c"}, {"accelerator", "gpu"}, {"min_cc", "9.0"}}, 1},
      {{{"task", "d"}, {"accelerator", "cpu"}}, 4},
      {{{"task", "e"}, {"accelerator", "any"}}, 3},
  };
  EXPECT_EQ(PoolDemand(config->pools[0], samples), 3);
  EXPECT_EQ(PoolDemand(config->pools[1], samples), 7);
  // Two selectors that both match a series still count it once.
  PoolConfig both = config->pools[1];
  both.classes.push_back(ClassSelector{});
  EXPECT_EQ(PoolDemand(both, samples), 15);
}

void ExpectError(const std::string& json, const std::string& what) {
  absl::StatusOr<AutoscaleConfig> config = ParseAutoscaleConfig(json, "pools.json");
  ASSERT_FALSE(config.ok()) << json;
  EXPECT_TRUE(absl::IsInvalidArgument(config.status()));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("pools.json: "));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(what)) << json;
}

TEST(PoolConfigTest, BadInputNamesTheField) {
  ExpectError("not json", "(document)");
  ExpectError("{}", "pools: must be a non-empty list");
  ExpectError(R"({"pools": [], "x": 1})", "x: unknown field");
  ExpectError(R"({"pools": [{"classes": [{}], "script": "s", "max_workers": 1}]})",
              "pools[0].name: missing");
  ExpectError(R"({"pools": [{"name": "a b", "classes": [{}], "script": "s", "max_workers": 1}]})",
              "pools[0].name: must be");
  ExpectError(R"({"pools": [{"name": "a", "classes": [], "script": "s", "max_workers": 1}]})",
              "pools[0].classes: must be a non-empty list");
  ExpectError(
      R"({"pools": [{"name": "a", "classes": [{"gpu": "x"}], "script": "s", "max_workers": 1}]})",
      "pools[0].classes[0].gpu: unknown field");
  ExpectError(
      R"({"pools": [{"name": "a", "classes": [{"task": 3}], "script": "s", "max_workers": 1}]})",
      "pools[0].classes[0].task: must be a string");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1.5}]})",
              "pools[0].max_workers: must be a whole number");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1,
                  "min_workers": 2}]})",
              "pools[0].max_workers: must be >= min_workers");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "", "max_workers": 1}]})",
              "pools[0].script: must not be empty");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1,
                  "env": {"A": "x,y"}}]})",
              "pools[0].env.A: must not contain ','");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1,
                  "env": {"1A": "x"}}]})",
              "pools[0].env.1A: not a variable name");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1},
                            {"name": "a", "classes": [{}], "script": "s", "max_workers": 1}]})",
              "pools[1].name: \"a\" used twice");
  ExpectError(R"({"pools": [{"name": "a", "classes": [{}], "script": "s", "max_workers": 1,
                  "sbatch_args": "--x", "colour": "red"}]})",
              "pools[0].colour: unknown field");
}

TEST(PoolConfigTest, TheExampleInSlurmParses) {
  absl::StatusOr<AutoscaleConfig> config =
      LoadAutoscaleConfig(std::string(KILN_SOURCE_DIR) + "/slurm/pools.example.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pools.size(), 2u);
}

TEST(PoolConfigTest, MissingFileIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(LoadAutoscaleConfig("/nonexistent/pools.json").status()));
}

}  // namespace
}  // namespace kiln::autoscale
