#include "worker/image/gif.h"

#include <gif_lib.h>

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln::image {
namespace {

constexpr int kRedLevels = 6, kGreenLevels = 7, kBlueLevels = 6;
constexpr int kCubeColors = kRedLevels * kGreenLevels * kBlueLevels;  // 252
constexpr int kTransparentIndex = 255;
constexpr int kMaxGifSide = 65535;
static_assert(kCubeColors <= kTransparentIndex);

// 4x4 Bayer thresholds, 0..15.
constexpr int kBayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

// The level of `value` (0..255) among `levels`, dithered by threshold t (0..15): the
// average over the 16 thresholds is value * (levels - 1) / 255.
int DitheredLevel(int value, int levels, int t) {
  const int scaled = value * (levels - 1) * 16 + (2 * t + 1) * 255 / 2;
  return std::min(levels - 1, scaled / (255 * 16));
}

std::string GifError(int code) {
  const char* text = GifErrorString(code);
  return text ? text : absl::StrCat("giflib error ", code);
}

}  // namespace

struct AnimatedGifWriter::State {
  std::string path;
  int width = 0, height = 0, delay_cs = 0;
  GifFileType* gif = nullptr;
  int frames = 0;
  absl::Status status;  // the first error; later calls return it
  std::vector<GifPixelType> row;

  absl::Status Fail(absl::string_view what) {
    status = absl::InternalError(absl::StrCat(path, ": ", what, ": ", GifError(gif->Error)));
    return status;
  }
  absl::Status Close() {
    if (gif == nullptr) return status;
    int error = 0;
    if (EGifCloseFile(gif, &error) != GIF_OK && status.ok()) {
      status = absl::InternalError(absl::StrCat(path, ": closing GIF: ", GifError(error)));
    }
    gif = nullptr;  // EGifCloseFile frees it either way
    return status;
  }
};

AnimatedGifWriter::AnimatedGifWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

AnimatedGifWriter::~AnimatedGifWriter() {
  // Only a writer abandoned without Finish() gets here with a file open; its error has
  // nowhere to go, and the half-written file is not reported as an output.
  state_->Close().IgnoreError();
}

absl::StatusOr<std::unique_ptr<AnimatedGifWriter>> AnimatedGifWriter::Create(
    const std::string& path, int width, int height, int delay_cs) {
  if (delay_cs < 1 || delay_cs > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": frame delay ", delay_cs, " out of range 1..65535 (1/100 s)"));
  }
  if (width <= 0 || height <= 0 || width > kMaxGifSide || height > kMaxGifSide) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": frame size ", width, "x", height, " out of range 1..65535"));
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->width = width;
  state->height = height;
  state->delay_cs = delay_cs;
  state->row.resize(width);
  int error = 0;
  state->gif = EGifOpenFileName(path.c_str(), /*TestExistence=*/false, &error);
  if (state->gif == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": cannot create GIF: ", GifError(error)));
  }
  std::unique_ptr<AnimatedGifWriter> writer(new AnimatedGifWriter(std::move(state)));
  State& s = *writer->state_;

  std::vector<GifColorType> colors(256, GifColorType{0, 0, 0});
  for (int r = 0; r < kRedLevels; ++r) {
    for (int g = 0; g < kGreenLevels; ++g) {
      for (int b = 0; b < kBlueLevels; ++b) {
        GifColorType& c = colors[(r * kGreenLevels + g) * kBlueLevels + b];
        c.Red = static_cast<GifByteType>(r * 255 / (kRedLevels - 1));
        c.Green = static_cast<GifByteType>(g * 255 / (kGreenLevels - 1));
        c.Blue = static_cast<GifByteType>(b * 255 / (kBlueLevels - 1));
      }
    }
  }
  ColorMapObject* map = GifMakeMapObject(256, colors.data());
  if (map == nullptr) return absl::ResourceExhaustedError(absl::StrCat(path, ": colour map"));
  EGifSetGifVersion(s.gif, /*gif89=*/true);
  const int screen = EGifPutScreenDesc(s.gif, width, height, /*ColorRes=*/8,
                                       /*BackGround=*/kTransparentIndex, map);
  GifFreeMapObject(map);
  if (screen != GIF_OK) return s.Fail("screen descriptor");
  // NETSCAPE2.0 application block: sub-block 1, loop count 0 = forever.
  const GifByteType loop[3] = {1, 0, 0};
  if (EGifPutExtensionLeader(s.gif, APPLICATION_EXT_FUNC_CODE) != GIF_OK ||
      EGifPutExtensionBlock(s.gif, 11, "NETSCAPE2.0") != GIF_OK ||
      EGifPutExtensionBlock(s.gif, sizeof(loop), loop) != GIF_OK ||
      EGifPutExtensionTrailer(s.gif) != GIF_OK) {
    return s.Fail("loop extension");
  }
  return writer;
}

absl::Status AnimatedGifWriter::AddFrame(const Image& frame) {
  State& s = *state_;
  if (!s.status.ok()) return s.status;
  if (s.gif == nullptr) return absl::FailedPreconditionError(s.path + ": GIF already finished");
  if (frame.width != s.width || frame.height != s.height ||
      frame.rgba.size() != static_cast<size_t>(s.width) * s.height * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.path, ": frame ", s.frames, " is ", frame.width, "x", frame.height, " with ",
                     frame.rgba.size(), " bytes; the GIF is ", s.width, "x", s.height));
  }
  GraphicsControlBlock control;
  // Each frame replaces the previous one entirely, transparent pixels included.
  control.DisposalMode = DISPOSE_BACKGROUND;
  control.UserInputFlag = false;
  control.DelayTime = s.delay_cs;
  control.TransparentColor = kTransparentIndex;
  GifByteType extension[4];
  const size_t length = EGifGCBToExtension(&control, extension);
  if (EGifPutExtension(s.gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(length), extension) !=
          GIF_OK ||
      EGifPutImageDesc(s.gif, 0, 0, s.width, s.height, /*Interlace=*/false, nullptr) != GIF_OK) {
    return s.Fail(absl::StrCat("frame ", s.frames));
  }
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      const uint8_t* p = frame.pixel(x, y);
      if (p[3] < 128) {
        s.row[x] = kTransparentIndex;
        continue;
      }
      const int t = kBayer[y & 3][x & 3];
      const int r = DitheredLevel(p[0], kRedLevels, t);
      const int g = DitheredLevel(p[1], kGreenLevels, t);
      const int b = DitheredLevel(p[2], kBlueLevels, t);
      s.row[x] = static_cast<GifPixelType>((r * kGreenLevels + g) * kBlueLevels + b);
    }
    if (EGifPutLine(s.gif, s.row.data(), s.width) != GIF_OK) {
      return s.Fail(absl::StrCat("frame ", s.frames, " row ", y));
    }
  }
  ++s.frames;
  return absl::OkStatus();
}

absl::Status AnimatedGifWriter::Finish() {
  State& s = *state_;
  if (s.status.ok() && s.gif != nullptr && s.frames == 0) {
    s.status = absl::FailedPreconditionError(s.path + ": a GIF needs at least one frame");
  }
  return s.Close();
}

absl::Status WriteAnimatedGif(std::span<const Image> frames, const std::string& path,
                              int delay_cs) {
  if (frames.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no frames"));
  absl::StatusOr<std::unique_ptr<AnimatedGifWriter>> writer =
      AnimatedGifWriter::Create(path, frames[0].width, frames[0].height, delay_cs);
  if (!writer.ok()) return writer.status();
  for (const Image& frame : frames) {
    if (absl::Status status = (*writer)->AddFrame(frame); !status.ok()) return status;
  }
  return (*writer)->Finish();
}

Image ShrinkToFit(const Image& image, int max_side) {
  const int longest = std::max(image.width, image.height);
  if (max_side <= 0 || longest <= max_side) return image;
  const int factor = (longest + max_side - 1) / max_side;
  Image out = Image::Blank(std::max(1, image.width / factor), std::max(1, image.height / factor));
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      uint64_t rgb[3] = {0, 0, 0}, alpha = 0;
      for (int dy = 0; dy < factor; ++dy) {
        for (int dx = 0; dx < factor; ++dx) {
          const uint8_t* p = image.pixel(x * factor + dx, y * factor + dy);
          for (int c = 0; c < 3; ++c) rgb[c] += uint64_t{p[c]} * p[3];
          alpha += p[3];
        }
      }
      uint8_t* q = out.pixel(x, y);
      for (int c = 0; c < 3; ++c)
        q[c] = alpha > 0 ? static_cast<uint8_t>((rgb[c] + alpha / 2) / alpha) : 0;
      const uint64_t n = uint64_t(factor) * factor;
      q[3] = static_cast<uint8_t>((alpha + n / 2) / n);
    }
  }
  return out;
}

}  // namespace kiln::image
