// Reads float32 volumes from .npy files (NumPy's format, versions 1.0 and 2.0) without
// LibTorch: the layout that field.decode writes (worker/torch/npy_writer.h) and that
// numpy.save gives for a C-ordered float32 array. Only what mesh.extract needs is
// supported: dtype '<f4', fortran_order False, 3 dimensions. Errors are InvalidArgument
// whose message starts with the file's display name and says what is wrong.
// Pure functions of their arguments and the file; any thread may call them.
#ifndef KILN_WORKER_TASKS_NPY_READER_H_
#define KILN_WORKER_TASKS_NPY_READER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::tasks {

struct NpyHeader {
  // The array's shape as the header gives it, slowest axis first ([sz, sy, sx]).
  std::vector<int64_t> shape;
  // Byte offset of the data in the file.
  int64_t data_offset = 0;
};

// Parses the header of the .npy file at `path` (`name` is used in messages) and checks
// it: magic, version 1.x or 2.x, dtype '<f4', C order, shape of 3 positive integers.
absl::StatusOr<NpyHeader> ReadNpyFloat32Header(const std::string& path, const std::string& name);

struct Float32Volume {
  // Samples along x, y, z.
  std::array<int, 3> dims{0, 0, 0};
  // dims[0]*dims[1]*dims[2] samples, x fastest.
  std::vector<float> values;
};

// Reads a whole 3-d float32 .npy volume. Each axis must have 1..max_per_axis samples
// (checked before anything is allocated); the data must be exactly what the shape needs
// ("has N bytes of data, shape needs M" otherwise).
absl::StatusOr<Float32Volume> ReadNpyFloat32Volume(const std::string& path, const std::string& name,
                                                   int max_per_axis);

// Reads a headerless volume of dims[0]*dims[1]*dims[2] little-endian float32 samples,
// x fastest; the file size must match exactly ("<name> has N bytes, dims [..] need M";
// other errors start with "<name>: ").
absl::StatusOr<Float32Volume> ReadRawFloat32Volume(const std::string& path, const std::string& name,
                                                   const std::array<int, 3>& dims);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_NPY_READER_H_
