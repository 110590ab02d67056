#include "worker/image/png.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::image {
namespace {

using ::testing::HasSubstr;

Image Gradient(int width, int height) {
  Image image = Image::Blank(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 7);
      p[1] = static_cast<uint8_t>(y * 13);
      p[2] = static_cast<uint8_t>((x + y) * 3);
      p[3] = static_cast<uint8_t>(255 - x);
    }
  }
  return image;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Big-endian CRC-less IHDR edit: PNG readers check the CRC, so recompute it.
uint32_t Crc32(const uint8_t* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void PutBigEndian(uint8_t* at, uint32_t v) {
  at[0] = v >> 24;
  at[1] = v >> 16;
  at[2] = v >> 8;
  at[3] = v;
}

TEST(PngTest, RoundTripKeepsEveryByte) {
  kiln::testing::ScopedTempDir dir;
  const Image image = Gradient(37, 21);
  ASSERT_TRUE(WritePng(image, dir.Sub("a.png")).ok());
  absl::StatusOr<Image> read = ReadPng(dir.Sub("a.png"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->width, 37);
  EXPECT_EQ(read->height, 21);
  EXPECT_EQ(read->rgba, image.rgba);

  absl::StatusOr<Image> from_bytes = ReadPngFromBytes(ReadBytes(dir.Sub("a.png")), "mem");
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status();
  EXPECT_EQ(from_bytes->rgba, image.rgba);
}

TEST(PngTest, MissingFileIsNotFound) {
  absl::StatusOr<Image> read = ReadPng("/nonexistent/x.png");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr("/nonexistent/x.png"));
}

TEST(PngTest, WrongMagicIsNotAPng) {
  kiln::testing::ScopedTempDir dir;
  WriteBytes(dir.Sub("fake.png"), {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0, 0});
  absl::StatusOr<Image> read = ReadPng(dir.Sub("fake.png"));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr(dir.Sub("fake.png")));
  EXPECT_THAT(read.status().message(), HasSubstr("not a PNG"));
  EXPECT_FALSE(ReadPngFromBytes({}, "empty").ok());
}

TEST(PngTest, TruncatedFilesAreClearErrors) {
  kiln::testing::ScopedTempDir dir;
  ASSERT_TRUE(WritePng(Gradient(64, 64), dir.Sub("a.png")).ok());
  const std::vector<uint8_t> bytes = ReadBytes(dir.Sub("a.png"));
  // Cut inside the header, inside the pixel data, and inside the last IDAT's CRC. (A file
  // missing only its IEND chunk still holds the whole image; libpng reads it.)
  for (size_t keep : {size_t{12}, size_t{30}, bytes.size() / 2, bytes.size() - 14}) {
    SCOPED_TRACE(keep);
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + keep);
    WriteBytes(dir.Sub("cut.png"), cut);
    absl::StatusOr<Image> read = ReadPng(dir.Sub("cut.png"));
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument) << read.status();
    EXPECT_THAT(read.status().message(), HasSubstr(dir.Sub("cut.png")));
  }
}

TEST(PngTest, HugeDeclaredSizeIsRefusedBeforeAllocating) {
  kiln::testing::ScopedTempDir dir;
  ASSERT_TRUE(WritePng(Gradient(8, 8), dir.Sub("a.png")).ok());
  std::vector<uint8_t> bytes = ReadBytes(dir.Sub("a.png"));
  // IHDR: 8 magic, 4 length, 4 "IHDR", then width and height, CRC after 13 data bytes.
  ASSERT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "IHDR");
  PutBigEndian(&bytes[16], 100000);
  PutBigEndian(&bytes[20], 100000);
  PutBigEndian(&bytes[29], Crc32(&bytes[12], 17));
  absl::StatusOr<Image> read = ReadPngFromBytes(bytes, "huge.png");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("huge.png"));
  EXPECT_THAT(read.status().message(), HasSubstr("too large"));

  // Within libpng's own limits but above ours.
  PutBigEndian(&bytes[16], 5000);
  PutBigEndian(&bytes[20], 5000);
  PutBigEndian(&bytes[29], Crc32(&bytes[12], 17));
  read = ReadPngFromBytes(bytes, "big.png", PngLimits{.max_side = 4096});
  EXPECT_THAT(read.status().message(), HasSubstr("too large"));
  read = ReadPngFromBytes(bytes, "big.png", PngLimits{.max_pixels = 1000000});
  EXPECT_THAT(read.status().message(), HasSubstr("too large"));
}

TEST(PngTest, CorruptPixelDataIsAnError) {
  kiln::testing::ScopedTempDir dir;
  ASSERT_TRUE(WritePng(Gradient(64, 64), dir.Sub("a.png")).ok());
  std::vector<uint8_t> bytes = ReadBytes(dir.Sub("a.png"));
  for (size_t i = 45; i < bytes.size() - 20; i += 3) bytes[i] ^= 0x5a;
  absl::StatusOr<Image> read = ReadPngFromBytes(bytes, "corrupt.png");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("corrupt.png"));
}

TEST(PngTest, WriteRejectsInconsistentImage) {
  kiln::testing::ScopedTempDir dir;
  Image bad = Image::Blank(4, 4);
  bad.rgba.pop_back();
  EXPECT_EQ(WritePng(bad, dir.Sub("bad.png")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(WritePng(Gradient(4, 4), "/nonexistent/dir/a.png").ok());
}

}  // namespace
}  // namespace kiln::image
