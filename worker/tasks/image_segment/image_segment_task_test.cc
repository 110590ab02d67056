#include "worker/tasks/image_segment/image_segment_task.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

class ImageSegmentTaskTest : public testing::TaskFixture<ImageSegmentTask> {};

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
