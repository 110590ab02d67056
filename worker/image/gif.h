// Animated GIF writing through giflib 5.2, for turntable previews.
//
// Palette: one fixed 6x7x6 colour cube (252 colours, 6 red, 7 green, 6 blue levels) plus
// index 255 as the transparent colour, shared by every frame as the global colour map,
// with ordered (4x4 Bayer) dithering. Why not per-frame GifQuantizeBuffer: a fixed map
// costs nothing to compute, gives the same colours for the same pixels in every frame
// (no palette flicker while the model turns), and is deterministic by construction;
// renders are smooth Lambert shading, which dithering hides well in 252 colours.
// Pixels with alpha < 128 become transparent.
#ifndef KILN_WORKER_IMAGE_GIF_H_
#define KILN_WORKER_IMAGE_GIF_H_

#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/image/image.h"

namespace kiln::image {

// Writes `frames` (at least one, all the same size, at most 65535 pixels a side) as an
// animated GIF looping forever (NETSCAPE2.0 block), each frame shown delay_cs
// hundredths of a second (1..65535). Errors name the path (or the offending frame).
absl::Status WriteAnimatedGif(std::span<const Image> frames, const std::string& path, int delay_cs);

// The same, a frame at a time, so long animations need not sit in memory. Finish() (or
// the destructor, which drops errors) closes the file; a file whose writer failed or was
// not finished is incomplete and should be discarded.
class AnimatedGifWriter {
 public:
  // InvalidArgument for a bad size or delay; an error naming the path when the file
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<AnimatedGifWriter>> Create(const std::string& path,
                                                                   int width, int height,
                                                                   int delay_cs);
  ~AnimatedGifWriter();
  AnimatedGifWriter(const AnimatedGifWriter&) = delete;
  AnimatedGifWriter& operator=(const AnimatedGifWriter&) = delete;

  // InvalidArgument when the frame's size differs from the writer's.
  absl::Status AddFrame(const Image& frame);
  // Closes the file. FailedPrecondition when no frame was added.
  absl::Status Finish();

 private:
  struct State;
  explicit AnimatedGifWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// `image` shrunk by the smallest whole factor that makes both sides at most max_side
// (box filter, colours weighted by alpha); `image` itself when it already fits.
Image ShrinkToFit(const Image& image, int max_side);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_GIF_H_
