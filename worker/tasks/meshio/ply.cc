#include "worker/tasks/meshio/ply.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/mesh_file.h"

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

// Shortest text that reads back as the same float.
void AppendAsciiFloat(std::string& out, float value) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  out.append(text, end);
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

// The colour channels of a vertex record: integer types hold 0..255, float types 0..1.
uint8_t ColorChannel(double value, Type type) {
  if (type == Type::kFloat32 || type == Type::kFloat64) value *= 255;
  if (!(value > 0)) return 0;  // Also NaN.
  return value >= 255 ? 255 : static_cast<uint8_t>(std::lround(value));
}

}  // namespace

absl::Status WritePly(const Mesh& mesh, const std::string& path, const WriteOptions& options) {
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, path));
  const bool normals = !mesh.normals.empty();
  const bool colors = !mesh.colors.empty();
  const bool ascii = options.ascii;
  std::string buffer =
      absl::StrCat("ply\nformat ", ascii ? "ascii" : "binary_little_endian",
                   " 1.0\ncomment written by kiln\nelement vertex ", mesh.positions.size(),
                   "\nproperty float x\nproperty float y\nproperty float z\n",
                   normals ? "property float nx\nproperty float ny\nproperty float nz\n" : "",
                   colors ? "property uchar red\nproperty uchar green\nproperty uchar blue\n"
                            "property uchar alpha\n"
                          : "",
                   "element face ", mesh.triangles.size(),
                   "\nproperty list uchar uint vertex_indices\nend_header\n");

  KILN_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Create(path));
  constexpr size_t kChunk = 1 << 20;
  auto put_float = [&](float v, bool last) {
    if (!ascii) return AppendLittleEndian(buffer, v);
    AppendAsciiFloat(buffer, v);
    buffer.push_back(last ? '\n' : ' ');
  };
  for (size_t i = 0; i < mesh.positions.size(); ++i) {
    for (int c = 0; c < 3; ++c) put_float(mesh.positions[i][c], c == 2 && !normals && !colors);
    if (normals) {
      for (int c = 0; c < 3; ++c) put_float(mesh.normals[i][c], c == 2 && !colors);
    }
    if (colors) {
      const auto& rgba = mesh.colors[i];
      if (ascii) {
        absl::StrAppend(&buffer, rgba[0], " ", rgba[1], " ", rgba[2], " ", rgba[3], "\n");
      } else {
        buffer.append(reinterpret_cast<const char*>(rgba.data()), 4);
      }
    }
    if (buffer.size() >= kChunk) {
      KILN_RETURN_IF_ERROR(file->Append(buffer));
      buffer.clear();
    }
  }
  for (const auto& t : mesh.triangles) {
    if (ascii) {
      absl::StrAppend(&buffer, "3 ", t[0], " ", t[1], " ", t[2], "\n");
    } else {
      AppendLittleEndian<uint8_t>(buffer, 3);
      for (uint32_t v : t) AppendLittleEndian(buffer, v);
    }
    if (buffer.size() >= kChunk) {
      KILN_RETURN_IF_ERROR(file->Append(buffer));
      buffer.clear();
    }
  }
  KILN_RETURN_IF_ERROR(file->Append(buffer));
  return file->Commit();
}

absl::StatusOr<Mesh> ReadPly(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const std::string bytes, ReadMeshFile(path));
  return ReadPlyFromBytes(bytes, path);
}

absl::StatusOr<Mesh> ReadPlyFromBytes(absl::string_view file, const std::string& path) {
  KILN_ASSIGN_OR_RETURN(Header header, ParseHeader(file, path));
  uint64_t vertex_count = 0;
  for (const Element& e : header.elements) {
    if (e.name == "vertex") {
      vertex_count = e.count;
      KILN_RETURN_IF_ERROR(CheckCount(path, "vertex", e.count, kMaxMeshVertices));
    }
    if (e.name == "face") KILN_RETURN_IF_ERROR(CheckCount(path, "face", e.count, kMaxMeshFaces));
  }
  ValueReader reader(file.substr(header.body_offset), header.format);
  Mesh mesh;
  bool have_vertices = false;
  for (const Element& e : header.elements) {
    auto malformed = [&](uint64_t record, absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", what, " in ", e.name, " ", record, " of ", e.count));
    };
    const bool is_vertex = e.name == "vertex";
    const bool is_face = e.name == "face";
    // x y z nx ny nz red green blue alpha
    constexpr int kColumns = 10;
    std::array<int, kColumns> columns;
    columns.fill(-1);
    int indices_column = -1;
    bool has_normals = false;
    bool has_colors = false;
    if (is_vertex) {
      have_vertices = true;
      static constexpr absl::string_view kNames[kColumns] = {"x",  "y",   "z",     "nx",   "ny",
                                                             "nz", "red", "green", "blue", "alpha"};
      for (int c = 0; c < kColumns; ++c) columns[c] = FindScalar(e, kNames[c]);
      if (columns[0] < 0 || columns[1] < 0 || columns[2] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": the vertex element lacks x, y or z"));
      }
      mesh.positions.reserve(e.count);
      has_normals = columns[3] >= 0 && columns[4] >= 0 && columns[5] >= 0;
      if (has_normals) mesh.normals.reserve(e.count);
      has_colors = columns[6] >= 0 && columns[7] >= 0 && columns[8] >= 0;
      if (has_colors) mesh.colors.reserve(e.count);
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
    std::array<double, kColumns> scalars{};
    std::vector<uint32_t> polygon;
    for (uint64_t r = 0; r < e.count; ++r) {
      for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        double value = 0;
        if (!p.list) {
          if (!reader.Read(p.type, value)) return malformed(r, reader.error());
          if (is_vertex) {
            for (int c = 0; c < kColumns; ++c) {
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
          if (mesh.triangles.size() >= kMaxMeshFaces) {
            return CheckCount(path, "triangle", mesh.triangles.size() + 1, kMaxMeshFaces);
          }
          mesh.triangles.push_back({polygon[0], polygon[k], polygon[k + 1]});
        }
      }
      if (is_vertex) {
        mesh.positions.push_back({float(scalars[0]), float(scalars[1]), float(scalars[2])});
        if (has_normals) {
          mesh.normals.push_back({float(scalars[3]), float(scalars[4]), float(scalars[5])});
        }
        if (has_colors) {
          auto channel = [&](int c) {
            return ColorChannel(scalars[c], e.properties[columns[c]].type);
          };
          mesh.colors.push_back(
              {channel(6), channel(7), channel(8), columns[9] >= 0 ? channel(9) : uint8_t{255}});
        }
      }
    }
  }
  if (!have_vertices) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no vertex element"));
  }
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, path));
  return mesh;
}

}  // namespace kiln::tasks
