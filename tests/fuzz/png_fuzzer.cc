// libFuzzer: ReadPngFromBytes (libpng's simplified API behind our size limits) on
// arbitrary bytes must return a status, never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "worker/image/png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kiln::image::ReadPngFromBytes(std::span<const uint8_t>(data, size), "fuzz.png");
  return 0;
}
