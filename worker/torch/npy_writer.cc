#include "worker/torch/npy_writer.h"

#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::torchrt {

absl::Status WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape,
                             std::span<const float> values) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (shape.empty() || count != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(absl::StrCat("npy ", path, ": shape (",
                                                   absl::StrJoin(shape, ", "), ") does not hold ",
                                                   values.size(), " values"));
  }
  static_assert(std::endian::native == std::endian::little, "npy data is written as '<f4'");
  std::string header =
      absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (",
                   absl::StrJoin(shape, ", "), shape.size() == 1 ? ",), }" : "), }");
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and ended by
  // '\n' to a multiple of 64 bytes so the data is aligned.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  const std::string temp = path + ".partial";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t length = static_cast<uint16_t>(header.size());
    out.write(preamble, sizeof(preamble));
    out.put(static_cast<char>(length & 0xff));
    out.put(static_cast<char>(length >> 8));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(values.data()),
              static_cast<std::streamsize>(values.size() * sizeof(float)));
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      return absl::UnavailableError(absl::StrCat("cannot write ", temp));
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("cannot rename ", temp, ": ", error.message()));
  return absl::OkStatus();
}

}  // namespace kiln::torchrt
