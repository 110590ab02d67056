#include "worker/tasks/meshio/mesh_convert_task.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "common/mesh_convert_params.h"
#include "common/task_catalog.h"
#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

using ::kiln::testing::JsonStruct;

TEST(MeshConvertParamsTest, DefaultsAndFactor) {
  auto params = ParseMeshConvertParams(JsonStruct(R"({"input":"a.stl","output":"b.glb"})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->factor, 1);
  EXPECT_FALSE(params->ascii);
  EXPECT_EQ(params->up_from, params->up_to);
  params = ParseMeshConvertParams(
      JsonStruct(R"({"input":"a","input_format":"ply","output":"b.STL","ascii":true,"scale":2,)"
                 R"("units":{"from":"mm","to":"in"},"up_axis":{"from":"z","to":"y"}})"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_DOUBLE_EQ(params->factor, 2 * 0.001 / 0.0254);
  EXPECT_EQ(params->up_from, UpAxis::kZ);
  EXPECT_EQ(params->up_to, UpAxis::kY);
  EXPECT_TRUE(ValidateTaskParameters(kMeshConvertTask,
                                     JsonStruct(R"({"input":"a.obj","output":"b.step"})"), {})
                  .ok());
}

TEST(MeshConvertParamsTest, ErrorsNameTheField) {
  auto error = [](const std::string& json) {
    return std::string(ParseMeshConvertParams(JsonStruct(json)).status().message());
  };
  EXPECT_THAT(error(R"({"output":"b.glb"})"), HasSubstr("parameters.input: required"));
  EXPECT_THAT(error(R"({"input":"a.ply"})"), HasSubstr("parameters.output: required"));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"b.fbx"})"), HasSubstr("parameters.output:"));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"../b.ply"})"), HasSubstr("parameters.output:"));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"b.ply","scale":0})"),
              HasSubstr("parameters.scale"));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"b.ply","units":{"from":"mm","to":"yd"}})"),
              HasSubstr("parameters.units.to: must be one of"));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"b.ply","up_axis":{"from":"x","to":"y"}})"),
              HasSubstr("parameters.up_axis.from"));
  EXPECT_THAT(error(R"({"input":"blob","output":"b.ply"})"),
              HasSubstr("parameters.input_format: required, since the input name \"blob\""));
  EXPECT_THAT(error(R"({"input":"a.ply","output":"b.ply","colour":1})"),
              HasSubstr("parameters.colour: unknown field"));
}

class MeshConvertTaskTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(temp_.Sub("out")); }

  kiln::v1::RunTaskRequest Request(const std::string& json, const std::string& input_name,
                                   const std::string& input_path) {
    kiln::v1::RunTaskRequest request;
    request.set_task(std::string(kMeshConvertTask));
    *request.mutable_parameters() = JsonStruct(json);
    kiln::v1::LocalFile* input = request.add_inputs();
    input->set_name(input_name);
    input->set_path(input_path);
    request.set_output_dir(temp_.Sub("out"));
    return request;
  }

  absl::StatusOr<TaskOutput> Run(const kiln::v1::RunTaskRequest& request,
                                 const MeshConvertTask& task = MeshConvertTask()) {
    TaskContext context;
    context.request = &request;
    return task.Run(context);
  }

  kiln::testing::ScopedTempDir temp_;
};

TEST_F(MeshConvertTaskTest, PlyToGlbWithUnitsAndUpAxis) {
  // The input blob's path has no extension: the format comes from the input's name.
  ASSERT_TRUE(WriteMesh(testing::ColoredTetrahedron(), temp_.Sub("in.ply")).ok());
  std::filesystem::rename(temp_.Sub("in.ply"), temp_.Sub("blob-123"));
  auto output = Run(Request(R"({"input":"part.ply","output":"part.glb","scale":2,)"
                            R"("units":{"from":"cm","to":"mm"},"up_axis":{"from":"z","to":"y"}})",
                            "part.ply", temp_.Sub("blob-123")));
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 1u);
  EXPECT_EQ(output->outputs[0].name(), "part.glb");
  auto mesh = ReadMesh(output->outputs[0].path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  // (0, 0, 0.75) z-up becomes (0, 0.75, 0) y-up, times 2 * 10.
  EXPECT_EQ(mesh->positions[3], (std::array<float, 3>{0, 15, 0}));
  // (0, 2.25, 0) becomes (0, 0, -2.25) * 20.
  EXPECT_EQ(mesh->positions[2], (std::array<float, 3>{0, 0, -45}));
  EXPECT_EQ(mesh->colors, testing::ColoredTetrahedron().colors);
  const auto& fields = output->summary.fields();
  EXPECT_EQ(fields.at("vertices").number_value(), 4);
  EXPECT_EQ(fields.at("faces").number_value(), 4);
  EXPECT_EQ(fields.at("components").number_value(), 1);
  EXPECT_TRUE(fields.at("watertight").bool_value());
  EXPECT_EQ(fields.at("bbox_max").list_value().values(1).number_value(), 15);
  EXPECT_EQ(fields.at("bbox_min").list_value().values(2).number_value(), -45);
  EXPECT_EQ(fields.at("input_format").string_value(), "ply");
  EXPECT_EQ(fields.at("output_format").string_value(), "glb");
}

TEST_F(MeshConvertTaskTest, RotationKeepsTheMeshOutwardAndRoundTrips) {
  MeshConvertParams there;
  there.up_from = UpAxis::kY;
  there.up_to = UpAxis::kZ;
  MeshConvertParams back = there;
  std::swap(back.up_from, back.up_to);
  Mesh mesh = testing::ColoredTetrahedron();
  TransformMeshForConvert(there, mesh);
  EXPECT_EQ(mesh.positions[2], (std::array<float, 3>{0, 0, 2.25f}));  // +y is up now +z.
  TransformMeshForConvert(back, mesh);
  EXPECT_EQ(mesh.positions, testing::ColoredTetrahedron().positions);
  EXPECT_EQ(mesh.normals, testing::ColoredTetrahedron().normals);
}

TEST_F(MeshConvertTaskTest, AsciiStlOutput) {
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("cube.obj")).ok());
  auto output = Run(Request(R"({"input":"cube.obj","output":"cube.stl","ascii":true})", "cube.obj",
                            temp_.Sub("cube.obj")));
  ASSERT_TRUE(output.ok()) << output.status();
  std::ifstream in(output->outputs[0].path());
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "solid kiln");
  EXPECT_TRUE(output->summary.fields().at("watertight").bool_value());
}

TEST_F(MeshConvertTaskTest, NonManifoldMeshIsConvertedAndReported) {
  // Three triangles fanned around one edge (0-1), as broken scans and CSG leftovers have.
  Mesh fan;
  fan.positions = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, -1, 0}};
  fan.triangles = {{0, 1, 2}, {1, 0, 3}, {0, 1, 4}};
  ASSERT_TRUE(WriteMesh(fan, temp_.Sub("fan.stl")).ok());
  auto output =
      Run(Request(R"({"input":"fan.stl","output":"fan.ply"})", "fan.stl", temp_.Sub("fan.stl")));
  ASSERT_TRUE(output.ok()) << output.status();
  const auto& fields = output->summary.fields();
  EXPECT_FALSE(fields.at("watertight").bool_value());
  EXPECT_EQ(fields.at("non_manifold_edges").number_value(), 1);
  EXPECT_EQ(fields.at("boundary_edges").number_value(), 6);
  auto back = ReadMesh(output->outputs[0].path());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->triangles.size(), 3u);
}

TEST_F(MeshConvertTaskTest, StepWithoutHooksIsFailedPrecondition) {
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("cube.ply")).ok());
  auto output = Run(
      Request(R"({"input":"cube.ply","output":"cube.step"})", "cube.ply", temp_.Sub("cube.ply")));
  EXPECT_EQ(output.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(output.status().message(), HasSubstr("OpenCASCADE"));
  output = Run(
      Request(R"({"input":"cube.stp","output":"cube.ply"})", "cube.stp", temp_.Sub("cube.ply")));
  EXPECT_EQ(output.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::is_empty(temp_.Sub("out")));
}

TEST_F(MeshConvertTaskTest, StepHooksAreUsed) {
  MeshConvertTaskOptions options;
  std::string written;
  options.read_step = [](const std::string&) -> absl::StatusOr<Mesh> { return testing::Cube(); };
  options.write_step = [&](const Mesh& mesh, const std::string& path) {
    written = path;
    return WriteMesh(mesh, path + ".ply");  // Stands in for OCCT.
  };
  const MeshConvertTask task(options);
  auto output = Run(
      Request(R"({"input":"in.step","output":"out.glb"})", "in.step", temp_.Sub("unused")), task);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->summary.fields().at("input_format").string_value(), "step");
  EXPECT_EQ(output->summary.fields().at("faces").number_value(), 12);
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("c.stl")).ok());
  output = Run(Request(R"({"input":"c.stl","output":"c.stp"})", "c.stl", temp_.Sub("c.stl")), task);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(written, temp_.Sub("out") + "/c.stp");
}

TEST_F(MeshConvertTaskTest, PreviewAddsAnImage) {
  ASSERT_TRUE(WriteMesh(testing::ColoredTetrahedron(), temp_.Sub("t.ply")).ok());
  auto output = Run(Request(R"({"input":"t.ply","output":"t.obj","preview":{"frames":1,)"
                            R"("size":[32,32]}})",
                            "t.ply", temp_.Sub("t.ply")));
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 2u);
  EXPECT_EQ(output->outputs[1].name(), "preview.png");
  EXPECT_GT(std::filesystem::file_size(output->outputs[1].path()), 0u);
  EXPECT_TRUE(output->summary.fields().contains("preview"));
  EXPECT_THAT(
      std::string(ParseMeshConvertParams(
                      JsonStruct(R"({"input":"a.ply","output":"b.ply","preview":{"frames":0}})"))
                      .status()
                      .message()),
      HasSubstr("parameters.preview.frames"));
}

TEST_F(MeshConvertTaskTest, InputErrorsNameTheInput) {
  auto output = Run(Request(R"({"input":"other.ply","output":"b.glb"})", "a.ply", "/nowhere"));
  EXPECT_EQ(output.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      output.status().message(),
      HasSubstr("parameters.input: the job has no input named \"other.ply\" (inputs: a.ply)"));
  std::ofstream(temp_.Sub("junk")) << "not a mesh";
  output = Run(Request(R"({"input":"a.ply","output":"b.glb"})", "a.ply", temp_.Sub("junk")));
  EXPECT_EQ(output.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(output.status().message(), HasSubstr("input a.ply: "));
  EXPECT_THAT(output.status().message(), HasSubstr("bad PLY header"));
  output = Run(Request(R"({"input":"a.bin","input_format":"stl","output":"b.glb"})", "a.bin",
                       temp_.Sub("junk")));
  EXPECT_THAT(output.status().message(), HasSubstr("input a.bin: "));
}

}  // namespace
}  // namespace kiln::tasks
