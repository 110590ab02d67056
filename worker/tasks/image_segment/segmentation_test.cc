#include "worker/tasks/image_segment/segmentation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

constexpr char kFixture[] = KILN_TEST_DATA_DIR "/images/three_objects.png";

// Fills [x, x + w) x [y, y + h) with an opaque colour.
void Fill(image::Image& image, int x, int y, int w, int h, std::array<uint8_t, 3> rgb) {
  for (int j = y; j < y + h; ++j) {
    for (int i = x; i < x + w; ++i) {
      uint8_t* p = image.pixel(i, j);
      p[0] = rgb[0];
      p[1] = rgb[1];
      p[2] = rgb[2];
      p[3] = 255;
    }
  }
}

// A transparent image whose hidden colours are not black, as real cut-outs are.
image::Image Transparent(int w, int h) {
  image::Image image = image::Image::Blank(w, h);
  for (size_t i = 0; i < image.rgba.size(); i += 4) {
    image.rgba[i] = static_cast<uint8_t>(i * 7);
    image.rgba[i + 1] = static_cast<uint8_t>(i * 13);
    image.rgba[i + 2] = 90;
  }
  return image;
}

image::Image Opaque(int w, int h, std::array<uint8_t, 3> rgb) {
  image::Image image = image::Image::Blank(w, h);
  Fill(image, 0, 0, w, h, rgb);
  return image;
}

std::vector<PixelBox> Boxes(const Segmentation& s) {
  std::vector<PixelBox> boxes;
  for (const SegmentedObject& o : s.objects) boxes.push_back(o.bbox);
  return boxes;
}

MATCHER_P4(BoxIs, x, y, w, h, "") {
  return arg.x == x && arg.y == y && arg.width == w && arg.height == h;
}

class FixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<image::Image> image = image::ReadPng(kFixture);
    ASSERT_TRUE(image.ok()) << image.status();
    image_ = *std::move(image);
  }
  image::Image image_;
};

// The numbers are those make_three_objects.py prints.
TEST_F(FixtureTest, KeysTheBackdropAndFindsTheThreeObjectsLeftToRight) {
  absl::StatusOr<Segmentation> s = SegmentImage(image_, ImageSegmentParams{});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->mask_mode, ImageMaskMode::kKey);
  EXPECT_NEAR(s->background[0], 236, 2);
  EXPECT_NEAR(s->background[1], 234, 2);
  EXPECT_NEAR(s->background[2], 228, 2);
  EXPECT_EQ(s->components, 5);
  EXPECT_EQ(s->dropped_small, 2);  // The two 3x3 specks, below the default min_area 64.
  EXPECT_EQ(s->dropped_over_limit, 0);
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(24, 36, 52, 52), BoxIs(96, 34, 48, 56),
                                                BoxIs(158, 29, 64, 63)));
  ASSERT_EQ(s->objects.size(), 3u);
  EXPECT_EQ(s->objects[0].area, 2128);
  EXPECT_EQ(s->objects[1].area, 2688);
  EXPECT_EQ(s->objects[2].area, 2048);
  // The disc is centred on (50, 62), the rectangle spans x 96..144, y 34..90.
  EXPECT_NEAR(s->objects[0].centroid[0], 50, 0.05);
  EXPECT_NEAR(s->objects[0].centroid[1], 62, 0.05);
  EXPECT_NEAR(s->objects[1].centroid[0], 120, 0.05);
  EXPECT_NEAR(s->objects[1].centroid[1], 62, 0.05);
  EXPECT_EQ(s->foreground_pixels, 2128 + 2688 + 2048 + 18);
  // Labels agree with the areas.
  std::vector<int64_t> counted(4, 0);
  for (int32_t label : s->labels) ++counted[label];
  EXPECT_EQ(counted[1], 2128);
  EXPECT_EQ(counted[3], 2048);
}

TEST_F(FixtureTest, MinAreaDecidesWhetherSpecksAreObjects) {
  ImageSegmentParams params;
  params.min_area = 9;  // The specks are exactly 9 pixels.
  absl::StatusOr<Segmentation> s = SegmentImage(image_, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(8, 8, 3, 3), BoxIs(24, 36, 52, 52),
                                                BoxIs(96, 34, 48, 56), BoxIs(158, 29, 64, 63),
                                                BoxIs(228, 108, 3, 3)));
  EXPECT_EQ(s->dropped_small, 0);

  params.min_area = 2129;  // Only the rectangle is larger than the disc.
  s = SegmentImage(image_, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(96, 34, 48, 56)));
  EXPECT_EQ(s->dropped_small, 4);
}

TEST_F(FixtureTest, MaxObjectsKeepsTheLargestInImageOrder) {
  ImageSegmentParams params;
  params.max_objects = 2;
  absl::StatusOr<Segmentation> s = SegmentImage(image_, params);
  ASSERT_TRUE(s.ok()) << s.status();
  // The rectangle (2688) and the disc (2128) beat the triangle (2048).
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(24, 36, 52, 52), BoxIs(96, 34, 48, 56)));
  EXPECT_EQ(s->dropped_over_limit, 1);
  for (int32_t label : s->labels) EXPECT_LE(label, 2);
}

TEST(SegmentImageTest, KeyToleranceAndExplicitBackground) {
  image::Image image = Opaque(30, 20, {255, 255, 255});
  Fill(image, 2, 2, 8, 8, {0, 0, 0});
  Fill(image, 14, 4, 5, 5, {128, 128, 128});  // 220 from white; black is 441.7.
  ImageSegmentParams params;
  params.min_area = 1;
  params.background = {255, 255, 255};
  absl::StatusOr<Segmentation> s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->mask_mode, ImageMaskMode::kKey);
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(2, 2, 8, 8), BoxIs(14, 4, 5, 5)));

  params.tolerance = 0.6;  // 265: the grey square is background now.
  s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(2, 2, 8, 8)));

  // Keyed on the grey instead, white and black are both far from it: one object around
  // everything else, whose box is the whole image.
  params.tolerance = 0.1;
  params.background = {128, 128, 128};
  s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(0, 0, 30, 20)));
}

TEST(SegmentImageTest, AlphaModeIgnoresTheColoursOfTransparentPixels) {
  image::Image image = Transparent(40, 30);
  Fill(image, 20, 5, 10, 10, {255, 255, 255});
  Fill(image, 2, 12, 6, 8, {10, 200, 10});
  // Half-transparent pixels: below 50% is background, 50% and over foreground.
  image.pixel(20, 20)[3] = 127;
  image.pixel(35, 25)[3] = 128;
  ImageSegmentParams params;
  params.min_area = 1;
  absl::StatusOr<Segmentation> s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->mask_mode, ImageMaskMode::kAlpha);
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(2, 12, 6, 8), BoxIs(20, 5, 10, 10),
                                                BoxIs(35, 25, 1, 1)));
}

TEST(SegmentImageTest, AlphaOnAnOpaqueImageIsRefused) {
  ImageSegmentParams params;
  params.mask = ImageMaskMode::kAlpha;
  absl::StatusOr<Segmentation> s = SegmentImage(Opaque(8, 8, {1, 2, 3}), params);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("parameters.mask: \"alpha\", but the image is"));
}

TEST(SegmentImageTest, DiagonalNeighboursAreOneObject) {
  image::Image image = Transparent(20, 20);
  Fill(image, 2, 2, 4, 4, {200, 0, 0});
  Fill(image, 6, 6, 4, 4, {200, 0, 0});  // Touches the first at a corner only.
  Fill(image, 12, 2, 4, 4, {200, 0, 0});
  ImageSegmentParams params;
  params.min_area = 1;
  absl::StatusOr<Segmentation> s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(2, 2, 8, 8), BoxIs(12, 2, 4, 4)));
  EXPECT_EQ(s->objects[0].area, 32);
}

TEST(SegmentImageTest, SameLeftEdgeOrdersByTop) {
  image::Image image = Transparent(20, 30);
  Fill(image, 4, 18, 5, 5, {0, 0, 200});
  Fill(image, 4, 2, 3, 3, {0, 0, 200});
  Fill(image, 1, 10, 2, 2, {0, 0, 200});
  ImageSegmentParams params;
  params.min_area = 1;
  absl::StatusOr<Segmentation> s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Boxes(*s),
              ::testing::ElementsAre(BoxIs(1, 10, 2, 2), BoxIs(4, 2, 3, 3), BoxIs(4, 18, 5, 5)));
}

TEST(SegmentImageTest, CleanupCutsThinBridgesDropsSpecksAndFillsHoles) {
  image::Image image = Transparent(40, 20);
  Fill(image, 0, 2, 10, 10, {0, 0, 200});   // On the border: keeps its border pixels.
  Fill(image, 10, 6, 6, 1, {0, 0, 200});    // A 1-pixel bridge...
  Fill(image, 16, 2, 10, 10, {0, 0, 200});  // ...to a second square...
  image.pixel(20, 6)[3] = 0;                // ...which has a 1-pixel hole.
  Fill(image, 32, 15, 1, 1, {0, 0, 200});   // A speck.
  ImageSegmentParams params;
  params.min_area = 1;
  absl::StatusOr<Segmentation> raw = SegmentImage(image, params);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Boxes(*raw), ::testing::ElementsAre(BoxIs(0, 2, 26, 10), BoxIs(32, 15, 1, 1)));

  params.cleanup = 1;
  absl::StatusOr<Segmentation> clean = SegmentImage(image, params);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_THAT(Boxes(*clean), ::testing::ElementsAre(BoxIs(0, 2, 10, 10), BoxIs(16, 2, 10, 10)));
  EXPECT_EQ(clean->objects[0].area, 100);
  EXPECT_EQ(clean->objects[1].area, 100);  // The hole is filled.
}

TEST(CleanUpMaskTest, RadiusZeroChangesNothing) {
  std::vector<uint8_t> mask = {1, 0, 1, 0, 1, 0};
  const std::vector<uint8_t> before = mask;
  CleanUpMask(3, 2, 0, mask);
  EXPECT_EQ(mask, before);
}

TEST(SegmentImageTest, NoObjectsIsAClearError) {
  absl::StatusOr<Segmentation> empty = SegmentImage(Transparent(10, 10), ImageSegmentParams{});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(),
              HasSubstr("image has no objects: alpha is below 50% everywhere"));

  absl::StatusOr<Segmentation> plain =
      SegmentImage(Opaque(10, 10, {40, 40, 40}), ImageSegmentParams{});
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plain.status().message(),
              HasSubstr("every pixel is within tolerance 0.1 of the background [40, 40, 40]"));

  image::Image specks = Transparent(10, 10);
  Fill(specks, 1, 1, 2, 2, {9, 9, 9});
  Fill(specks, 6, 6, 3, 1, {9, 9, 9});
  absl::StatusOr<Segmentation> small = SegmentImage(specks, ImageSegmentParams{});
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(small.status().message(),
              HasSubstr("7 foreground pixels in 2 components, each smaller than "
                        "parameters.min_area (64 pixels)"));
}

TEST(SegmentImageTest, MalformedImageIsRefused) {
  image::Image image = image::Image::Blank(4, 4);
  image.rgba.pop_back();
  EXPECT_THAT(SegmentImage(image, ImageSegmentParams{}).status().message(),
              HasSubstr("image: malformed"));
}

TEST(CropObjectTest, CropHoldsOnlyItsObjectAndPadsBeyondTheImage) {
  image::Image image = Transparent(30, 20);
  // An L on the left border whose bbox also covers a small square.
  Fill(image, 0, 2, 3, 12, {200, 0, 0});
  Fill(image, 0, 11, 12, 3, {200, 0, 0});
  Fill(image, 7, 3, 3, 3, {0, 200, 0});
  ImageSegmentParams params;
  params.min_area = 1;
  absl::StatusOr<Segmentation> s = SegmentImage(image, params);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_THAT(Boxes(*s), ::testing::ElementsAre(BoxIs(0, 2, 12, 12), BoxIs(7, 3, 3, 3)));

  const PixelBox box = CropBox(*s, 0, 4);
  EXPECT_EQ(box, (PixelBox{-4, -2, 20, 20}));
  const image::Image crop = CropObject(image, *s, 0, 4);
  ASSERT_EQ(crop.width, 20);
  ASSERT_EQ(crop.height, 20);
  int opaque = 0;
  for (int y = 0; y < crop.height; ++y) {
    for (int x = 0; x < crop.width; ++x) {
      const uint8_t* p = crop.pixel(x, y);
      if (p[3] == 0) continue;
      ++opaque;
      EXPECT_EQ(p[0], 200) << x << "," << y;  // Only the L's red, never the green square.
      EXPECT_EQ(p[1], 0) << x << "," << y;
    }
  }
  EXPECT_EQ(opaque, 36 + 27);
  // Image pixel (0, 2) is crop pixel (4, 4); left of it lies beyond the image.
  EXPECT_EQ(crop.pixel(4, 4)[3], 255);
  EXPECT_EQ(crop.pixel(3, 4)[3], 0);

  const image::Image mask = ObjectMask(*s, 1);
  ASSERT_EQ(mask.width, 30);
  int white = 0;
  for (size_t i = 0; i < mask.rgba.size(); i += 4) {
    EXPECT_EQ(mask.rgba[i + 3], 255);
    white += mask.rgba[i] == 255;
  }
  EXPECT_EQ(white, 9);
  EXPECT_EQ(mask.pixel(8, 4)[0], 255);
}

}  // namespace
}  // namespace kiln::tasks
