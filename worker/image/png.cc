#include "worker/image/png.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln::image {
namespace {

constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// libpng's simplified API (png_image_*) runs every libpng call under its own setjmp and
// reports failures in image->message, so no longjmp ever crosses our frames.
struct PngImageReader {
  png_image image;
  PngImageReader() {
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngImageReader() { png_image_free(&image); }
};

}  // namespace

absl::StatusOr<Image> ReadPngFromBytes(std::span<const uint8_t> bytes, const std::string& name,
                                       const PngLimits& limits) {
  if (bytes.size() < sizeof(kPngMagic) ||
      std::memcmp(bytes.data(), kPngMagic, sizeof(kPngMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a PNG file (no PNG signature in the first 8 bytes)"));
  }
  PngImageReader reader;
  if (!png_image_begin_read_from_memory(&reader.image, bytes.data(), bytes.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": bad or truncated PNG header: ", reader.image.message));
  }
  const int64_t width = reader.image.width;
  const int64_t height = reader.image.height;
  if (width > limits.max_side || height > limits.max_side || width * height > limits.max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": PNG too large: ", width, "x", height,
                                                   " pixels (limits: ", limits.max_side,
                                                   " a side, ", limits.max_pixels, " pixels)"));
  }
  reader.image.format = PNG_FORMAT_RGBA;
  Image out;
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.rgba.resize(PNG_IMAGE_SIZE(reader.image));
  if (!png_image_finish_read(&reader.image, /*background=*/nullptr, out.rgba.data(),
                             /*row_stride=*/0, /*colormap=*/nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": corrupt or truncated PNG data: ", reader.image.message));
  }
  return out;
}

absl::StatusOr<Image> ReadPng(const std::string& path, const PngLimits& limits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  // A compressed PNG can hold at most ~1032x its size in pixels, but the file itself must
  // fit in memory: refuse files far bigger than the largest image the limits allow.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read size"));
  if (size > limits.max_pixels * 8 + (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": PNG too large: ", size, " bytes on disk"));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return ReadPngFromBytes(bytes, path, limits);
}

absl::Status WritePng(const Image& image, const std::string& path) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgba.size() != static_cast<size_t>(image.width) * image.height * 4) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write a ", image.width, "x",
                                                   image.height, " image of ", image.rgba.size(),
                                                   " bytes as PNG (want width*height*4 > 0)"));
  }
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGBA;
  const int ok = png_image_write_to_file(&png, path.c_str(), /*convert_to_8bit=*/0,
                                         image.rgba.data(), /*row_stride=*/0, nullptr);
  const std::string message = png.message;
  png_image_free(&png);
  if (!ok) return absl::InternalError(absl::StrCat(path, ": writing PNG failed: ", message));
  return absl::OkStatus();
}

}  // namespace kiln::image
