// cad.build and mesh.convert's STEP hooks through a real kiln-exec process: the tasks are
// registered, OpenCASCADE's console output does not corrupt the frame protocol, and a
// failed OCCT task leaves the executor serving the next one.
#include <sys/wait.h>

#include <IFSelect_ReturnStatus.hxx>
#include <STEPControl_Reader.hxx>
#include <TopExp.hxx>
#include <TopTools_IndexedMapOfShape.hxx>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/exec/testing/exec_child.h"

namespace kiln::cad {
namespace {

using kiln::exec::ExecChild;
using kiln::testing::ScopedTempDir;
using kiln::v1::ExecEvent;
using kiln::v1::ExecProgress;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;
using ::testing::HasSubstr;

const std::string kData = KILN_TEST_DATA_DIR;

RunTaskRequest Request(const std::string& task, const std::string& json, const std::string& out,
                       const std::vector<std::string>& inputs = {}) {
  RunTaskRequest run;
  run.set_job_id("j-cad");
  run.set_attempt(1);
  run.set_task(task);
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, run.mutable_parameters()).ok());
  for (const std::string& path : inputs) {
    kiln::v1::LocalFile* input = run.add_inputs();
    input->set_name(std::filesystem::path(path).filename().string());
    input->set_path(path);
  }
  run.set_output_dir(out);
  return run;
}

absl::StatusOr<ExecResult> RunInChild(ExecChild& child, const RunTaskRequest& run) {
  if (absl::Status sent = child.Send(run); !sent.ok()) return sent;
  std::vector<ExecProgress> progress;
  return child.ReadResult(&progress, absl::Seconds(120));
}

// The environment for an executor that is meant to crash inside OCCT: in a sanitizer build
// (scripts/sanitize.sh) the sanitizer's SEGV handler would report the third-party crash as
// a finding and exit(1) instead of dying by SIGSEGV; handle_segv=0 leaves the signal alone.
std::vector<std::string> PlainSegvEnv() {
  std::vector<std::string> env;
  for (const char* name : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* value = std::getenv(name);
    const std::string options = value == nullptr ? "" : value;
    env.push_back(absl::StrCat(name, "=", options, options.empty() ? "" : ":", "handle_segv=0"));
  }
  return env;
}

int StepFaces(const std::string& path) {
  STEPControl_Reader reader;
  if (reader.ReadFile(path.c_str()) != IFSelect_RetDone) return -1;
  reader.TransferRoots();
  TopTools_IndexedMapOfShape faces;
  TopExp::MapShapes(reader.OneShape(), TopAbs_FACE, faces);
  return faces.Extent();
}

TEST(CadExecTest, CadBuildAndStepConversionsRunInKilnExec) {
  ScopedTempDir dir;
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  ASSERT_TRUE(ready.has_ready());
  EXPECT_THAT(ready.ready().tasks(), Contains("cad.build"));
  EXPECT_THAT(ready.ready().tasks(), Contains("mesh.convert"));

  // A too-large fillet fails permanently with the field named...
  absl::StatusOr<ExecResult> bad = RunInChild(
      child,
      Request("cad.build",
              R"({"shape": {"fillet": {"radius": 9, "child": {"box": {"size": [4, 4, 4]}}}}})",
              dir.path()));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(bad->ok());
  EXPECT_TRUE(bad->permanent());
  EXPECT_THAT(bad->error(), HasSubstr("parameters.shape.fillet"));

  // ...and the same process builds the next part.
  absl::StatusOr<ExecResult> built =
      RunInChild(child, Request("cad.build", R"({"shape": {"difference": {"children": [
          {"box": {"size": [20, 10, 5]}},
          {"cylinder": {"radius": 2, "height": 5}, "translate": [10, 5, 0]}]}}})",
                                dir.path()));
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_TRUE(built->ok()) << built->error();
  ASSERT_EQ(built->outputs_size(), 3);
  for (const auto& file : built->outputs()) EXPECT_TRUE(std::filesystem::exists(file.path()));
  EXPECT_NEAR(built->summary().fields().at("volume").number_value(), 1000 - M_PI * 4 * 5, 1e-6);

  // mesh.convert: STEP in (OCCT tessellation) ...
  absl::StatusOr<ExecResult> from_step = RunInChild(
      child, Request("mesh.convert", R"({"input": "bracket.step", "output": "bracket.stl"})",
                     dir.path(), {kData + "/bracket.step"}));
  ASSERT_TRUE(from_step.ok()) << from_step.status();
  ASSERT_TRUE(from_step->ok()) << from_step->error();
  EXPECT_GT(from_step->summary().fields().at("faces").number_value(), 40);

  // ... and STEP out: the PLY fixture's 136 triangles become 136 faces of one solid.
  absl::StatusOr<ExecResult> to_step = RunInChild(
      child, Request("mesh.convert", R"({"input": "bracket.ply", "output": "bracket.step"})",
                     dir.path(), {kData + "/bracket.ply"}));
  ASSERT_TRUE(to_step.ok()) << to_step.status();
  ASSERT_TRUE(to_step->ok()) << to_step->error();
  ASSERT_EQ(to_step->outputs_size(), 1);
  EXPECT_EQ(StepFaces(to_step->outputs(0).path()), 136);
  EXPECT_TRUE(child.Alive());
}

TEST(CadExecTest, AStepFileThatCrashesOcctKillsOnlyItsExecutor) {
  // OpenCASCADE 7.6.3 segfaults inside its STEP reader on this file (found by tests/fuzz):
  // a native crash that Kiln cannot prevent, so it must cost one kiln-exec and nothing more
  // (the worker fails that attempt and starts a new executor).
  ScopedTempDir dir;
  const std::string crash =
      std::string(KILN_FUZZ_KNOWN_CRASHES_DIR) + "/step/occt763_null_cartesian_point.step";
  {
    ExecChild child(KILN_EXEC_PATH, {}, PlainSegvEnv());
    ExecEvent ready;
    ASSERT_TRUE(child.Read(&ready).ok());
    ASSERT_TRUE(child
                    .Send(Request("mesh.convert",
                                  R"({"input": "occt763_null_cartesian_point.step",
                                      "output": "crash.stl"})",
                                  dir.path(), {crash}))
                    .ok());
    std::vector<ExecProgress> progress;
    EXPECT_FALSE(child.ReadResult(&progress, absl::Seconds(120)).ok());  // No result: it died.
    absl::StatusOr<int> status = child.Wait(absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_TRUE(WIFSIGNALED(*status)) << *status;
    EXPECT_EQ(WTERMSIG(*status), SIGSEGV);
  }
  // The next executor reads a good STEP file as before.
  ExecChild next(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(next.Read(&ready).ok());
  absl::StatusOr<ExecResult> good = RunInChild(
      next, Request("mesh.convert", R"({"input": "bracket.step", "output": "bracket.glb"})",
                    dir.path(), {kData + "/bracket.step"}));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(good->ok()) << good->error();
}

}  // namespace
}  // namespace kiln::cad
