// .npy files (NumPy format 1.0) of float32 samples: how field.decode hands out a
// sampled volume. Stateless; any thread.
#ifndef KILN_WORKER_TORCH_NPY_WRITER_H_
#define KILN_WORKER_TORCH_NPY_WRITER_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::torchrt {

// Writes `values` (C order: the last dimension fastest) with `shape` as little-endian
// float32 to a temporary name in the same directory, renamed to `path` when complete.
// InvalidArgument when the shape does not match the values' count; Unavailable for I/O.
absl::Status WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape,
                             std::span<const float> values);

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_NPY_WRITER_H_
