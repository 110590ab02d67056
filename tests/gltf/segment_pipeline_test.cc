// The image -> objects -> 3D scene pipeline in-process: image.segment on the three-object
// fixture, image.to3d on each crop, scene.compose placing the meshes by objects.json;
// the scene is checked by the Khronos glTF validator and by where its nodes landed.
#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/gltf/glb_mesh_nodes.h"
#include "tests/gltf/gltf_validate.h"
#include "tiny_gltf.h"
#include "worker/tasks/image_segment/image_segment_task.h"
#include "worker/tasks/image_to3d/image_to3d_task.h"
#include "worker/tasks/scene_compose/scene_compose_task.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class SegmentPipelineTest : public kiln::testing::GltfValidatorFixture {
 protected:
  // Runs `task` with its outputs in a directory of its own; inputs are (name, path).
  absl::StatusOr<TaskOutput> RunTask(const Task& task, const std::string& json,
                                     const std::vector<std::pair<std::string, std::string>>& inputs,
                                     const std::string& out) {
    kiln::v1::RunTaskRequest request;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(json, request.mutable_parameters()).ok())
        << json;
    for (const auto& [name, path] : inputs) {
      kiln::v1::LocalFile* input = request.add_inputs();
      input->set_name(name);
      input->set_path(path);
    }
    std::filesystem::create_directories(temp_.Sub(out));
    request.set_output_dir(temp_.Sub(out));
    TaskContext context;
    context.request = &request;
    return task.Run(context);
  }

  kiln::testing::ScopedTempDir temp_;
};

// A node's placed x and y extents: its mesh's POSITION bounds, scaled and translated
// (the pipeline sets no rotation).
struct Extent {
  double x0, x1, y0, y1;
};

Extent PlacedExtent(const tinygltf::Model& model, const tinygltf::Node& node) {
  const tinygltf::Accessor& position =
      model.accessors[model.meshes[node.mesh].primitives[0].attributes.at("POSITION")];
  const std::vector<double> s = node.scale.empty() ? std::vector<double>{1, 1, 1} : node.scale;
  const std::vector<double> t =
      node.translation.empty() ? std::vector<double>{0, 0, 0} : node.translation;
  return {t[0] + s[0] * position.minValues[0], t[0] + s[0] * position.maxValues[0],
          t[1] + s[1] * position.minValues[1], t[1] + s[1] * position.maxValues[1]};
}

TEST_F(SegmentPipelineTest, ThreeObjectsBecomeThreeNodesWhereTheyStood) {
  // 1. Segment the 240 x 120 fixture (make_three_objects.py).
  absl::StatusOr<TaskOutput> segments =
      RunTask(ImageSegmentTask(), R"({"input": "three_objects.png"})",
              {{"three_objects.png", KILN_TEST_DATA_DIR "/images/three_objects.png"}}, "segment");
  ASSERT_TRUE(segments.ok()) << segments.status();
  ASSERT_EQ(segments->summary.fields().at("objects").number_value(), 3);
  std::vector<std::pair<std::string, std::string>> compose_inputs;
  std::vector<std::string> crops;
  for (const kiln::v1::LocalFile& file : segments->outputs) {
    if (file.name() == "objects.json") compose_inputs.emplace_back(file.name(), file.path());
    if (file.name().starts_with("object-")) crops.push_back(file.path());
  }
  ASSERT_EQ(compose_inputs.size(), 1u);
  ASSERT_EQ(crops.size(), 3u);

  // 2. One image.to3d per crop (size 1: the crop's width is one unit).
  std::string objects_json;
  for (int i = 0; i < 3; ++i) {
    const std::string crop = absl::StrCat("object-", i, ".png");
    const std::string mesh = absl::StrCat("object-", i, ".glb");
    absl::StatusOr<TaskOutput> to3d = RunTask(
        ImageTo3dTask(), absl::StrCat(R"({"input": ")", crop, R"(", "output": ")", mesh, R"("})"),
        {{crop, crops[i]}}, absl::StrCat("to3d-", i));
    ASSERT_TRUE(to3d.ok()) << crop << ": " << to3d.status();
    compose_inputs.emplace_back(mesh, to3d->outputs[0].path());
    absl::StrAppend(&objects_json, i ? ", " : "", R"({"input": ")", mesh, R"(", "name": "object-)",
                    i, R"(", "segment": )", i, "}");
  }

  // 3. Compose: 240 pixels span 2.4 units, so a pixel is 0.01 and the image centre
  // (120, 60) is the origin.
  absl::StatusOr<TaskOutput> scene =
      RunTask(SceneComposeTask(),
              absl::StrCat(R"({"layout": {"input": "objects.json", "width": 2.4}, "objects": [)",
                           objects_json, "]}"),
              compose_inputs, "compose");
  ASSERT_TRUE(scene.ok()) << scene.status();
  const std::string glb = scene->outputs[0].path();

  const kiln::testing::CommandResult result = kiln::testing::ValidateGltf({glb});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("scene.glb: 0 errors"));
  std::cout << result.out;

  kiln::testing::GlbMeshNodes scene_nodes;
  kiln::testing::LoadGlbMeshNodes(glb, &scene_nodes);
  ASSERT_TRUE(scene_nodes.error.empty()) << scene_nodes.error;
  const tinygltf::Model& model = scene_nodes.model;
  const std::vector<const tinygltf::Node*>& nodes = scene_nodes.nodes;
  ASSERT_EQ(nodes.size(), 3u);
  // Left, middle, right: the disc centred on pixel (50, 62), the rectangle's box
  // x 96..144, y 34..90, the triangle's x 158..222, y 29..92 (bbox centres; y flips up).
  const std::array<std::array<double, 2>, 3> centre = {
      {{-0.70, -0.02}, {0.0, -0.02}, {0.70, -0.005}}};
  const std::array<Extent, 3> box = {
      {{-0.96, -0.44, -0.28, 0.24}, {-0.24, 0.24, -0.30, 0.26}, {0.38, 1.02, -0.32, 0.31}}};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(nodes[i]->name);
    EXPECT_EQ(nodes[i]->name, absl::StrCat("object-", i));
    ASSERT_EQ(nodes[i]->translation.size(), 3u);
    EXPECT_NEAR(nodes[i]->translation[0], centre[i][0], 1e-9);
    EXPECT_NEAR(nodes[i]->translation[1], centre[i][1], 1e-9);
    EXPECT_NEAR(nodes[i]->translation[2], 0, 1e-9);
    // The placed mesh covers the object's pixels: within 2 pixels (the outline
    // smoothing moves it well under one) of its box in the image.
    const Extent e = PlacedExtent(model, *nodes[i]);
    EXPECT_NEAR(e.x0, box[i].x0, 0.02);
    EXPECT_NEAR(e.x1, box[i].x1, 0.02);
    EXPECT_NEAR(e.y0, box[i].y0, 0.02);
    EXPECT_NEAR(e.y1, box[i].y1, 0.02);
  }
  EXPECT_LT(nodes[0]->translation[0], nodes[1]->translation[0]);
  EXPECT_LT(nodes[1]->translation[0], nodes[2]->translation[0]);
}

}  // namespace
}  // namespace kiln::tasks
