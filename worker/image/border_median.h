// BorderMedian: the per-channel median colour of an image's border pixels, the usual
// backdrop colour of a photo or render, which image.to3d and image.segment key out by
// default. Pure function; any thread may call it.
#ifndef KILN_WORKER_IMAGE_BORDER_MEDIAN_H_
#define KILN_WORKER_IMAGE_BORDER_MEDIAN_H_

#include <array>
#include <cstdint>

#include "worker/image/image.h"

namespace kiln::image {

// [r, g, b]; black for an empty image.
std::array<uint8_t, 3> BorderMedian(const Image& image);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_BORDER_MEDIAN_H_
