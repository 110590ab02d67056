// Test-only: writes .npy and raw float32 files byte by byte, including malformed ones,
// for the volume reader's and mesh.extract's tests. Header-only; any thread.
#ifndef KILN_WORKER_TASKS_TESTING_NPY_TEST_FILE_H_
#define KILN_WORKER_TASKS_TESTING_NPY_TEST_FILE_H_

#include <cstdint>
#include <fstream>
#include <span>
#include <string>

namespace kiln::tasks::testing {

// Writes magic, version `major`.0, the header length (2 bytes for 1.0, 4 for 2.0), the
// header dict padded with spaces and '\n' to a multiple of 64 bytes, then `data` as is.
inline void WriteNpyBytes(const std::string& path, const std::string& dict, int major,
                          const std::string& data) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write("\x93NUMPY", 6);
  out.put(static_cast<char>(major));
  out.put(0);
  const uint32_t length = static_cast<uint32_t>(header.size());
  for (size_t b = 0; b < prefix - 8; ++b) out.put(static_cast<char>((length >> (8 * b)) & 0xff));
  out << header << data;
}

inline std::string FloatBytes(std::span<const float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// A C-ordered '<f4' array of shape (sz, sy, sx) holding `values` (x fastest).
inline void WriteFloat32Npy(const std::string& path, int sx, int sy, int sz,
                            std::span<const float> values, int major = 1) {
  WriteNpyBytes(path,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(sz) + ", " +
                    std::to_string(sy) + ", " + std::to_string(sx) + "), }",
                major, FloatBytes(values));
}

inline void WriteRawFloat32(const std::string& path, std::span<const float> values) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << FloatBytes(values);
}

}  // namespace kiln::tasks::testing

#endif  // KILN_WORKER_TASKS_TESTING_NPY_TEST_FILE_H_
