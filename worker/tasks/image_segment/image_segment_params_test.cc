#include "common/image_segment_params.h"

#include <string>

#include "common/task_catalog.h"
#include "common/testing/json_struct.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::kiln::testing::JsonStruct;
using ::testing::HasSubstr;

std::string Error(const std::string& json) {
  // Through the catalog, as the scheduler validates at submit.
  const absl::Status status = ValidateTaskParameters("image.segment", JsonStruct(json), {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(status.message());
}

TEST(ImageSegmentParamsTest, Defaults) {
  absl::StatusOr<ImageSegmentParams> p =
      ParseImageSegmentParams(JsonStruct(R"({"input": "a.png"})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->input, "a.png");
  EXPECT_EQ(p->mask, ImageMaskMode::kAuto);
  EXPECT_FALSE(p->background.has_value());
  EXPECT_EQ(p->tolerance, 0.1);
  EXPECT_EQ(p->cleanup, 0);
  EXPECT_EQ(p->min_area, 64);
  EXPECT_EQ(p->max_objects, 16);
  EXPECT_EQ(p->padding, 4);
}

TEST(ImageSegmentParamsTest, AllFields) {
  absl::StatusOr<ImageSegmentParams> p = ParseImageSegmentParams(JsonStruct(R"({
      "input": "a.png", "background": [1, 2, 3], "tolerance": 0.25, "cleanup": 2,
      "min_area": 10, "max_objects": 3, "padding": 0})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->mask, ImageMaskMode::kKey);  // A background means keying.
  EXPECT_EQ(*p->background, (std::array<uint8_t, 3>{1, 2, 3}));
  EXPECT_EQ(p->tolerance, 0.25);
  EXPECT_EQ(p->cleanup, 2);
  EXPECT_EQ(p->min_area, 10);
  EXPECT_EQ(p->max_objects, 3);
  EXPECT_EQ(p->padding, 0);
  EXPECT_TRUE(ValidateTaskParameters("image.segment", JsonStruct(R"({"input": "a.png",
      "mask": "alpha"})"),
                                     {})
                  .ok());
}

TEST(ImageSegmentParamsTest, BadFieldsAreNamed) {
  EXPECT_THAT(Error("{}"), HasSubstr("parameters.input: required"));
  EXPECT_THAT(Error(R"({"input": ""})"), HasSubstr("parameters.input: must be a string"));
  EXPECT_THAT(Error(R"({"input": "a.png", "objects": 3})"),
              HasSubstr("parameters.objects: unknown field"));
  EXPECT_THAT(Error(R"({"input": "a.png", "mask": "luma"})"), HasSubstr("parameters.mask:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "mask": "alpha", "tolerance": 0.2})"),
              HasSubstr("parameters.tolerance: applies only to mask \"key\""));
  EXPECT_THAT(Error(R"({"input": "a.png", "background": [1, 2, 300]})"),
              HasSubstr("parameters.background[2]: must be an integer from 0 to 255"));
  EXPECT_THAT(Error(R"({"input": "a.png", "tolerance": 1.5})"), HasSubstr("parameters.tolerance:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "cleanup": 17})"),
              HasSubstr("parameters.cleanup: must be an integer from 0 to 16"));
  EXPECT_THAT(Error(R"({"input": "a.png", "min_area": 0})"),
              HasSubstr("parameters.min_area: must be an integer from 1 to"));
  EXPECT_THAT(Error(R"({"input": "a.png", "max_objects": 257})"),
              HasSubstr("parameters.max_objects: must be an integer from 1 to 256"));
  EXPECT_THAT(Error(R"({"input": "a.png", "max_objects": 2.5})"),
              HasSubstr("parameters.max_objects: must be an integer"));
  EXPECT_THAT(Error(R"({"input": "a.png", "padding": -1})"),
              HasSubstr("parameters.padding: must be an integer from 0 to 256"));
}

TEST(ImageSegmentParamsTest, FanOut) {
  absl::StatusOr<ImageSegmentParams> p = ParseImageSegmentParams(JsonStruct(R"({
      "input": "a.png", "fan_out": {"to3d": {"size": 2, "depth": 0.5},
      "compose": {"width": 2.4, "output": "room.glb", "preview": {"frames": 2}}}})"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->fan_out.has_value());
  EXPECT_EQ(p->fan_out->mesh_size, 2);
  EXPECT_EQ(p->fan_out->width, 2.4);
  EXPECT_EQ(p->fan_out->output, "room.glb");
  EXPECT_TRUE(p->fan_out->preview.has_value());
  EXPECT_EQ(p->fan_out->to3d.fields().at("depth").number_value(), 0.5);
  p = ParseImageSegmentParams(JsonStruct(R"({"input": "a.png", "fan_out": {}})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->fan_out->mesh_size, 1);
  EXPECT_EQ(p->fan_out->output, "scene.glb");
  EXPECT_FALSE(ParseImageSegmentParams(JsonStruct(R"({"input": "a.png"})"))->fan_out.has_value());
}

TEST(ImageSegmentParamsTest, BadFanOutFieldsAreNamed) {
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": true})"),
              HasSubstr("parameters.fan_out: must be an object"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"mesh": {}}})"),
              HasSubstr("parameters.fan_out.mesh: unknown field"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"to3d": {"input": "x.png"}}})"),
              HasSubstr("parameters.fan_out.to3d.input: is set for each object"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"to3d": {"depth": 9}}})"),
              HasSubstr("parameters.fan_out.to3d.depth:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"compose": {"width": 0}}})"),
              HasSubstr("parameters.fan_out.compose.width:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"compose": {"output": "a.obj"}}})"),
              HasSubstr("parameters.fan_out.compose.output:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"compose": {"preview": {"frames": 0}}}})"),
              HasSubstr("parameters.fan_out.compose.preview.frames:"));
  EXPECT_THAT(Error(R"({"input": "a.png", "max_objects": 64, "fan_out": {}})"),
              HasSubstr("parameters.max_objects: must be at most 63 with fan_out"));
  EXPECT_THAT(Error(R"({"input": "a.png", "fan_out": {"compose": {"objects": []}}})"),
              HasSubstr("parameters.fan_out.compose.objects: unknown field"));
}

}  // namespace
}  // namespace kiln
