#include "common/image_to3d_params.h"

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
  const absl::Status status = ValidateTaskParameters("image.to3d", JsonStruct(json), TaskLimits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(status.message());
}

TEST(ImageTo3dParamsTest, Defaults) {
  absl::StatusOr<ImageTo3dParams> p = ParseImageTo3dParams(JsonStruct(R"({"input": "photo"})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->input, "photo");
  EXPECT_EQ(p->mask, ImageMaskMode::kAuto);
  EXPECT_FALSE(p->background.has_value());
  EXPECT_EQ(p->resolution, kDefaultImageTo3dResolution);
  EXPECT_EQ(p->components, 1);
  EXPECT_EQ(p->output, "mesh.glb");
  EXPECT_FALSE(p->preview.has_value());
  EXPECT_TRUE(IsKnownTask("image.to3d"));
}

TEST(ImageTo3dParamsTest, BackgroundImpliesKeyMode) {
  absl::StatusOr<ImageTo3dParams> p = ParseImageTo3dParams(
      JsonStruct(R"({"input": "a", "background": [0, 255, 0], "tolerance": 0.2, "depth": 1.5,
                 "resolution": 256, "smoothing": 0, "components": 3, "size": 2.5,
                 "output": "x.glb", "preview": true})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->mask, ImageMaskMode::kKey);
  EXPECT_EQ(*p->background, (std::array<uint8_t, 3>{0, 255, 0}));
  EXPECT_EQ(p->tolerance, 0.2);
  EXPECT_EQ(p->depth, 1.5);
  EXPECT_EQ(p->resolution, 256);
  EXPECT_EQ(p->smoothing, 0);
  EXPECT_EQ(p->components, 3);
  EXPECT_EQ(p->size, 2.5);
  EXPECT_EQ(p->output, "x.glb");
  EXPECT_TRUE(p->preview.has_value());
}

TEST(ImageTo3dParamsTest, RejectsBadFields) {
  EXPECT_THAT(Error("{}"), HasSubstr("parameters.input: required"));
  EXPECT_THAT(Error(R"({"input": ""})"), HasSubstr("parameters.input: must be a string"));
  EXPECT_THAT(Error(R"({"input": "a", "mask": "luma"})"),
              HasSubstr("parameters.mask: must be one of \"alpha\", \"key\""));
  EXPECT_THAT(Error(R"({"input": "a", "mask": "alpha", "background": [0, 0, 0]})"),
              HasSubstr("parameters.background: applies only to mask \"key\""));
  EXPECT_THAT(Error(R"({"input": "a", "background": [0, 256, 0]})"),
              HasSubstr("parameters.background[1]: must be an integer from 0 to 255"));
  EXPECT_THAT(Error(R"({"input": "a", "background": "green"})"),
              HasSubstr("parameters.background: must be a list of 3 integers"));
  EXPECT_THAT(Error(R"({"input": "a", "tolerance": 1.5})"), HasSubstr("parameters.tolerance"));
  EXPECT_THAT(Error(R"({"input": "a", "depth": 0})"), HasSubstr("parameters.depth"));
  EXPECT_THAT(Error(R"({"input": "a", "resolution": 4096})"),
              HasSubstr("parameters.resolution: must be an integer from 8 to 512"));
  EXPECT_THAT(Error(R"({"input": "a", "smoothing": 1.5})"), HasSubstr("parameters.smoothing"));
  EXPECT_THAT(Error(R"({"input": "a", "components": 0})"), HasSubstr("parameters.components"));
  EXPECT_THAT(Error(R"({"input": "a", "size": 0})"), HasSubstr("parameters.size: must be > 0"));
  EXPECT_THAT(Error(R"({"input": "a", "output": "mesh.ply"})"),
              HasSubstr("parameters.output: must be 1 to 128 characters"));
  EXPECT_THAT(Error(R"({"input": "a", "preview": {"frames": 0}})"),
              HasSubstr("parameters.preview.frames"));
  EXPECT_THAT(Error(R"({"input": "a", "thickness": 1})"),
              HasSubstr("parameters.thickness: unknown field"));
}

}  // namespace
}  // namespace kiln
