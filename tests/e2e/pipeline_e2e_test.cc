// End to end with real processes on loopback: a pipeline file submitted by kilnctl
// (one SubmitJobs batch), run by a real worker, its outputs passed on as the next
// job's inputs; a scheduler restart in the middle of the pipeline; a failure that
// cancels the rest. docs/pipelines.md.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

// "NAME ID" lines of `kilnctl submit -f PIPELINE`.
std::map<std::string, std::string> ParseIds(const std::string& out) {
  std::map<std::string, std::string> ids;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() == 2) ids[parts[0]] = parts[1];
  }
  return ids;
}

kiln::v1::JobState StateOf(Client& client, const std::string& id) {
  auto job = client.Get(id);
  return job.ok() ? job->state() : kiln::v1::JOB_STATE_UNSPECIFIED;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(PipelineEndToEnd, KilnctlPipelineRunsInOrderAcrossARestartAndPassesOutputsOn) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  const std::string pipeline = farm.dir() + "/pipeline.yaml";
  // The convert comes first in the file: kilnctl orders the batch.
  WriteFile(pipeline, R"(jobs:
  - name: glb
    task: mesh.convert
    depends_on: [mesh]
    parameters: {input: mesh.ply, output: sphere.glb}
  - name: mesh
    task: mesh.extract
    parameters: {shape: {type: sphere, radius: 1}, resolution: 24}
  - name: doomed
    task: mesh.convert
    depends_on: [glb]
    parameters: {input: missing.ply, output: x.glb}
    max_attempts: 1
  - name: after-doomed
    task: mesh.convert
    depends_on: [doomed]
    parameters: {input: sphere.glb, output: again.ply}
)");
  CommandResult submit = farm.Kilnctl({"submit", "-f", pipeline});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  std::map<std::string, std::string> ids = ParseIds(submit.out);
  ASSERT_EQ(ids.size(), 4u) << submit.out;
  auto client = farm.NewClient();
  EXPECT_EQ(StateOf(*client, ids["mesh"]), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(*client, ids["glb"]), kiln::v1::JOB_STATE_WAITING);

  // No worker yet: restart the scheduler with the pipeline waiting.
  farm.StopScheduler(SIGKILL);
  ASSERT_TRUE(farm.StartScheduler().ok());
  client = farm.NewClient();
  EXPECT_EQ(StateOf(*client, ids["glb"]), kiln::v1::JOB_STATE_WAITING);
  EXPECT_EQ(StateOf(*client, ids["after-doomed"]), kiln::v1::JOB_STATE_WAITING);

  CommandResult describe = farm.Kilnctl({"describe", "job", ids["glb"]});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find("Dependencies:"), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find(ids["mesh"]), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find("State:        waiting"), std::string::npos) << describe.out;

  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  const auto terminal = [&](const std::string& name) {
    const kiln::v1::JobState state = StateOf(*client, ids[name]);
    return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
           state == kiln::v1::JOB_STATE_CANCELLED;
  };
  ASSERT_TRUE(WaitUntil([&] { return terminal("after-doomed"); }, absl::Minutes(4)))
      << farm.Log("worker-0.log");

  absl::StatusOr<kiln::v1::Job> glb = client->Get(ids["glb"]);
  ASSERT_TRUE(glb.ok());
  ASSERT_EQ(glb->state(), kiln::v1::JOB_STATE_SUCCEEDED) << glb->status_message();
  // The mesh job's output became the convert job's input, by name and content.
  absl::StatusOr<kiln::v1::Job> mesh = client->Get(ids["mesh"]);
  ASSERT_TRUE(mesh.ok());
  ASSERT_EQ(mesh->outputs_size(), 1);
  ASSERT_EQ(glb->spec().inputs_size(), 1);
  EXPECT_EQ(glb->spec().inputs(0).name(), "mesh.ply");
  EXPECT_EQ(glb->spec().inputs(0).sha256(), mesh->outputs(0).sha256());
  ASSERT_EQ(glb->outputs_size(), 1);
  EXPECT_EQ(glb->outputs(0).name(), "sphere.glb");
  EXPECT_EQ(mesh->dependent_ids_size(), 1);

  EXPECT_EQ(StateOf(*client, ids["doomed"]), kiln::v1::JOB_STATE_FAILED);
  absl::StatusOr<kiln::v1::Job> after = client->Get(ids["after-doomed"]);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state(), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_NE(after->status_message().find(ids["doomed"]), std::string::npos)
      << after->status_message();
  EXPECT_TRUE(after->attempts().empty());

  // kilnctl lists waiting jobs by state name too.
  CommandResult list = farm.Kilnctl({"get", "jobs", "--state", "waiting"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
}

TEST(PipelineEndToEnd, BadPipelinesAreRefusedBeforeAnythingIsSubmitted) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  const std::string cycle = farm.dir() + "/cycle.yaml";
  WriteFile(cycle, R"(jobs:
  - {name: a, task: mesh.extract, depends_on: [b]}
  - {name: b, task: mesh.extract, depends_on: [a]}
)");
  CommandResult refused = farm.Kilnctl({"submit", "-f", cycle});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("cycle"), std::string::npos) << refused.err;
  const std::string unknown = farm.dir() + "/unknown.yaml";
  WriteFile(unknown, R"(jobs:
  - {name: a, task: mesh.extract, depends_on: [j-00000000000000ff],
     parameters: {shape: {type: sphere, radius: 1}}}
)");
  CommandResult refused_id = farm.Kilnctl({"submit", "-f", unknown});
  EXPECT_NE(refused_id.exit_code, 0);
  EXPECT_NE(refused_id.err.find("specs[0].dependencies[0].job_id"), std::string::npos)
      << refused_id.err;
  CommandResult list = farm.Kilnctl({"get", "jobs", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find("j-"), std::string::npos) << "a refused pipeline left jobs: " << list.out;
}

}  // namespace
}  // namespace kiln::testing
