#include "common/scene_compose_params.h"

#include <cmath>
#include <string>

#include "common/task_catalog.h"
#include "common/testing/json_struct.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;

using ::kiln::testing::JsonStruct;

std::string Error(const std::string& json) {
  const absl::Status status =
      ValidateTaskParameters("scene.compose", JsonStruct(json), TaskLimits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(status.message());
}

TEST(SceneComposeParamsTest, DefaultsAndConversions) {
  absl::StatusOr<SceneComposeParams> p = ParseSceneComposeParams(JsonStruct(R"({"objects": [
      {"input": "a.obj"},
      {"input": "b.glb", "name": "chair", "translation": [1, 2, 3],
       "rotation": {"axis": [1, 0, 0], "degrees": 180}, "scale": [1, 2, 0.5]}]})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->output, "scene.glb");
  ASSERT_EQ(p->objects.size(), 2u);
  EXPECT_EQ(p->objects[0].name, "a.obj");
  EXPECT_EQ(p->objects[0].rotation, (std::array<double, 4>{0, 0, 0, 1}));
  EXPECT_EQ(p->objects[0].scale, (std::array<double, 3>{1, 1, 1}));
  EXPECT_EQ(p->objects[1].name, "chair");
  EXPECT_EQ(p->objects[1].translation, (std::array<double, 3>{1, 2, 3}));
  EXPECT_NEAR(p->objects[1].rotation[0], 1, 1e-12);
  EXPECT_NEAR(p->objects[1].rotation[3], 0, 1e-12);
  EXPECT_EQ(p->objects[1].scale, (std::array<double, 3>{1, 2, 0.5}));
  EXPECT_TRUE(ValidateTaskParameters("scene.compose",
                                     JsonStruct(R"({"objects":[{"input":"a.ply"}]})"), TaskLimits{})
                  .ok());
}

TEST(SceneComposeParamsTest, RejectsBadFields) {
  EXPECT_THAT(Error("{}"), HasSubstr("parameters.objects: required"));
  EXPECT_THAT(Error(R"({"objects": []})"),
              HasSubstr("parameters.objects: must be a list of 1 to 256"));
  std::string many = R"({"objects": [)";
  for (int i = 0; i <= kMaxSceneObjects; ++i)
    many += std::string(i ? "," : "") + R"({"input":"a.ply"})";
  EXPECT_THAT(Error(many + "]}"), HasSubstr("parameters.objects: must be a list of 1 to 256"));
  EXPECT_THAT(Error(R"({"objects": [{"name": "x"}]})"),
              HasSubstr("parameters.objects[0].input: required"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply", "colour": 1}]})"),
              HasSubstr("parameters.objects[0].colour: unknown field"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply", "rotation": [0, 0, 0, 1]}]})"),
              HasSubstr("parameters.objects[0].rotation: must be an object"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply", "rotation": {"axis": [0, 1, 0]}}]})"),
              HasSubstr("parameters.objects[0].rotation.degrees: required"));
  EXPECT_THAT(
      Error(R"({"objects": [{"input": "a.ply", "rotation": {"axis": [0, 0, 0], "degrees": 5}}]})"),
      HasSubstr("parameters.objects[0].rotation.axis: must not be the zero vector"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply"}, {"input": "b.ply", "scale": 0}]})"),
              HasSubstr("parameters.objects[1].scale: each factor must be > 0"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply", "scale": [1, -1, 1]}]})"),
              HasSubstr("parameters.objects[0].scale"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply", "translation": [1, 2]}]})"),
              HasSubstr("parameters.objects[0].translation: must be a list of 3 numbers"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply"}], "preview": {"size": [1, 1]}})"),
              HasSubstr("parameters.preview.size"));
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.ply"}], "output": "scene.ply"})"),
              HasSubstr("parameters.output"));
}

TEST(SceneComposeParamsTest, LayoutAndSegments) {
  absl::StatusOr<SceneComposeParams> p = ParseSceneComposeParams(JsonStruct(R"({
      "layout": {"input": "objects.json", "width": 3, "mesh_size": 2},
      "objects": [{"input": "a.glb", "segment": 2}, {"input": "floor.ply"}]})"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->layout.has_value());
  EXPECT_EQ(p->layout->input, "objects.json");
  EXPECT_EQ(p->layout->width, 3);
  EXPECT_EQ(p->layout->mesh_size, 2);
  EXPECT_EQ(p->objects[0].segment, 2);
  EXPECT_FALSE(p->objects[1].segment.has_value());

  p = ParseSceneComposeParams(JsonStruct(R"({"layout": {"input": "o.json"},
      "objects": [{"input": "a.glb", "segment": 0}]})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->layout->width, 1);
  EXPECT_EQ(p->layout->mesh_size, 1);
  // Without a layout, nothing changes for existing parameters.
  p = ParseSceneComposeParams(JsonStruct(R"({"objects": [{"input": "a.glb"}]})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->layout.has_value());
}

TEST(SceneComposeParamsTest, RejectsBadLayouts) {
  EXPECT_THAT(Error(R"({"objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.objects[0].segment: needs parameters.layout"));
  EXPECT_THAT(Error(R"({"layout": {"input": "o.json"}, "objects": [{"input": "a.glb"}]})"),
              HasSubstr("parameters.layout: no object names a segment"));
  EXPECT_THAT(Error(R"({"layout": {"input": "o.json"},
                        "objects": [{"input": "a.glb", "segment": -1}]})"),
              HasSubstr("parameters.objects[0].segment: must be an integer from 0 to 255"));
  EXPECT_THAT(Error(R"({"layout": {"width": 2}, "objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.layout.input: required"));
  EXPECT_THAT(Error(R"({"layout": {"input": "o.json", "width": 0},
                        "objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.layout.width: must be > 0"));
  EXPECT_THAT(Error(R"({"layout": {"input": "o.json", "mesh_size": "big"},
                        "objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.layout.mesh_size:"));
  EXPECT_THAT(Error(R"({"layout": {"input": "o.json", "depth": 1},
                        "objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.layout.depth: unknown field"));
  EXPECT_THAT(Error(R"({"layout": "o.json", "objects": [{"input": "a.glb", "segment": 0}]})"),
              HasSubstr("parameters.layout: must be an object"));
}

}  // namespace
}  // namespace kiln
