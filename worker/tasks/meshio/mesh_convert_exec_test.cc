// mesh.convert through a real kiln-exec process over its pipes: the executor lists it,
// runs a conversion and reports a bad input as a permanent error without dying, and
// handles STEP as its build allows (OpenCASCADE hooks or a clear refusal).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/exec/testing/exec_child.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class MeshConvertExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(temp_.Sub("out"));
    kiln::v1::ExecEvent ready;
    ASSERT_TRUE(child_.Read(&ready).ok());
    ASSERT_TRUE(ready.has_ready());
    ASSERT_THAT(ready.ready().tasks(), Contains("mesh.convert"));
  }

  kiln::v1::RunTaskRequest Request(const std::string& json, const std::string& input_name,
                                   const std::string& input_path) {
    kiln::v1::RunTaskRequest run;
    run.set_job_id("j-convert");
    run.set_attempt(1);
    run.set_task("mesh.convert");
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, run.mutable_parameters()).ok());
    kiln::v1::LocalFile* input = run.add_inputs();
    input->set_name(input_name);
    input->set_path(input_path);
    run.set_output_dir(temp_.Sub("out"));
    return run;
  }

  absl::StatusOr<kiln::v1::ExecResult> Run(const kiln::v1::RunTaskRequest& run) {
    if (absl::Status sent = child_.Send(run); !sent.ok()) return sent;
    std::vector<kiln::v1::ExecProgress> progress;
    return child_.ReadResult(&progress);
  }

  kiln::testing::ScopedTempDir temp_;
  kiln::exec::ExecChild child_{KILN_EXEC_PATH};
};

TEST_F(MeshConvertExecTest, ConvertsThenReportsABadInputAndKeepsServing) {
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("cube.stl")).ok());
  auto good =
      Run(Request(R"({"input":"cube.stl","output":"cube.glb","units":{"from":"m","to":"mm"}})",
                  "cube.stl", temp_.Sub("cube.stl")));
  ASSERT_TRUE(good.ok()) << good.status();
  ASSERT_TRUE(good->ok()) << good->error();
  ASSERT_EQ(good->outputs_size(), 1);
  auto mesh = ReadMesh(good->outputs(0).path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->triangles.size(), 12u);
  const auto& summary = good->summary().fields();
  EXPECT_EQ(summary.at("bbox_max").list_value().values(0).number_value(), 1000);
  EXPECT_TRUE(summary.at("watertight").bool_value());
  EXPECT_EQ(summary.at("output_format").string_value(), "glb");

  std::ofstream(temp_.Sub("junk.stl")) << "solid junk\nfacet oops\n";
  auto bad = Run(
      Request(R"({"input":"junk.stl","output":"junk.ply"})", "junk.stl", temp_.Sub("junk.stl")));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(bad->ok());
  EXPECT_TRUE(bad->permanent());
  EXPECT_THAT(bad->error(), HasSubstr("input junk.stl: "));
  EXPECT_TRUE(child_.Alive());

  // STEP: written through OpenCASCADE where the executor has it, refused clearly where not.
  auto step = Run(
      Request(R"({"input":"cube.stl","output":"cube.step"})", "cube.stl", temp_.Sub("cube.stl")));
  ASSERT_TRUE(step.ok()) << step.status();
#if KILN_TEST_HAVE_OCCT
  ASSERT_TRUE(step->ok()) << step->error();
  EXPECT_GT(std::filesystem::file_size(step->outputs(0).path()), 0u);
#else
  EXPECT_FALSE(step->ok());
  EXPECT_TRUE(step->permanent());
  EXPECT_THAT(step->error(), HasSubstr("OpenCASCADE"));
#endif
}

}  // namespace
}  // namespace kiln::tasks
