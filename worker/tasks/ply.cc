#include "worker/tasks/ply.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace kiln::tasks {
namespace {

// ---- Writing ----

template <typename T>
void AppendLittleEndian(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(bytes, bytes + sizeof(T));
  out.append(bytes, sizeof(T));
}

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// ---- Reading ----

enum class Format { kAscii, kBinaryLittleEndian, kBinaryBigEndian };
enum class Type { kInt8, kUint8, kInt16, kUint16, kInt32, kUint32, kFloat32, kFloat64 };

bool ParseType(absl::string_view name, Type& type) {
  static constexpr std::pair<absl::string_view, Type> kNames[] = {
      {"char", Type::kInt8},      {"int8", Type::kInt8},       {"uchar", Type::kUint8},
      {"uint8", Type::kUint8},    {"short", Type::kInt16},     {"int16", Type::kInt16},
      {"ushort", Type::kUint16},  {"uint16", Type::kUint16},   {"int", Type::kInt32},
      {"int32", Type::kInt32},    {"uint", Type::kUint32},     {"uint32", Type::kUint32},
      {"float", Type::kFloat32},  {"float32", Type::kFloat32}, {"double", Type::kFloat64},
      {"float64", Type::kFloat64}};
  for (const auto& [n, t] : kNames) {
    if (n == name) {
      type = t;
      return true;
    }
  }
  return false;
}

size_t TypeSize(Type t) {
  switch (t) {
    case Type::kInt8:
    case Type::kUint8:
      return 1;
    case Type::kInt16:
    case Type::kUint16:
      return 2;
    case Type::kInt32:
    case Type::kUint32:
    case Type::kFloat32:
      return 4;
    case Type::kFloat64:
      return 8;
  }
  return 1;
}

struct Property {
  std::string name;
  bool list = false;
  Type count_type = Type::kUint8;  // Lists only.
  Type type = Type::kFloat32;
};

struct Element {
  std::string name;
  uint64_t count = 0;
  std::vector<Property> properties;
};

// Reads values of the body one at a time, in either encoding.
class ValueReader {
 public:
  ValueReader(absl::string_view data, Format format) : data_(data), format_(format) {}

  // Reads one value as a double; false (with error()) at the end of data or on a
  // malformed number.
  bool Read(Type type, double& out) {
    if (format_ == Format::kAscii) return ReadAscii(out);
    const size_t size = TypeSize(type);
    if (data_.size() - pos_ < size) {
      error_ = "file ends";
      return false;
    }
    char bytes[8];
    std::memcpy(bytes, data_.data() + pos_, size);
    pos_ += size;
    const bool file_little = format_ == Format::kBinaryLittleEndian;
    if (file_little != (std::endian::native == std::endian::little)) {
      std::reverse(bytes, bytes + size);
    }
    switch (type) {
      case Type::kInt8:
        out = Decode<int8_t>(bytes);
        break;
      case Type::kUint8:
        out = Decode<uint8_t>(bytes);
        break;
      case Type::kInt16:
        out = Decode<int16_t>(bytes);
        break;
      case Type::kUint16:
        out = Decode<uint16_t>(bytes);
        break;
      case Type::kInt32:
        out = Decode<int32_t>(bytes);
        break;
      case Type::kUint32:
        out = Decode<uint32_t>(bytes);
        break;
      case Type::kFloat32:
        out = Decode<float>(bytes);
        break;
      case Type::kFloat64:
        out = Decode<double>(bytes);
        break;
    }
    return true;
  }

  size_t remaining() const { return data_.size() - pos_; }
  const std::string& error() const { return error_; }

 private:
  template <typename T>
  static double Decode(const char* bytes) {
    T v;
    std::memcpy(&v, bytes, sizeof(T));
    return static_cast<double>(v);
  }

  bool ReadAscii(double& out) {
    while (pos_ < data_.size() && std::isspace(static_cast<unsigned char>(data_[pos_]))) ++pos_;
    size_t end = pos_;
    while (end < data_.size() && !std::isspace(static_cast<unsigned char>(data_[end]))) ++end;
    if (end == pos_) {
      error_ = "file ends";
      return false;
    }
    const char* first = data_.data() + pos_;
    const char* last = data_.data() + end;
    if (*first == '+') ++first;  // from_chars rejects a leading '+'.
    const auto [ptr, ec] = std::from_chars(first, last, out);
    if (ec != std::errc() || ptr != last) {
      error_ = absl::StrCat("malformed number \"",
                            data_.substr(pos_, std::min<size_t>(end - pos_, 32)), "\"");
      return false;
    }
    pos_ = end;
    return true;
  }

  absl::string_view data_;
  Format format_;
  size_t pos_ = 0;
  std::string error_;
};

struct Header {
  Format format = Format::kAscii;
  std::vector<Element> elements;
  size_t body_offset = 0;
};

absl::StatusOr<Header> ParseHeader(absl::string_view file, const std::string& path) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad PLY header: ", what));
  };
  if (file.substr(0, 4) != "ply\n" && file.substr(0, 5) != "ply\r\n") {
    return bad("the file does not start with \"ply\"");
  }
  Header header;
  bool have_format = false;
  size_t pos = 0;
  int line_number = 0;
  while (true) {
    const size_t newline = file.find('\n', pos);
    if (newline == absl::string_view::npos) return bad("no end_header line");
    absl::string_view line = file.substr(pos, newline - pos);
    pos = newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1) continue;  // "ply"
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.empty()) continue;
    const std::string where = absl::StrCat("line ", line_number, " \"", line, "\"");
    if (words[0] == "end_header") break;
    if (words[0] == "comment" || words[0] == "obj_info") continue;
    if (words[0] == "format") {
      if (words.size() != 3 || words[2] != "1.0") return bad(where);
      if (words[1] == "ascii") {
        header.format = Format::kAscii;
      } else if (words[1] == "binary_little_endian") {
        header.format = Format::kBinaryLittleEndian;
      } else if (words[1] == "binary_big_endian") {
        header.format = Format::kBinaryBigEndian;
      } else {
        return bad(absl::StrCat("unknown format in ", where));
      }
      have_format = true;
    } else if (words[0] == "element") {
      Element element;
      if (words.size() != 3 || !absl::SimpleAtoi(words[2], &element.count)) return bad(where);
      element.name = std::string(words[1]);
      for (const Element& e : header.elements) {
        if (e.name == element.name) return bad(absl::StrCat("duplicate element in ", where));
      }
      header.elements.push_back(std::move(element));
    } else if (words[0] == "property") {
      if (header.elements.empty()) return bad(absl::StrCat("property before element in ", where));
      Property p;
      if (words.size() == 5 && words[1] == "list") {
        p.list = true;
        if (!ParseType(words[2], p.count_type) || !ParseType(words[3], p.type)) {
          return bad(absl::StrCat("unknown type in ", where));
        }
        if (p.count_type == Type::kFloat32 || p.count_type == Type::kFloat64) {
          return bad(absl::StrCat("list count must be an integer type in ", where));
        }
        p.name = std::string(words[4]);
      } else if (words.size() == 3) {
        if (!ParseType(words[1], p.type)) return bad(absl::StrCat("unknown type in ", where));
        p.name = std::string(words[2]);
      } else {
        return bad(where);
      }
      header.elements.back().properties.push_back(std::move(p));
    } else {
      return bad(absl::StrCat("unknown keyword in ", where));
    }
  }
  if (!have_format) return bad("no format line");
  header.body_offset = pos;
  const size_t body = file.size() - pos;
  for (const Element& e : header.elements) {
    if (e.count == 0) continue;
    if (e.properties.empty())
      return bad(absl::StrCat("element \"", e.name, "\" has no properties"));
    // Every record takes at least one byte: bounds allocations on hostile counts.
    if (e.count > body) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": truncated: element \"", e.name,
                                                     "\" declares ", e.count,
                                                     " records but the body has ", body, " bytes"));
    }
  }
  return header;
}

int FindScalar(const Element& e, absl::string_view name) {
  for (size_t i = 0; i < e.properties.size(); ++i) {
    if (e.properties[i].name == name && !e.properties[i].list) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

absl::Status WritePly(const Mesh& mesh, const std::string& path) {
  const bool normals = !mesh.normals.empty();
  if (normals && mesh.normals.size() != mesh.positions.size()) {
    return absl::InvalidArgumentError("mesh has a different number of normals and positions");
  }
  if (mesh.positions.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("mesh has more than 2^32 vertices");
  }
  for (const auto& t : mesh.triangles) {
    for (uint32_t v : t) {
      if (v >= mesh.positions.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("triangle references vertex ", v, " of ", mesh.positions.size()));
      }
    }
  }
  std::string buffer = absl::StrCat(
      "ply\nformat binary_little_endian 1.0\ncomment written by kiln\nelement vertex ",
      mesh.positions.size(), "\nproperty float x\nproperty float y\nproperty float z\n",
      normals ? "property float nx\nproperty float ny\nproperty float nz\n" : "", "element face ",
      mesh.triangles.size(), "\nproperty list uchar uint vertex_indices\nend_header\n");

  const std::string temp = absl::StrCat(path, ".tmp-", getpid());
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) return IoError("cannot create", temp);
  constexpr size_t kChunk = 1 << 20;
  absl::Status status;
  auto flush = [&] {
    if (status.ok() && std::fwrite(buffer.data(), 1, buffer.size(), file) != buffer.size()) {
      status = IoError("cannot write", temp);
    }
    buffer.clear();
  };
  for (size_t i = 0; i < mesh.positions.size() && status.ok(); ++i) {
    for (float c : mesh.positions[i]) AppendLittleEndian(buffer, c);
    if (normals) {
      for (float c : mesh.normals[i]) AppendLittleEndian(buffer, c);
    }
    if (buffer.size() >= kChunk) flush();
  }
  for (size_t i = 0; i < mesh.triangles.size() && status.ok(); ++i) {
    AppendLittleEndian<uint8_t>(buffer, 3);
    for (uint32_t v : mesh.triangles[i]) AppendLittleEndian(buffer, v);
    if (buffer.size() >= kChunk) flush();
  }
  flush();
  if (std::fclose(file) != 0 && status.ok()) status = IoError("cannot write", temp);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = IoError(absl::StrCat("cannot rename ", temp, " to"), path);
  }
  if (!status.ok()) std::remove(temp.c_str());
  return status;
}

absl::StatusOr<Mesh> ReadPly(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  const std::string file = std::move(contents).str();

  KILN_ASSIGN_OR_RETURN(Header header, ParseHeader(file, path));
  uint64_t vertex_count = 0;
  for (const Element& e : header.elements) {
    if (e.name == "vertex") vertex_count = e.count;
  }
  ValueReader reader(absl::string_view(file).substr(header.body_offset), header.format);
  Mesh mesh;
  bool have_vertices = false;
  for (const Element& e : header.elements) {
    auto malformed = [&](uint64_t record, absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", what, " in ", e.name, " ", record, " of ", e.count));
    };
    const bool is_vertex = e.name == "vertex";
    const bool is_face = e.name == "face";
    std::array<int, 6> columns{-1, -1, -1, -1, -1, -1};  // x y z nx ny nz
    int indices_column = -1;
    bool has_normals = false;
    if (is_vertex) {
      have_vertices = true;
      static constexpr absl::string_view kNames[] = {"x", "y", "z", "nx", "ny", "nz"};
      for (int c = 0; c < 6; ++c) columns[c] = FindScalar(e, kNames[c]);
      if (columns[0] < 0 || columns[1] < 0 || columns[2] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": the vertex element lacks x, y or z"));
      }
      mesh.positions.reserve(e.count);
      has_normals = columns[3] >= 0 && columns[4] >= 0 && columns[5] >= 0;
      if (has_normals) mesh.normals.reserve(e.count);
    }
    if (is_face) {
      for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        if (p.list && (p.name == "vertex_indices" || p.name == "vertex_index")) {
          indices_column = static_cast<int>(i);
        }
      }
      if (indices_column < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": the face element lacks a vertex_indices list"));
      }
      mesh.triangles.reserve(e.count);
    }
    std::array<double, 6> scalars{};
    std::vector<uint32_t> polygon;
    for (uint64_t r = 0; r < e.count; ++r) {
      for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        double value = 0;
        if (!p.list) {
          if (!reader.Read(p.type, value)) return malformed(r, reader.error());
          if (is_vertex) {
            for (int c = 0; c < 6; ++c) {
              if (columns[c] == static_cast<int>(i)) scalars[c] = value;
            }
          }
          continue;
        }
        double count = 0;
        if (!reader.Read(p.count_type, count)) return malformed(r, reader.error());
        if (count < 0 || count != std::floor(count) || count > reader.remaining()) {
          return malformed(r, absl::StrCat("bad list length ", count));
        }
        const bool indices = static_cast<int>(i) == indices_column;
        if (indices) {
          if (count < 3) return malformed(r, absl::StrCat("a face with ", count, " vertices"));
          polygon.clear();
        }
        for (int k = 0; k < static_cast<int>(count); ++k) {
          if (!reader.Read(p.type, value)) return malformed(r, reader.error());
          if (!indices) continue;
          if (value < 0 || value != std::floor(value) || value >= double(vertex_count)) {
            return malformed(
                r, absl::StrCat("vertex index ", value, " out of range [0, ", vertex_count, ")"));
          }
          polygon.push_back(static_cast<uint32_t>(value));
        }
        for (size_t k = 1; indices && k + 1 < polygon.size(); ++k) {
          mesh.triangles.push_back({polygon[0], polygon[k], polygon[k + 1]});
        }
      }
      if (is_vertex) {
        mesh.positions.push_back({float(scalars[0]), float(scalars[1]), float(scalars[2])});
        if (has_normals) {
          mesh.normals.push_back({float(scalars[3]), float(scalars[4]), float(scalars[5])});
        }
      }
    }
  }
  if (!have_vertices) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no vertex element"));
  }
  return mesh;
}

}  // namespace kiln::tasks
