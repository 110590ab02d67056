// The Khronos glTF validator (npm gltf-validator, installed by `npm ci` in tests/gltf;
// scripts/test.sh does it) on GLB files written by Kiln's writer. A missing validator or
// node fails these tests: they never skip.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/gltf/gltf_validate.h"
#include "tests/support/subprocess.h"
#include "worker/tasks/image_to3d/image_to3d_task.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/meshio/mesh_file.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/meshio/testing/test_meshes.h"
#include "worker/tasks/scene_compose/scene_compose_task.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

kiln::testing::CommandResult Validate(const std::vector<std::string>& files) {
  return kiln::testing::ValidateGltf(files);
}

class GltfValidatorTest : public kiln::testing::GltfValidatorFixture {
 protected:
  kiln::testing::ScopedTempDir temp_;
};

TEST_F(GltfValidatorTest, MeshWithNormalsAndColorsAndSceneOfThreeNodesAreValid) {
  const std::string mesh_path = temp_.Sub("tetrahedron.glb");
  ASSERT_TRUE(WriteGlb(testing::ColoredTetrahedron(), mesh_path).ok());

  std::vector<SceneNode> nodes(3);
  nodes[0] = {.name = "colored", .mesh = testing::ColoredTetrahedron(), .translation = {-3, 0, 0}};
  nodes[1] = {.name = "turned", .mesh = testing::Cube(), .rotation = {0, 0.6, 0, 0.8}};
  nodes[2] = {
      .name = "scaled", .mesh = testing::Cube(), .translation = {3, 0, 0}, .scale = {2, 0.5, 1}};
  const std::string scene_path = temp_.Sub("scene.glb");
  ASSERT_TRUE(WriteGlbScene(nodes, scene_path).ok());

  const std::string empty_path = temp_.Sub("empty.glb");
  ASSERT_TRUE(WriteGlb(Mesh{}, empty_path).ok());

  const kiln::testing::CommandResult result = Validate({mesh_path, scene_path, empty_path});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("tetrahedron.glb: 0 errors"));
  EXPECT_THAT(result.out, HasSubstr("scene.glb: 0 errors"));
  EXPECT_THAT(result.out, HasSubstr("empty.glb: 0 errors"));
  std::cout << result.out;
}

// The validator really runs: a file with POSITION bounds removed must fail.
TEST_F(GltfValidatorTest, BrokenFileFails) {
  const std::string path = temp_.Sub("good.glb");
  ASSERT_TRUE(WriteGlb(testing::Cube(), path).ok());
  absl::StatusOr<std::string> bytes = ReadMeshFile(path);
  ASSERT_TRUE(bytes.ok());
  // Same lengths, so the container stays consistent; only the JSON changes.
  const std::string broken =
      absl::StrReplaceAll(*bytes, {{"\"min\":", "\"mjn\":"}, {"\"max\":", "\"mjx\":"}});
  ASSERT_NE(broken, *bytes);
  const std::string broken_path = temp_.Sub("broken.glb");
  std::ofstream(broken_path, std::ios::binary) << broken;
  const kiln::testing::CommandResult result = Validate({broken_path});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("MESH_PRIMITIVE_POSITION_ACCESSOR_WITHOUT_BOUNDS"));
}

// The GLBs of image.to3d (the photo-like fixture, vertex colours and normals) and of
// scene.compose (three meshes from three formats, one node each), written by the tasks.
TEST_F(GltfValidatorTest, ImageTo3dAndSceneComposeOutputsAreValid) {
  auto run = [&](const Task& task, const std::string& json,
                 const std::vector<std::pair<std::string, std::string>>& inputs) {
    kiln::v1::RunTaskRequest request;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(json, request.mutable_parameters()).ok());
    for (const auto& [name, path] : inputs) {
      kiln::v1::LocalFile* input = request.add_inputs();
      input->set_name(name);
      input->set_path(path);
    }
    request.set_output_dir(temp_.path());
    TaskContext context;
    context.request = &request;
    return task.Run(context);
  };
  absl::StatusOr<TaskOutput> image =
      run(ImageTo3dTask(), R"({"input": "photo.png", "output": "image_to3d.glb"})",
          {{"photo.png", KILN_TEST_DATA_DIR "/images/photo_like_object.png"}});
  ASSERT_TRUE(image.ok()) << image.status();

  ASSERT_TRUE(WriteMesh(testing::ColoredTetrahedron(), temp_.Sub("tetra.ply")).ok());
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("cube.obj")).ok());
  ASSERT_TRUE(WriteMesh(testing::Cube(), temp_.Sub("cube.stl")).ok());
  absl::StatusOr<TaskOutput> scene = run(SceneComposeTask(), R"({"objects": [
      {"input": "tetra.ply", "translation": [-3, 0, 0]},
      {"input": "cube.obj", "rotation": {"axis": [0, 1, 0], "degrees": 30}},
      {"input": "cube.stl", "translation": [3, 0, 0], "scale": [2, 0.5, 1]}],
      "output": "scene_compose.glb"})",
                                         {{"tetra.ply", temp_.Sub("tetra.ply")},
                                          {"cube.obj", temp_.Sub("cube.obj")},
                                          {"cube.stl", temp_.Sub("cube.stl")}});
  ASSERT_TRUE(scene.ok()) << scene.status();

  const kiln::testing::CommandResult result =
      Validate({image->outputs[0].path(), scene->outputs[0].path()});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("image_to3d.glb: 0 errors"));
  EXPECT_THAT(result.out, HasSubstr("scene_compose.glb: 0 errors"));
  std::cout << result.out;
}

}  // namespace
}  // namespace kiln::tasks
