#include "worker/tasks/scene_compose/scene_compose_task.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tiny_gltf.h"
#include "worker/tasks/image_segment/segment_layout.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/testing/task_fixture.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

// An axis-aligned box from lo to hi: 8 vertices, 12 outward triangles.
Mesh Box(std::array<float, 3> lo, std::array<float, 3> hi) {
  Mesh m;
  for (int i = 0; i < 8; ++i) {
    m.positions.push_back({i & 1 ? hi[0] : lo[0], i & 2 ? hi[1] : lo[1], i & 4 ? hi[2] : lo[2]});
  }
  m.triangles = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4},
                 {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}};
  return m;
}

Mesh Tetrahedron() {
  Mesh m;
  m.positions = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  m.triangles = {{0, 2, 1}, {0, 1, 3}, {0, 3, 2}, {1, 2, 3}};
  return m;
}

class SceneComposeTaskTest : public testing::TaskFixture<SceneComposeTask> {
 protected:
  void SetUp() override {
    TaskFixture::SetUp();
    if (HasFatalFailure()) return;
    std::filesystem::create_directories(dir_.Sub("in"));
  }

  // Writes `mesh` as input `name` (format by its extension).
  void AddInput(const std::string& name, const Mesh& mesh) {
    const std::string path = dir_.Sub("in/" + name);
    ASSERT_TRUE(WriteMesh(mesh, path).ok()) << name;
    AddInputFile(name, path);
  }
};

TEST_F(SceneComposeTaskTest, ThreeMeshesBecomeThreeNodesWithTheirTransforms) {
  AddInput("box.ply", Box({-1, -1, -1}, {1, 1, 1}));
  AddInput("tetra.obj", Tetrahedron());
  AddInput("slab.stl", Box({0, 0, 0}, {2, 0.5f, 1}));
  absl::StatusOr<TaskOutput> output = Run(R"({
    "objects": [
      {"input": "box.ply", "name": "box", "translation": [10, 0, 0]},
      {"input": "tetra.obj", "name": "tetra", "rotation": {"axis": [0, 0, 2], "degrees": 90},
       "scale": 2},
      {"input": "slab.stl", "translation": [0, -5, 1], "scale": [1, 2, 3]}
    ],
    "output": "scene.glb"})");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 1u);
  EXPECT_EQ(output->outputs[0].name(), "scene.glb");
  const auto& summary = output->summary.fields();
  EXPECT_EQ(summary.at("nodes").number_value(), 3);
  EXPECT_EQ(summary.at("faces").number_value(), 12 + 4 + 12);
  EXPECT_EQ(summary.at("vertices").number_value(), 8 + 4 + 8);

  tinygltf::Model model;
  tinygltf::TinyGLTF loader;
  std::string error, warning;
  ASSERT_TRUE(loader.LoadBinaryFromFile(&model, &error, &warning, output->outputs[0].path()))
      << error;
  // The three objects' nodes, in order, whatever else the writer adds.
  std::vector<const tinygltf::Node*> nodes;
  for (const tinygltf::Node& node : model.nodes) {
    if (node.mesh >= 0) nodes.push_back(&node);
  }
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0]->name, "box");
  EXPECT_EQ(nodes[1]->name, "tetra");
  EXPECT_EQ(nodes[2]->name, "slab.stl");  // Defaults to the input name.
  auto vec = [](const std::vector<double>& v, size_t n, double fill) {
    std::vector<double> out = v;
    if (out.empty()) out.assign(n, fill);
    return out;
  };
  EXPECT_THAT(vec(nodes[0]->translation, 3, 0), ::testing::ElementsAre(10, 0, 0));
  const std::vector<double> r = vec(nodes[1]->rotation, 4, 0);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_NEAR(r[0], 0, 1e-9);
  EXPECT_NEAR(r[1], 0, 1e-9);
  EXPECT_NEAR(r[2], std::sqrt(0.5), 1e-9);
  EXPECT_NEAR(r[3], std::sqrt(0.5), 1e-9);
  EXPECT_THAT(vec(nodes[1]->scale, 3, 1), ::testing::ElementsAre(2, 2, 2));
  EXPECT_THAT(vec(nodes[2]->translation, 3, 0), ::testing::ElementsAre(0, -5, 1));
  EXPECT_THAT(vec(nodes[2]->scale, 3, 1), ::testing::ElementsAre(1, 2, 3));
  EXPECT_TRUE(nodes[2]->rotation.empty() ||
              (nodes[2]->rotation == std::vector<double>{0, 0, 0, 1}));

  // The scene's box: the box at x 9..11; the tetrahedron scaled by 2 and turned 90
  // degrees about z (x -> y, y -> -x): x -2..0, y 0..2, z 0..2; the slab at x 0..2,
  // y -5..-4, z 1..4.
  const auto list = [&](const char* key) {
    std::vector<double> v;
    for (const auto& x : summary.at(key).list_value().values()) v.push_back(x.number_value());
    return v;
  };
  const std::vector<double> lo = list("bbox_min"), hi = list("bbox_max");
  const std::vector<double> want_lo = {-2, -5, -1}, want_hi = {11, 2, 4};
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(lo[a], want_lo[a], 1e-5) << a;
    EXPECT_NEAR(hi[a], want_hi[a], 1e-5) << a;
  }
  // Read back merged with the transforms applied, the same box.
  absl::StatusOr<Mesh> merged = ReadGlb(output->outputs[0].path());
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->triangles.size(), 28u);
  std::array<double, 3> mlo{1e9, 1e9, 1e9}, mhi{-1e9, -1e9, -1e9};
  for (const auto& p : merged->positions) {
    for (int a = 0; a < 3; ++a) {
      mlo[a] = std::min<double>(mlo[a], p[a]);
      mhi[a] = std::max<double>(mhi[a], p[a]);
    }
  }
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(mlo[a], want_lo[a], 1e-4) << a;
    EXPECT_NEAR(mhi[a], want_hi[a], 1e-4) << a;
  }
}

TEST_F(SceneComposeTaskTest, OneInputPlacedTwice) {
  AddInput("tetra.ply", Tetrahedron());
  absl::StatusOr<TaskOutput> output = Run(R"({"objects": [
      {"input": "tetra.ply", "name": "a"},
      {"input": "tetra.ply", "name": "b", "translation": [3, 0, 0]}],
      "preview": {"frames": 1, "size": [32, 32]}})");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 2u);
  EXPECT_EQ(output->outputs[0].name(), "scene.glb");
  EXPECT_EQ(output->outputs[1].name(), "preview.png");
  EXPECT_EQ(output->summary.fields().at("nodes").number_value(), 2);
  EXPECT_EQ(output->summary.fields().at("faces").number_value(), 8);
}

TEST_F(SceneComposeTaskTest, BadInputsGiveClearErrors) {
  AddInput("tetra.ply", Tetrahedron());
  absl::StatusOr<TaskOutput> missing =
      Run(R"({"objects": [{"input": "tetra.ply"}, {"input": "chair.obj"}]})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("parameters.objects[1].input: the job has no input named \"chair.obj\""));

  absl::StatusOr<TaskOutput> rotation = Run(
      R"({"objects": [{"input": "tetra.ply", "rotation": {"axis": [0, 0, 0], "degrees": 10}}]})");
  EXPECT_EQ(rotation.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rotation.status().message(),
              HasSubstr("parameters.objects[0].rotation.axis: must not be the zero vector"));

  // A file that is not what its name says.
  const std::string junk = dir_.Sub("in/junk.stl");
  { std::ofstream(junk) << "solid x\n  facet normal 0 0 1\n    outer loop\n      vertex 1 2"; }
  AddInputFile("junk.stl", junk);
  absl::StatusOr<TaskOutput> corrupt = Run(R"({"objects": [{"input": "junk.stl"}]})");
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("input \"junk.stl\" (objects[0].input)"));

  // An input whose name says no mesh format.
  AddInputFile("notes.txt", junk);
  absl::StatusOr<TaskOutput> format = Run(R"({"objects": [{"input": "notes.txt"}]})");
  EXPECT_THAT(format.status().message(), HasSubstr("parameters.objects[0].input: cannot read"));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("out/scene.glb")));
}

// objects.json of a 200 x 100 image with two objects.
SegmentLayout TwoObjectLayout() {
  SegmentLayout layout;
  layout.width = 200;
  layout.height = 100;
  layout.objects.push_back({.index = 0,
                            .bbox = {14, 24, 32, 32},
                            .centroid = {30, 40},
                            .area = 900,
                            .crop = "object-0.png",
                            .crop_box = {10, 20, 40, 40},
                            .mask = "mask-0.png"});
  layout.objects.push_back({.index = 1,
                            .bbox = {154, 54, 12, 22},
                            .centroid = {160, 65},
                            .area = 200,
                            .crop = "object-1.png",
                            .crop_box = {150, 50, 20, 30},
                            .mask = "mask-1.png"});
  return layout;
}

TEST_F(SceneComposeTaskTest, SegmentsArePlacedWhereTheyStoodInTheImage) {
  AddInput("a.ply", Tetrahedron());
  AddInput("b.ply", Box({-0.5f, -0.5f, -0.5f}, {0.5f, 0.5f, 0.5f}));
  AddInputFile("objects.json",
               dir_.WriteFile("objects.json", SegmentLayoutToJson(TwoObjectLayout())));
  // 4 scene units across 200 pixels: 0.02 a pixel. Object 0's crop is centred on pixel
  // (30, 40), 70 left of and 10 above the image centre (100, 50); object 1's on (160, 65).
  absl::StatusOr<TaskOutput> output = Run(R"({
    "layout": {"input": "objects.json", "width": 4},
    "objects": [
      {"input": "a.ply", "name": "left", "segment": 0},
      {"input": "b.ply", "name": "right", "segment": 1, "translation": [0, 0, 0.5], "scale": 2},
      {"input": "b.ply", "name": "free", "translation": [7, 0, 0]}]})");
  ASSERT_TRUE(output.ok()) << output.status();
  tinygltf::Model model;
  tinygltf::TinyGLTF loader;
  std::string error, warning;
  ASSERT_TRUE(loader.LoadBinaryFromFile(&model, &error, &warning, output->outputs[0].path()))
      << error;
  std::map<std::string, const tinygltf::Node*> nodes;
  for (const tinygltf::Node& node : model.nodes) {
    if (node.mesh >= 0) nodes[node.name] = &node;
  }
  ASSERT_EQ(nodes.size(), 3u);
  auto near3 = [](const std::vector<double>& v, std::array<double, 3> want) {
    ASSERT_EQ(v.size(), 3u);
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(v[a], want[a], 1e-6) << a;
  };
  near3(nodes["left"]->translation, {-1.4, 0.2, 0});
  near3(nodes["left"]->scale, {0.8, 0.8, 0.8});  // 40 pixels of crop: 0.8 units.
  near3(nodes["right"]->translation, {1.2, -0.3, 0.5});
  near3(nodes["right"]->scale, {0.8, 0.8, 0.8});  // 2 x 20 pixels.
  near3(nodes["free"]->translation, {7, 0, 0});
  const std::vector<double>& free_scale = nodes["free"]->scale;
  EXPECT_TRUE(free_scale.empty() || free_scale == std::vector<double>({1, 1, 1}));

  // mesh_size: meshes made 2 units wide per crop are scaled by half as much.
  output = Run(R"({"layout": {"input": "objects.json", "width": 4, "mesh_size": 2},
                   "objects": [{"input": "a.ply", "segment": 0}]})");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(loader.LoadBinaryFromFile(&model, &error, &warning, output->outputs[0].path()))
      << error;
  for (const tinygltf::Node& node : model.nodes) {
    if (node.mesh >= 0) near3(node.scale, {0.4, 0.4, 0.4});
  }
}

TEST_F(SceneComposeTaskTest, BadLayoutsGiveClearErrors) {
  AddInput("a.ply", Tetrahedron());
  absl::StatusOr<TaskOutput> missing = Run(
      R"({"layout": {"input": "objects.json"}, "objects": [{"input": "a.ply", "segment": 0}]})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("parameters.layout.input: the job has no input named \"objects.json\""));

  AddInputFile("objects.json",
               dir_.WriteFile("objects.json", SegmentLayoutToJson(TwoObjectLayout())));
  absl::StatusOr<TaskOutput> beyond = Run(
      R"({"layout": {"input": "objects.json"}, "objects": [{"input": "a.ply", "segment": 2}]})");
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(beyond.status().message(),
              HasSubstr("parameters.objects[0].segment: input \"objects.json\" (layout.input) has "
                        "no object 2 (it has 2)"));

  AddInputFile("junk.json", dir_.WriteFile("junk.json", R"({"format": "other"})"));
  absl::StatusOr<TaskOutput> junk =
      Run(R"({"layout": {"input": "junk.json"}, "objects": [{"input": "a.ply", "segment": 0}]})");
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(junk.status().message(),
              HasSubstr("input \"junk.json\" (layout.input): format: is \"other\""));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("out/scene.glb")));
}

TEST(ApplySceneTransformTest, ScaleThenRotateThenTranslate) {
  SceneObjectParams object;
  object.scale = {2, 1, 1};
  // 90 degrees about +y: x -> -z.
  object.rotation = {0, std::sqrt(0.5), 0, std::sqrt(0.5)};
  object.translation = {0, 0, 5};
  const std::array<double, 3> p = ApplySceneTransform(object, {1, 0, 0});
  EXPECT_NEAR(p[0], 0, 1e-12);
  EXPECT_NEAR(p[1], 0, 1e-12);
  EXPECT_NEAR(p[2], 3, 1e-12);
}

}  // namespace
}  // namespace kiln::tasks
