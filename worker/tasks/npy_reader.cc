#include "worker/tasks/npy_reader.h"

#include <bit>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace kiln::tasks {
namespace {

static_assert(std::endian::native == std::endian::little, "samples are read as '<f4'");

// NumPy caps a header at a few kilobytes; anything much larger is not a .npy file.
constexpr uint32_t kMaxHeaderBytes = 1 << 16;

absl::Status Bad(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
}

void SkipSpaces(absl::string_view text, size_t* pos) {
  while (*pos < text.size() && std::isspace(static_cast<unsigned char>(text[*pos]))) ++*pos;
}

// The text after `'key':` (or "key":) in the header dict, or npos.
size_t ValueOf(absl::string_view dict, absl::string_view key) {
  for (const char quote : {'\'', '"'}) {
    const std::string quoted = absl::StrCat(std::string(1, quote), key, std::string(1, quote));
    size_t pos = dict.find(quoted);
    if (pos == absl::string_view::npos) continue;
    pos += quoted.size();
    SkipSpaces(dict, &pos);
    if (pos >= dict.size() || dict[pos] != ':') return absl::string_view::npos;
    ++pos;
    SkipSpaces(dict, &pos);
    return pos;
  }
  return absl::string_view::npos;
}

absl::StatusOr<std::string> ParseDescr(absl::string_view dict, const std::string& name) {
  size_t pos = ValueOf(dict, "descr");
  if (pos == absl::string_view::npos || pos >= dict.size() ||
      (dict[pos] != '\'' && dict[pos] != '"')) {
    return Bad(name, "bad .npy header: no 'descr' string");
  }
  const size_t end = dict.find(dict[pos], pos + 1);
  if (end == absl::string_view::npos) return Bad(name, "bad .npy header: unterminated 'descr'");
  return std::string(dict.substr(pos + 1, end - pos - 1));
}

absl::StatusOr<bool> ParseFortranOrder(absl::string_view dict, const std::string& name) {
  const size_t pos = ValueOf(dict, "fortran_order");
  if (pos == absl::string_view::npos) return Bad(name, "bad .npy header: no 'fortran_order'");
  if (dict.substr(pos, 4) == "True") return true;
  if (dict.substr(pos, 5) == "False") return false;
  return Bad(name, "bad .npy header: 'fortran_order' must be True or False");
}

absl::StatusOr<std::vector<int64_t>> ParseShape(absl::string_view dict, const std::string& name) {
  const size_t pos = ValueOf(dict, "shape");
  if (pos == absl::string_view::npos || pos >= dict.size() || dict[pos] != '(') {
    return Bad(name, "bad .npy header: no 'shape' tuple");
  }
  const size_t end = dict.find(')', pos);
  if (end == absl::string_view::npos) return Bad(name, "bad .npy header: unterminated 'shape'");
  std::vector<int64_t> shape;
  for (absl::string_view item : absl::StrSplit(dict.substr(pos + 1, end - pos - 1), ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) continue;  // The trailing comma of a 1-tuple, or "()".
    int64_t n = 0;
    if (!absl::SimpleAtoi(item, &n) || n < 0) {
      return Bad(name, absl::StrCat("bad .npy header: shape entry \"", item,
                                    "\" is not a non-negative integer"));
    }
    shape.push_back(n);
  }
  return shape;
}

absl::StatusOr<int64_t> FileSize(const std::string& path, const std::string& name) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return Bad(name, absl::StrCat("cannot read ", path, ": ", error.message()));
  return static_cast<int64_t>(size);
}

// Reads `count` floats at `offset` of `path` into a fresh vector.
absl::StatusOr<std::vector<float>> ReadFloats(const std::string& path, const std::string& name,
                                              int64_t offset, int64_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(name, absl::StrCat("cannot open ", path));
  std::vector<float> values(static_cast<size_t>(count));
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(values.data()),
          static_cast<std::streamsize>(count * sizeof(float)));
  if (!in) return Bad(name, "read failed (the file changed while being read?)");
  return values;
}

}  // namespace

absl::StatusOr<NpyHeader> ReadNpyFloat32Header(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(name, absl::StrCat("cannot open ", path));
  unsigned char preamble[8] = {};
  in.read(reinterpret_cast<char*>(preamble), sizeof(preamble));
  if (!in || std::memcmp(preamble, "\x93NUMPY", 6) != 0) {
    return Bad(name, "bad magic: not a .npy file (expected \\x93NUMPY)");
  }
  const int major = preamble[6];
  uint32_t header_bytes = 0;
  int64_t prefix = 0;
  if (major == 1) {
    unsigned char len[2] = {};
    in.read(reinterpret_cast<char*>(len), 2);
    header_bytes = len[0] | (uint32_t{len[1]} << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char len[4] = {};
    in.read(reinterpret_cast<char*>(len), 4);
    header_bytes =
        len[0] | (uint32_t{len[1]} << 8) | (uint32_t{len[2]} << 16) | (uint32_t{len[3]} << 24);
    prefix = 12;
  } else {
    return Bad(name, absl::StrCat(".npy format version ", major, ".", int{preamble[7]},
                                  " is not supported (1.0 and 2.0 are)"));
  }
  if (!in) return Bad(name, "truncated .npy header");
  if (header_bytes > kMaxHeaderBytes) {
    return Bad(name, absl::StrCat("bad .npy header: ", header_bytes, " bytes long"));
  }
  std::string dict(header_bytes, '\0');
  in.read(dict.data(), header_bytes);
  if (!in) return Bad(name, "truncated .npy header");
  if (dict.find('{') == std::string::npos || dict.find('}') == std::string::npos) {
    return Bad(name, "bad .npy header: not a dictionary");
  }

  absl::StatusOr<std::string> descr = ParseDescr(dict, name);
  if (!descr.ok()) return descr.status();
  if (*descr != "<f4") {
    return Bad(name, absl::StrCat("dtype '", *descr,
                                  "' is not supported (only '<f4', little-endian float32)"));
  }
  absl::StatusOr<bool> fortran = ParseFortranOrder(dict, name);
  if (!fortran.ok()) return fortran.status();
  if (*fortran) {
    return Bad(name, "fortran_order True is not supported (write a C-ordered array)");
  }
  absl::StatusOr<std::vector<int64_t>> shape = ParseShape(dict, name);
  if (!shape.ok()) return shape.status();
  if (shape->size() != 3) {
    return Bad(name, absl::StrCat("shape (", absl::StrJoin(*shape, ", "), ") has ", shape->size(),
                                  " dimensions; 3 needed [sz, sy, sx]"));
  }
  return NpyHeader{.shape = *std::move(shape), .data_offset = prefix + header_bytes};
}

absl::StatusOr<Float32Volume> ReadNpyFloat32Volume(const std::string& path, const std::string& name,
                                                   int max_per_axis) {
  absl::StatusOr<NpyHeader> header = ReadNpyFloat32Header(path, name);
  if (!header.ok()) return header.status();
  for (int64_t n : header->shape) {
    if (n < 1 || n > max_per_axis) {
      return Bad(name, absl::StrCat("shape (", absl::StrJoin(header->shape, ", "),
                                    "): each axis must have 1 to ", max_per_axis, " samples"));
    }
  }
  const int64_t count = header->shape[0] * header->shape[1] * header->shape[2];
  absl::StatusOr<int64_t> size = FileSize(path, name);
  if (!size.ok()) return size.status();
  const int64_t have = *size - header->data_offset;
  const int64_t need = count * static_cast<int64_t>(sizeof(float));
  if (have != need) {
    return Bad(name, absl::StrCat(have < need ? "truncated: " : "", "has ", have,
                                  " bytes of data, shape (", absl::StrJoin(header->shape, ", "),
                                  ") needs ", need));
  }
  Float32Volume volume;
  volume.dims = {static_cast<int>(header->shape[2]), static_cast<int>(header->shape[1]),
                 static_cast<int>(header->shape[0])};
  absl::StatusOr<std::vector<float>> values = ReadFloats(path, name, header->data_offset, count);
  if (!values.ok()) return values.status();
  volume.values = *std::move(values);
  return volume;
}

absl::StatusOr<Float32Volume> ReadRawFloat32Volume(const std::string& path, const std::string& name,
                                                   const std::array<int, 3>& dims) {
  int64_t count = 1;
  for (int d : dims) {
    if (d < 1)
      return Bad(name, absl::StrCat("dims [", absl::StrJoin(dims, ", "), "] must be >= 1"));
    count *= d;
  }
  absl::StatusOr<int64_t> size = FileSize(path, name);
  if (!size.ok()) return size.status();
  const int64_t need = count * static_cast<int64_t>(sizeof(float));
  if (*size != need) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has ", *size, " bytes, dims [",
                                                   absl::StrJoin(dims, ", "), "] need ", need,
                                                   " (float32, x fastest)"));
  }
  Float32Volume volume;
  volume.dims = dims;
  absl::StatusOr<std::vector<float>> values = ReadFloats(path, name, 0, count);
  if (!values.ok()) return values.status();
  volume.values = *std::move(values);
  return volume;
}

}  // namespace kiln::tasks
