// model.run end to end: the real kiln-exec binary with --model-repo, driven over its
// frame protocol, runs the example exec model (models/examples/kiln-tetra) and
// advertises it per device in ExecReady.models.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/v1/executor.pb.h"
#include "worker/exec/frame_io.h"
#include "worker/exec/testing/exec_child.h"

extern char** environ;

namespace kiln::exec {
namespace {

namespace fs = std::filesystem;
using kiln::v1::ExecEvent;
using kiln::v1::ExecProgress;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class KilnExecModelRunTest : public ::testing::Test {
 protected:
  KilnExecModelRunTest() {
    // A copy of the example repository whose model times out after 1 s.
    fs::copy(KILN_EXAMPLE_MODELS_DIR, repo_.path(), fs::copy_options::recursive);
    const fs::path manifest = fs::path(repo_.path()) / "kiln-tetra/1/manifest.json";
    const std::string text = ReadAll(manifest);
    std::ofstream(manifest, std::ios::trunc)
        << absl::StrReplaceAll(text, {{"\"timeout_seconds\": 60", "\"timeout_seconds\": 1"}});
  }

  RunTaskRequest Request(const std::string& model, const std::string& mode, int round) {
    const fs::path out = fs::path(work_.path()) / absl::StrCat("out", round);
    fs::create_directories(out);
    RunTaskRequest run;
    run.set_job_id(absl::StrCat("j-", round));
    run.set_attempt(1);
    run.set_task("model.run");
    run.set_model(model);
    (*run.mutable_parameters()->mutable_fields())["mode"].set_string_value(mode);
    (*run.mutable_parameters()->mutable_fields())["scale"].set_number_value(3);
    run.set_output_dir(out.string());
    return run;
  }

  kiln::testing::ScopedTempDir repo_;
  kiln::testing::ScopedTempDir work_;
};

TEST_F(KilnExecModelRunTest, ReadyAdvertisesTheExecModelPerDevice) {
  {
    ExecChild cpu(KILN_EXEC_PATH, {"--model-repo=" + repo_.path()}, {"CUDA_VISIBLE_DEVICES="});
    ExecEvent event;
    ASSERT_TRUE(cpu.Read(&event).ok());
    ASSERT_TRUE(event.has_ready());
    EXPECT_THAT(event.ready().tasks(), Contains("model.run"));
    ASSERT_EQ(event.ready().models_size(), 1);
    EXPECT_EQ(event.ready().models(0).name(), "kiln-tetra");
    EXPECT_EQ(event.ready().models(0).version(), "1");
    EXPECT_EQ(event.ready().models(0).runtime(), "exec");
    EXPECT_EQ(event.ready().models(0).unavailable_reason(), "");
  }
  {
    ExecChild blackwell(KILN_EXEC_PATH,
                        {"--model-repo=" + repo_.path(), "--fake-devices=sm_120:32GiB"},
                        {"CUDA_VISIBLE_DEVICES=0"});
    ExecEvent event;
    ASSERT_TRUE(blackwell.Read(&event).ok());
    ASSERT_EQ(event.ready().models_size(), 1);
    EXPECT_THAT(event.ready().models(0).unavailable_reason(),
                HasSubstr("lists nothing that runs on sm_120"));
  }
}

TEST_F(KilnExecModelRunTest, RunsTheModelAndSurvivesItsFailures) {
  ExecChild child(KILN_EXEC_PATH, {"--model-repo=" + repo_.path(), "--fake-devices=sm_90:80GiB"},
                  {"CUDA_VISIBLE_DEVICES=0", "KILN_TOKEN=secret-of-the-worker"});
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());

  // Success: the mesh, progress, a summary.
  RunTaskRequest run = Request("kiln-tetra", "env", 1);
  ASSERT_TRUE(child.Send(run).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->ok()) << result->error();
  std::vector<std::string> names;
  for (const auto& file : result->outputs()) names.push_back(file.name());
  EXPECT_THAT(names, Contains("tetrahedron.obj"));
  EXPECT_THAT(names, Contains("exec.log"));
  EXPECT_THAT(ReadAll(fs::path(run.output_dir()) / "tetrahedron.obj"), HasSubstr("v 3 3 3\n"));
  const std::string env = ReadAll(fs::path(run.output_dir()) / "env.txt");
  EXPECT_THAT(env, Not(HasSubstr("KILN_TOKEN")));
  EXPECT_THAT(env, HasSubstr("CUDA_VISIBLE_DEVICES=0\n"));
  ASSERT_FALSE(progress.empty());
  EXPECT_DOUBLE_EQ(progress.back().fraction(), 1.0);
  EXPECT_EQ(progress.back().message(), "done");
  EXPECT_EQ(result->summary().fields().at("model").string_value(), "kiln-tetra@1");
  EXPECT_EQ(result->summary().fields().at("exit_code").number_value(), 0);

  // The command fails: retryable, with its stderr in the error.
  ASSERT_TRUE(child.Send(Request("kiln-tetra@1", "fail", 2)).ok());
  result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_FALSE(result->permanent());
  EXPECT_THAT(result->error(), HasSubstr("exit code 3"));
  EXPECT_THAT(result->error(), HasSubstr("failing as asked (mode=fail)"));

  // PyTorch's "no kernel image": the device cannot run it, so the job goes elsewhere.
  ASSERT_TRUE(child.Send(Request("kiln-tetra", "nokernel", 6)).ok());
  result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->device_cannot_run());
  EXPECT_FALSE(result->permanent());

  // It hangs: the manifest's 1 s timeout ends it.
  ASSERT_TRUE(child.Send(Request("kiln-tetra", "hang", 3)).ok());
  result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_THAT(result->error(), StartsWith("DEADLINE_EXCEEDED: model kiln-tetra@1: command "));
  EXPECT_THAT(result->error(), HasSubstr("timed out after 1s"));

  // Unknown models are permanent.
  ASSERT_TRUE(child.Send(Request("no-such-model", "ok", 4)).ok());
  result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent());
  EXPECT_THAT(result->error(), HasSubstr("no-such-model"));

  // Still serving.
  ASSERT_TRUE(child.Send(Request("kiln-tetra", "ok", 5)).ok());
  result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->error();
}

}  // namespace
}  // namespace kiln::exec
