#include "worker/tasks/image_segment/image_segment_task.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/scene_compose_params.h"
#include "common/task_catalog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/tasks/image_segment/segment_layout.h"
#include "worker/tasks/testing/task_fixture.h"

namespace kiln::tasks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFixture[] = KILN_TEST_DATA_DIR "/images/three_objects.png";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class ImageSegmentTaskTest : public testing::TaskFixture<ImageSegmentTask> {
 protected:
  // Runs with `json` and a submit_children that records the call and answers `answer`.
  absl::StatusOr<TaskOutput> RunFanOut(const std::string& json,
                                       absl::StatusOr<std::vector<std::string>> answer) {
    *request_.mutable_parameters() = kiln::testing::JsonStruct(json);
    TaskContext context;
    context.request = &request_;
    context.submit_children = [&](std::string_view call_id,
                                  const std::vector<kiln::v1::ExecChildSpec>& children) {
      call_id_ = std::string(call_id);
      children_ = children;
      return answer;
    };
    return ImageSegmentTask().Run(context);
  }
  std::string call_id_;
  std::vector<kiln::v1::ExecChildSpec> children_;
};

TEST_F(ImageSegmentTaskTest, FanOutSubmitsOneTo3dPerObjectAndAComposeOfThemAll) {
  AddInputFile("scene.png", kFixture);
  absl::StatusOr<TaskOutput> output =
      RunFanOut(R"({"input": "scene.png", "fan_out": {"to3d": {"size": 2, "resolution": 64},
                   "compose": {"width": 2.4, "output": "room.glb"}}})",
                std::vector<std::string>{"j-a", "j-b", "j-c", "j-d"});
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(call_id_, "segment-fan-out");
  ASSERT_EQ(children_.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const kiln::v1::JobSpec& spec = children_[i].spec();
    EXPECT_EQ(spec.task(), "image.to3d");
    EXPECT_EQ(spec.client_request_id(), "segment-to3d-" + std::to_string(i));
    EXPECT_EQ(spec.parameters().fields().at("input").string_value(),
              "object-" + std::to_string(i) + ".png");
    EXPECT_EQ(spec.parameters().fields().at("resolution").number_value(), 64);
    // Valid as the scheduler will check it at submit.
    EXPECT_TRUE(ValidateTaskParameters(spec.task(), spec.parameters(), {}).ok());
    ASSERT_EQ(children_[i].files_size(), 1);
    EXPECT_EQ(children_[i].files(0).name(), "object-" + std::to_string(i) + ".png");
    EXPECT_EQ(children_[i].files(0).path(), output->outputs[2 * i].path());
  }
  const kiln::v1::JobSpec& compose = children_[3].spec();
  EXPECT_EQ(compose.task(), "scene.compose");
  ASSERT_EQ(compose.dependencies_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(compose.dependencies(i).batch_index(), i);
    EXPECT_EQ(compose.dependencies(i).input_prefix(), "object-" + std::to_string(i) + ".");
  }
  EXPECT_TRUE(ValidateTaskParameters(compose.task(), compose.parameters(), {}).ok());
  absl::StatusOr<SceneComposeParams> scene = ParseSceneComposeParams(compose.parameters());
  ASSERT_TRUE(scene.ok()) << scene.status();
  EXPECT_EQ(scene->output, "room.glb");
  ASSERT_TRUE(scene->layout.has_value());
  EXPECT_EQ(scene->layout->input, "objects.json");
  EXPECT_EQ(scene->layout->width, 2.4);
  EXPECT_EQ(scene->layout->mesh_size, 2);  // The to3d size.
  ASSERT_EQ(scene->objects.size(), 3u);
  EXPECT_EQ(scene->objects[2].input, "object-2.mesh.glb");  // Prefix + to3d's output.
  EXPECT_EQ(scene->objects[2].segment, 2);
  ASSERT_EQ(children_[3].files_size(), 1);
  EXPECT_EQ(children_[3].files(0).path(), output->outputs.back().path());  // objects.json

  const auto& summary = output->summary.fields();
  EXPECT_EQ(summary.at("scene_job").string_value(), "j-d");
  EXPECT_EQ(summary.at("children").list_value().values_size(), 4);
}

TEST_F(ImageSegmentTaskTest, FanOutFailsWithTheSubmissionsError) {
  AddInputFile("scene.png", kFixture);
  absl::StatusOr<TaskOutput> output =
      RunFanOut(R"({"input": "scene.png", "fan_out": {}})",
                absl::FailedPreconditionError("job j-1 attempt 1 does not hold the lease"));
  EXPECT_TRUE(absl::IsFailedPrecondition(output.status())) << output.status();
  EXPECT_THAT(output.status().message(), HasSubstr("fan_out: job j-1 attempt 1"));
  // Without a worker to submit through, fan_out is refused.
  output = Run(R"({"input": "scene.png", "fan_out": {}})");
  EXPECT_TRUE(absl::IsFailedPrecondition(output.status())) << output.status();
  EXPECT_THAT(output.status().message(), HasSubstr("cannot submit child jobs"));
}

TEST_F(ImageSegmentTaskTest, ThreeObjectsGiveCropsMasksAndObjectsJson) {
  AddInputFile("scene.png", kFixture);
  absl::StatusOr<TaskOutput> output = Run(R"({"input": "scene.png"})");
  ASSERT_TRUE(output.ok()) << output.status();
  std::vector<std::string> names;
  for (const auto& file : output->outputs) names.push_back(file.name());
  EXPECT_THAT(names, ElementsAre("object-0.png", "mask-0.png", "object-1.png", "mask-1.png",
                                 "object-2.png", "mask-2.png", "objects.json"));
  const auto& summary = output->summary.fields();
  EXPECT_EQ(summary.at("objects").number_value(), 3);
  EXPECT_EQ(summary.at("components").number_value(), 5);
  EXPECT_EQ(summary.at("dropped_small").number_value(), 2);
  EXPECT_EQ(summary.at("mask").string_value(), "key");
  EXPECT_EQ(summary.at("image_size").list_value().values(0).number_value(), 240);

  absl::StatusOr<SegmentLayout> layout =
      ParseSegmentLayout(ReadFile(output->outputs.back().path()), "objects.json");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->width, 240);
  EXPECT_EQ(layout->height, 120);
  ASSERT_EQ(layout->objects.size(), 3u);
  const SegmentLayoutObject& rect = layout->objects[1];
  EXPECT_EQ(rect.index, 1);
  EXPECT_EQ(rect.bbox, (PixelBox{96, 34, 48, 56}));
  EXPECT_EQ(rect.crop_box, (PixelBox{92, 30, 56, 64}));  // Default padding 4.
  EXPECT_EQ(rect.area, 2688);
  EXPECT_EQ(rect.crop, "object-1.png");
  EXPECT_EQ(rect.mask, "mask-1.png");

  // The crop: the rectangle's pixels opaque and green, the padding transparent.
  absl::StatusOr<image::Image> crop = image::ReadPng(output->outputs[2].path());
  ASSERT_TRUE(crop.ok()) << crop.status();
  EXPECT_EQ(crop->width, 56);
  EXPECT_EQ(crop->height, 64);
  int opaque = 0;
  for (size_t i = 0; i < crop->rgba.size(); i += 4) {
    if (crop->rgba[i + 3] == 0) continue;
    ++opaque;
    EXPECT_GT(crop->rgba[i + 1], 150);
  }
  EXPECT_EQ(opaque, 2688);
  EXPECT_EQ(crop->pixel(3, 3)[3], 0);
  absl::StatusOr<image::Image> mask = image::ReadPng(output->outputs[3].path());
  ASSERT_TRUE(mask.ok()) << mask.status();
  EXPECT_EQ(mask->width, 240);
  EXPECT_EQ(mask->pixel(120, 62)[0], 255);
  EXPECT_EQ(mask->pixel(50, 62)[0], 0);
}

TEST_F(ImageSegmentTaskTest, MaxObjectsLimitsTheOutputs) {
  AddInputFile("scene.png", kFixture);
  absl::StatusOr<TaskOutput> output =
      Run(R"({"input": "scene.png", "max_objects": 1, "padding": 0})");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 3u);
  EXPECT_EQ(output->summary.fields().at("objects").number_value(), 1);
  EXPECT_EQ(output->summary.fields().at("dropped_over_limit").number_value(), 2);
  absl::StatusOr<image::Image> crop = image::ReadPng(output->outputs[0].path());
  ASSERT_TRUE(crop.ok()) << crop.status();
  EXPECT_EQ(crop->width, 48);  // The rectangle, the largest.
  EXPECT_EQ(crop->height, 56);
}

TEST_F(ImageSegmentTaskTest, BadInputsGiveClearErrors) {
  absl::StatusOr<TaskOutput> missing = Run(R"({"input": "scene.png"})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("parameters.input: the job has no input named \"scene.png\""));

  AddInputFile("scene.png", kFixture);
  absl::StatusOr<TaskOutput> params = Run(R"({"input": "scene.png", "min_area": -3})");
  EXPECT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(params.status().message(), HasSubstr("parameters.min_area:"));

  // Every object is below min_area: an error, and nothing written.
  absl::StatusOr<TaskOutput> none = Run(R"({"input": "scene.png", "min_area": 5000})");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(),
              HasSubstr("input \"scene.png\": image has no objects: 6882 foreground pixels in 5 "
                        "components, each smaller than parameters.min_area (5000 pixels)"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("out")));

  const std::string junk = dir_.WriteFile("junk.png", "not a png at all");
  AddInputFile("junk.png", junk);
  absl::StatusOr<TaskOutput> corrupt = Run(R"({"input": "junk.png"})");
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("input \"junk.png\": "));
  EXPECT_THAT(corrupt.status().message(), ::testing::Not(HasSubstr(dir_.path())));
}

}  // namespace
}  // namespace kiln::tasks
