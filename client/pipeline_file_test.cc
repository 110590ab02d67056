#include "client/pipeline_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/job_spec_yaml.h"
#include "common/task_catalog.h"

namespace kiln::kilnctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PipelineFileTest, OrdersJobsAfterTheirDependenciesAndNamesThemByIndex) {
  // Written out of order on purpose: the join first.
  const char* text = R"(jobs:
  - name: compose
    task: scene.compose
    depends_on:
      - left
      - {name: right, run_on_failure: true, input_prefix: r.}
  - name: left
    task: mesh.extract
    depends_on: [segment]
  - name: right
    task: mesh.extract
    depends_on: [segment, j-00000000000000aa]
  - name: segment
    task: mesh.extract
    priority: 5
    files: {in.npy: data/in.npy, abs.npy: /tmp/abs.npy}
)";
  ASSERT_TRUE(IsPipelineText(text));
  absl::StatusOr<PipelinePlan> plan = ReadPipeline(text, "p.yaml", "/work/p");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->names, ElementsAre("segment", "left", "right", "compose"));
  EXPECT_EQ(plan->specs[0].task(), "mesh.extract");
  EXPECT_EQ(plan->specs[0].priority(), 5);
  ASSERT_EQ(plan->uploads[0].size(), 2u);
  EXPECT_EQ(plan->uploads[0][0].name, "in.npy");
  EXPECT_EQ(plan->uploads[0][0].path, "/work/p/data/in.npy");
  EXPECT_EQ(plan->uploads[0][1].path, "/tmp/abs.npy");
  ASSERT_EQ(plan->specs[1].dependencies_size(), 1);
  EXPECT_EQ(plan->specs[1].dependencies(0).batch_index(), 0);
  ASSERT_EQ(plan->specs[2].dependencies_size(), 2);
  EXPECT_EQ(plan->specs[2].dependencies(1).job_id(), "j-00000000000000aa");
  const v1::JobSpec& compose = plan->specs[3];
  ASSERT_EQ(compose.dependencies_size(), 2);
  EXPECT_EQ(compose.dependencies(0).batch_index(), 1);
  EXPECT_FALSE(compose.dependencies(0).run_on_failure());
  EXPECT_EQ(compose.dependencies(1).batch_index(), 2);
  EXPECT_TRUE(compose.dependencies(1).run_on_failure());
  EXPECT_EQ(compose.dependencies(1).input_prefix(), "r.");
}

TEST(PipelineFileTest, JsonPipelinesReadTheSame) {
  const char* text =
      R"({"jobs": [{"name": "a", "task": "mesh.extract"},
                   {"name": "b", "task": "mesh.extract", "depends_on": ["a"]}]})";
  ASSERT_TRUE(IsPipelineText(text));
  absl::StatusOr<PipelinePlan> plan = ReadPipeline(text, "p.json", "");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->names, ElementsAre("a", "b"));
  EXPECT_EQ(plan->specs[1].dependencies(0).batch_index(), 0);
}

TEST(PipelineFileTest, AJobSpecFileIsNotAPipeline) {
  EXPECT_FALSE(IsPipelineText("task: mesh.extract\n"));
  EXPECT_FALSE(IsPipelineText(R"({"task": "mesh.extract"})"));
  EXPECT_FALSE(IsPipelineText("jobs: [\n"));  // not YAML at all: the spec reader says why
}

TEST(PipelineFileTest, RefusesCyclesUnknownNamesAndBadFields) {
  auto error = [](const char* text) {
    absl::StatusOr<PipelinePlan> plan = ReadPipeline(text, "p.yaml", "");
    EXPECT_FALSE(plan.ok());
    return std::string(plan.status().message());
  };
  EXPECT_THAT(error(R"(jobs:
  - {name: a, task: mesh.extract, depends_on: [c]}
  - {name: b, task: mesh.extract, depends_on: [a]}
  - {name: c, task: mesh.extract, depends_on: [b]}
)"),
              HasSubstr("cycle: a -> c -> b -> a"));
  EXPECT_THAT(error("jobs:\n  - {name: a, task: mesh.extract, depends_on: [a]}\n"),
              HasSubstr("cycle: a -> a"));
  EXPECT_THAT(error("jobs:\n  - {name: a, task: mesh.extract, depends_on: [nope]}\n"),
              HasSubstr("jobs[0].depends_on[0]: no job named \"nope\""));
  EXPECT_THAT(error("jobs:\n  - {name: a, task: x}\n  - {name: a, task: y}\n"),
              HasSubstr("jobs[1].name: \"a\" is also jobs[0]"));
  EXPECT_THAT(error("jobs:\n  - {task: mesh.extract}\n"), HasSubstr("jobs[0].name: required"));
  EXPECT_THAT(error("jobs:\n  - {name: a, tsak: mesh.extract}\n"),
              HasSubstr("p.yaml:2:15: jobs[0].tsak: unknown field"));
  EXPECT_THAT(error("jobs:\n  - {name: a, depends_on: [{name: b, when: x}]}\n"),
              HasSubstr("jobs[0].depends_on[0].when: unknown key"));
  EXPECT_THAT(error("jobs: []\n"), HasSubstr("jobs: empty"));
  EXPECT_THAT(error("jobs: []\nextra: 1\n"), HasSubstr("extra: unknown key"));
}

// The example users run (docs/pipelines.md) reads, names an existing image, and its
// parameters (fan_out included) pass the scheduler's checks.
TEST(PipelineFileTest, TheThreeObjectsExampleIsAValidPipeline) {
  const std::string dir = KILN_SOURCE_DIR "/examples/pipelines";
  std::ifstream in(dir + "/three_objects.yaml");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<PipelinePlan> plan = ReadPipeline(text.str(), "three_objects.yaml", dir);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_THAT(plan->names, ElementsAre("segment"));
  EXPECT_EQ(plan->specs[0].task(), "image.segment");
  const absl::Status valid =
      ValidateTaskParameters(plan->specs[0].task(), plan->specs[0].parameters(), {});
  EXPECT_TRUE(valid.ok()) << valid;
  EXPECT_TRUE(plan->specs[0].parameters().fields().contains("fan_out"));
  ASSERT_EQ(plan->uploads[0].size(), 1u);
  EXPECT_EQ(plan->uploads[0][0].name, "scene.png");
  EXPECT_TRUE(std::filesystem::is_regular_file(plan->uploads[0][0].path))
      << plan->uploads[0][0].path;
}

}  // namespace
}  // namespace kiln::kilnctl
