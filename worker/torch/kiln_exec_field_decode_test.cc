// field.decode end to end: the real kiln-exec binary with --model-repo on the built-in
// repository, driven over its frame protocol. The model stays loaded across tasks, and
// a corrupt or truncated archive fails only its own task.
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

namespace kiln::exec {
namespace {

namespace fs = std::filesystem;
using kiln::v1::ExecEvent;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class KilnExecFieldDecodeTest : public ::testing::Test {
 protected:
  RunTaskRequest Request(const std::string& model, const std::string& resolution) {
    const fs::path out = fs::path(work_.path()) / absl::StrCat("out", ++round_);
    fs::create_directories(out);
    RunTaskRequest run;
    run.set_job_id(absl::StrCat("j-", round_));
    run.set_attempt(1);
    run.set_task("field.decode");
    run.set_model(model);
    (*run.mutable_parameters()->mutable_fields())["resolution"].set_number_value(
        std::stoi(resolution));
    (*run.mutable_parameters()->mutable_fields())["batch_size"].set_number_value(4096);
    run.set_output_dir(out.string());
    return run;
  }

  kiln::testing::ScopedTempDir work_;
  int round_ = 0;
};

TEST_F(KilnExecFieldDecodeTest, SecondRunHitsTheCacheWithNoLoadTime) {
  ExecChild exec(KILN_EXEC_PATH,
                 {absl::StrCat("--model-repo=", KILN_BUILTIN_MODELS_DIR), "--torch-threads=2"},
                 {"CUDA_VISIBLE_DEVICES="});
  ExecEvent ready;
  ASSERT_TRUE(exec.Read(&ready).ok());
  ASSERT_TRUE(ready.has_ready());
  EXPECT_THAT(ready.ready().tasks(), Contains("field.decode"));
  bool listed = false;
  for (const kiln::v1::ModelAvailability& m : ready.ready().models()) {
    if (m.name() != "kiln-torus") continue;
    listed = true;
    EXPECT_EQ(m.version(), "1");
    EXPECT_EQ(m.runtime(), "torchscript");
    EXPECT_EQ(m.unavailable_reason(), "");
  }
  EXPECT_TRUE(listed);

  ASSERT_TRUE(exec.Send(Request("kiln-torus", "32")).ok());
  std::vector<kiln::v1::ExecProgress> progress;
  auto first = exec.ReadResult(&progress, absl::Seconds(120));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->ok()) << first->error();
  EXPECT_GE(progress.size(), 1u);
  EXPECT_FALSE(first->summary().fields().at("cache_hit").bool_value());
  EXPECT_GT(first->summary().fields().at("load_seconds").number_value(), 0);
  EXPECT_THAT(first->loaded_models(), ElementsAre("kiln-torus@1"));
  ASSERT_EQ(first->outputs_size(), 1);
  EXPECT_TRUE(fs::exists(first->outputs(0).path()));

  ASSERT_TRUE(exec.Send(Request("kiln-torus@1", "32")).ok());
  auto second = exec.ReadResult(&progress, absl::Seconds(120));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->ok()) << second->error();
  EXPECT_TRUE(second->summary().fields().at("cache_hit").bool_value());
  EXPECT_EQ(second->summary().fields().at("load_seconds").number_value(), 0);
  EXPECT_EQ(second->summary().fields().at("faces").number_value(),
            first->summary().fields().at("faces").number_value());
  EXPECT_THAT(second->loaded_models(), ElementsAre("kiln-torus@1"));
}

TEST_F(KilnExecFieldDecodeTest, CorruptArchivesFailOnlyTheirOwnTask) {
  // The built-in repository plus two broken copies of its model: garbage bytes, and the
  // real archive cut in half.
  kiln::testing::ScopedTempDir repo;
  fs::copy(KILN_BUILTIN_MODELS_DIR, repo.path(), fs::copy_options::recursive);
  const fs::path good = fs::path(repo.path()) / "kiln-torus" / "1";
  std::stringstream manifest, archive;
  manifest << std::ifstream(good / "manifest.json").rdbuf();
  archive << std::ifstream(good / "model.pt", std::ios::binary).rdbuf();
  for (const std::string name : {"garbage", "truncated"}) {
    const fs::path dir = fs::path(repo.path()) / name / "1";
    fs::create_directories(dir);
    std::ofstream(dir / "manifest.json")
        << absl::StrReplaceAll(manifest.str(), {{"\"kiln-torus\"", "\"" + name + "\""}});
    std::ofstream pt(dir / "model.pt", std::ios::binary);
    if (name == "garbage") {
      pt << std::string(4096, '\x7f');
    } else {
      pt << archive.str().substr(0, archive.str().size() / 2);
    }
  }
  ExecChild exec(KILN_EXEC_PATH, {"--model-repo=" + repo.path(), "--torch-threads=2"},
                 {"CUDA_VISIBLE_DEVICES="});
  ExecEvent ready;
  ASSERT_TRUE(exec.Read(&ready).ok());
  ASSERT_TRUE(ready.has_ready());
  EXPECT_EQ(ready.ready().models_size(), 3);

  std::vector<kiln::v1::ExecProgress> progress;
  for (const std::string name : {"garbage", "truncated"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(exec.Send(Request(name, "16")).ok());
    auto result = exec.ReadResult(&progress, absl::Seconds(120));
    // LibTorch reads archives defensively: the load fails with an error, and if it ever
    // aborted instead, the read above would fail and only this attempt would be lost.
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->ok());
    EXPECT_TRUE(result->permanent());
    EXPECT_THAT(result->error(),
                HasSubstr("cannot load TorchScript archive " +
                          (fs::path(repo.path()) / name / "1" / "model.pt").string()));
    EXPECT_TRUE(exec.Alive());
  }
  ASSERT_TRUE(exec.Send(Request("kiln-torus", "16")).ok());
  auto good_result = exec.ReadResult(&progress, absl::Seconds(120));
  ASSERT_TRUE(good_result.ok()) << good_result.status();
  EXPECT_TRUE(good_result->ok()) << good_result->error();
  EXPECT_THAT(good_result->loaded_models(), ElementsAre("kiln-torus@1"));
}

}  // namespace
}  // namespace kiln::exec
