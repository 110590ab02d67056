#include "worker/image/gif.h"

#include <gif_lib.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::image {
namespace {

Image Solid(int width, int height, uint8_t r, uint8_t g, uint8_t b, uint8_t a) {
  Image image = Image::Blank(width, height);
  for (size_t i = 0; i < image.rgba.size(); i += 4) {
    image.rgba[i] = r;
    image.rgba[i + 1] = g;
    image.rgba[i + 2] = b;
    image.rgba[i + 3] = a;
  }
  return image;
}

TEST(GifTest, AnimatedGifReadsBackWithFramesSizeLoopAndColours) {
  kiln::testing::ScopedTempDir dir;
  std::vector<Image> frames = {Solid(20, 10, 255, 0, 0, 255), Solid(20, 10, 0, 0, 255, 255),
                               Solid(20, 10, 0, 0, 0, 0)};
  frames[0].pixel(3, 4)[3] = 0;  // one transparent pixel
  const std::string path = dir.Sub("a.gif");
  ASSERT_TRUE(WriteAnimatedGif(frames, path, 8).ok());

  int error = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &error);
  ASSERT_NE(gif, nullptr) << GifErrorString(error);
  ASSERT_EQ(DGifSlurp(gif), GIF_OK) << GifErrorString(gif->Error);
  EXPECT_EQ(gif->ImageCount, 3);
  EXPECT_EQ(gif->SWidth, 20);
  EXPECT_EQ(gif->SHeight, 10);
  ASSERT_NE(gif->SColorMap, nullptr);
  ASSERT_GE(gif->ImageCount, 1);

  // DGifSlurp attaches the extensions before the first image to that image.
  bool loops = false;
  const SavedImage& first = gif->SavedImages[0];
  for (int i = 0; i < first.ExtensionBlockCount; ++i) {
    const ExtensionBlock& e = first.ExtensionBlocks[i];
    if (e.Function == APPLICATION_EXT_FUNC_CODE && e.ByteCount == 11 &&
        std::memcmp(e.Bytes, "NETSCAPE2.0", 11) == 0) {
      // The sub-block: 1, then the loop count (little-endian), 0 = forever.
      const ExtensionBlock* data =
          i + 1 < first.ExtensionBlockCount ? &first.ExtensionBlocks[i + 1] : nullptr;
      loops = data != nullptr && data->ByteCount == 3 && data->Bytes[0] == 1 &&
              data->Bytes[1] == 0 && data->Bytes[2] == 0;
    }
  }
  EXPECT_TRUE(loops) << "no NETSCAPE2.0 infinite loop block";

  for (int i = 0; i < gif->ImageCount; ++i) {
    SCOPED_TRACE(i);
    const SavedImage& image = gif->SavedImages[i];
    EXPECT_EQ(image.ImageDesc.Width, 20);
    EXPECT_EQ(image.ImageDesc.Height, 10);
    GraphicsControlBlock control;
    ASSERT_EQ(DGifSavedExtensionToGCB(gif, i, &control), GIF_OK);
    EXPECT_EQ(control.DelayTime, 8);
    const int transparent = control.TransparentColor;
    ASSERT_GE(transparent, 0);
    const GifByteType* raster = image.RasterBits;
    auto color = [&](int x, int y) { return gif->SColorMap->Colors[raster[y * 20 + x]]; };
    if (i == 0) {
      EXPECT_EQ(raster[4 * 20 + 3], transparent);
      EXPECT_EQ(color(0, 0).Red, 255);
      EXPECT_EQ(color(0, 0).Green, 0);
      EXPECT_EQ(color(0, 0).Blue, 0);
    } else if (i == 1) {
      EXPECT_EQ(color(5, 5).Blue, 255);
      EXPECT_EQ(color(5, 5).Red, 0);
    } else {
      for (int p = 0; p < 200; ++p) ASSERT_EQ(raster[p], transparent);
    }
  }
  DGifCloseFile(gif, &error);
}

TEST(GifTest, DitheringAveragesToTheColour) {
  // A mid grey between palette levels comes out, averaged over a 4x4 tile, within one
  // level step's rounding of the input.
  kiln::testing::ScopedTempDir dir;
  const std::string path = dir.Sub("grey.gif");
  ASSERT_TRUE(WriteAnimatedGif(std::vector<Image>{Solid(8, 8, 100, 100, 100, 255)}, path, 10).ok());
  int error = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &error);
  ASSERT_NE(gif, nullptr);
  ASSERT_EQ(DGifSlurp(gif), GIF_OK);
  double sum[3] = {0, 0, 0};
  for (int p = 0; p < 64; ++p) {
    const GifColorType c = gif->SColorMap->Colors[gif->SavedImages[0].RasterBits[p]];
    sum[0] += c.Red;
    sum[1] += c.Green;
    sum[2] += c.Blue;
  }
  for (double s : sum) EXPECT_NEAR(s / 64, 100, 8);
  DGifCloseFile(gif, &error);
}

TEST(GifTest, BadArgumentsAreClearErrors) {
  kiln::testing::ScopedTempDir dir;
  const std::string path = dir.Sub("a.gif");
  EXPECT_EQ(WriteAnimatedGif({}, path, 5).code(), absl::StatusCode::kInvalidArgument);
  std::vector<Image> mixed = {Solid(4, 4, 0, 0, 0, 255), Solid(5, 4, 0, 0, 0, 255)};
  absl::Status status = WriteAnimatedGif(mixed, path, 5);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), ::testing::HasSubstr("frame 1"));
  EXPECT_FALSE(WriteAnimatedGif(std::vector<Image>{Solid(4, 4, 0, 0, 0, 255)}, path, 0).ok());
  EXPECT_FALSE(
      WriteAnimatedGif(std::vector<Image>{Solid(4, 4, 0, 0, 0, 255)}, "/nonexistent/a.gif", 5)
          .ok());
}

}  // namespace
}  // namespace kiln::image

namespace kiln::image {
namespace {

TEST(GifTest, StreamingWriterAndShrink) {
  kiln::testing::ScopedTempDir dir;
  const std::string path = dir.Sub("s.gif");
  absl::StatusOr<std::unique_ptr<AnimatedGifWriter>> writer =
      AnimatedGifWriter::Create(path, 10, 10, 5);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->AddFrame(Solid(11, 10, 0, 0, 0, 255)).code(),
            absl::StatusCode::kInvalidArgument);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->AddFrame(Solid(10, 10, 0, 255, 0, 255)).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  int error = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &error);
  ASSERT_NE(gif, nullptr);
  ASSERT_EQ(DGifSlurp(gif), GIF_OK);
  EXPECT_EQ(gif->ImageCount, 5);
  DGifCloseFile(gif, &error);

  absl::StatusOr<std::unique_ptr<AnimatedGifWriter>> empty =
      AnimatedGifWriter::Create(dir.Sub("e.gif"), 10, 10, 5);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->Finish().code(), absl::StatusCode::kFailedPrecondition);

  // 9x6 with a transparent half shrinks by 3 (max side 4) to 3x2; colours ignore the
  // transparent pixels, alpha averages.
  Image image = Solid(9, 6, 200, 100, 0, 255);
  for (int y = 0; y < 6; ++y) image.pixel(0, y)[3] = 0, image.pixel(0, y)[0] = 0;
  const Image small = ShrinkToFit(image, 4);
  ASSERT_EQ(small.width, 3);
  ASSERT_EQ(small.height, 2);
  EXPECT_EQ(small.pixel(0, 0)[0], 200);
  EXPECT_EQ(small.pixel(0, 0)[3], 170);
  EXPECT_EQ(small.pixel(2, 1)[3], 255);
  EXPECT_EQ(ShrinkToFit(image, 9).rgba, image.rgba);
}

}  // namespace
}  // namespace kiln::image
