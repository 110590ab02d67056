// Connected-component labelling of a binary mask (row-major, width x height, nonzero =
// foreground), shared by image.to3d (4-connected pieces) and image.segment (8-connected
// objects). Pure; any thread.
#ifndef KILN_WORKER_IMAGE_CONNECTED_COMPONENTS_H_
#define KILN_WORKER_IMAGE_CONNECTED_COMPONENTS_H_

#include <cstdint>
#include <vector>

namespace kiln::image {

enum class Connectivity { kFour, kEight };

// Sets labels[i] to the component of pixel i, numbered from 1 in scan order of each
// component's first pixel (0 for background), and returns each component's pixel count
// (index 0 unused). Iterative (an explicit stack), so large components cannot overflow.
std::vector<int64_t> LabelComponents(int width, int height, const std::vector<uint8_t>& mask,
                                     Connectivity connectivity, std::vector<int32_t>& labels);

}  // namespace kiln::image

#endif  // KILN_WORKER_IMAGE_CONNECTED_COMPONENTS_H_
