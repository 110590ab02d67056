#include "worker/tasks/image_segment/segment_layout.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

SegmentLayout TwoObjects() {
  SegmentLayout layout;
  layout.width = 240;
  layout.height = 120;
  layout.objects.push_back({.index = 0,
                            .bbox = {24, 36, 52, 52},
                            .centroid = {50, 62.25},
                            .area = 2128,
                            .crop = "object-0.png",
                            .crop_box = {20, 32, 60, 60},
                            .mask = "mask-0.png"});
  layout.objects.push_back({.index = 1,
                            .bbox = {0, 0, 3, 3},
                            .centroid = {1.5, 1.5},
                            .area = 9,
                            .crop = "object-1.png",
                            .crop_box = {-4, -4, 11, 11},
                            .mask = "mask-1.png"});
  return layout;
}

TEST(SegmentLayoutTest, RoundTrips) {
  const std::string json = SegmentLayoutToJson(TwoObjects());
  EXPECT_THAT(json, HasSubstr(R"("format": "kiln.segment.v1")"));
  EXPECT_THAT(json, HasSubstr(R"("image": {"width": 240, "height": 120})"));
  absl::StatusOr<SegmentLayout> parsed = ParseSegmentLayout(json, "objects.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << json;
  EXPECT_EQ(parsed->width, 240);
  EXPECT_EQ(parsed->height, 120);
  ASSERT_EQ(parsed->objects.size(), 2u);
  const SegmentLayoutObject& o = parsed->objects[0];
  EXPECT_EQ(o.index, 0);
  EXPECT_EQ(o.bbox, (PixelBox{24, 36, 52, 52}));
  EXPECT_EQ(o.crop_box, (PixelBox{20, 32, 60, 60}));
  EXPECT_DOUBLE_EQ(o.centroid[1], 62.25);
  EXPECT_EQ(o.area, 2128);
  EXPECT_EQ(o.crop, "object-0.png");
  EXPECT_EQ(o.mask, "mask-0.png");
  EXPECT_EQ(parsed->objects[1].crop_box, (PixelBox{-4, -4, 11, 11}));
}

TEST(SegmentLayoutTest, BadFilesNameTheFileAndField) {
  const std::string json = SegmentLayoutToJson(TwoObjects());
  auto error = [](const std::string& text) {
    absl::StatusOr<SegmentLayout> parsed = ParseSegmentLayout(text, "input \"layout.json\"");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    return std::string(parsed.status().message());
  };
  EXPECT_THAT(error("[1, 2"), HasSubstr("input \"layout.json\": not a JSON object"));
  EXPECT_THAT(error(absl::StrReplaceAll(json, {{"kiln.segment.v1", "kiln.segment.v9"}})),
              HasSubstr(": format: is \"kiln.segment.v9\", expected \"kiln.segment.v1\""));
  EXPECT_THAT(error(absl::StrReplaceAll(json, {{R"("width": 11)", R"("width": 0)"}})),
              HasSubstr(": objects[1].crop_box.width: must be an integer from 1 to"));
  EXPECT_THAT(error(absl::StrReplaceAll(json, {{R"("mask": "mask-0.png")", R"("mask": 3)"}})),
              HasSubstr(": objects[0].mask: must be a non-empty string"));
  EXPECT_THAT(error(absl::StrReplaceAll(json, {{R"("image": {)", R"("picture": {)"}})),
              HasSubstr(": image: missing"));
}

}  // namespace
}  // namespace kiln::tasks
