#include "worker/tasks/meshio/stl.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/mesh_file.h"

namespace kiln::tasks {
namespace {

constexpr size_t kBinaryHeaderBytes = 84;  // 80-byte comment + uint32 triangle count.
constexpr size_t kBinaryTriangleBytes = 50;

using Vec3f = std::array<float, 3>;

Vec3f FacetNormal(const Vec3f& a, const Vec3f& b, const Vec3f& c) {
  const double u[3] = {double(b[0]) - a[0], double(b[1]) - a[1], double(b[2]) - a[2]};
  const double v[3] = {double(c[0]) - a[0], double(c[1]) - a[1], double(c[2]) - a[2]};
  const double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                       u[0] * v[1] - u[1] * v[0]};
  const double length = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  if (!(length > 0) || !std::isfinite(length)) return {0, 0, 0};
  return {float(n[0] / length), float(n[1] / length), float(n[2] / length)};
}

template <typename T>
void AppendLittleEndian(std::string& out, T value) {
  static_assert(std::endian::native == std::endian::little, "binary STL writer assumes LE");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T LoadLittleEndian(const char* bytes) {
  static_assert(std::endian::native == std::endian::little, "binary STL reader assumes LE");
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

void AppendFloat(std::string& out, float value) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  out.append(text, end);
}

// Turns a triangle soup into an indexed mesh: positions with the same float values
// (+0 and -0 alike) become one vertex.
class Welder {
 public:
  explicit Welder(size_t expected_triangles) {
    index_.reserve(expected_triangles);  // About half as many vertices as triangles.
  }

  uint32_t Add(const Vec3f& p) {
    Key key;
    for (int c = 0; c < 3; ++c) key[c] = std::bit_cast<uint32_t>(p[c] + 0.0f);  // -0 -> +0.
    auto [it, inserted] = index_.try_emplace(key, static_cast<uint32_t>(positions_.size()));
    if (inserted) positions_.push_back(p);
    return it->second;
  }

  std::vector<Vec3f> TakePositions() { return std::move(positions_); }

 private:
  using Key = std::array<uint32_t, 3>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t h = k[0];
      h = h * 0x9E3779B97F4A7C15ull ^ k[1];
      h = h * 0x9E3779B97F4A7C15ull ^ k[2];
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  std::unordered_map<Key, uint32_t, KeyHash> index_;
  std::vector<Vec3f> positions_;
};

absl::Status CheckFinite(const Vec3f& p, absl::string_view name, size_t facet) {
  for (float c : p) {
    if (!std::isfinite(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": facet ", facet, " has a non-finite coordinate (NaN or inf)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Mesh> ReadBinary(absl::string_view bytes, absl::string_view name, uint32_t count) {
  Welder welder(count);
  Mesh mesh;
  mesh.triangles.reserve(count);
  const char* record = bytes.data() + kBinaryHeaderBytes;
  for (uint32_t t = 0; t < count; ++t, record += kBinaryTriangleBytes) {
    std::array<uint32_t, 3> triangle;
    for (int v = 0; v < 3; ++v) {
      const char* p = record + 12 + 12 * v;  // After the facet normal.
      const Vec3f position = {LoadLittleEndian<float>(p), LoadLittleEndian<float>(p + 4),
                              LoadLittleEndian<float>(p + 8)};
      KILN_RETURN_IF_ERROR(CheckFinite(position, name, t));
      triangle[v] = welder.Add(position);
    }
    mesh.triangles.push_back(triangle);
  }
  mesh.positions = welder.TakePositions();
  return mesh;
}

// Whitespace-separated words with the line each starts on, for messages.
class Words {
 public:
  explicit Words(absl::string_view text) : text_(text) {}

  bool Next(absl::string_view& word) {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ == text_.size()) return false;
    const size_t start = pos_;
    while (pos_ < text_.size() && !absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    word = text_.substr(start, pos_ - start);
    return true;
  }
  // Skips the rest of the current line (a solid's name may contain spaces).
  void SkipLine() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }
  int line() const { return line_; }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
};

absl::StatusOr<Mesh> ReadAscii(absl::string_view bytes, absl::string_view name) {
  Words words(bytes);
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": bad ascii STL at line ", words.line(), ": ", what));
  };
  // Every facet takes well over 50 bytes of text: a bound for the welder's table.
  Welder welder(bytes.size() / 50);
  Mesh mesh;
  absl::string_view word;
  bool in_solid = false;
  bool seen_solid = false;
  std::vector<Vec3f> facet;
  auto expect = [&](absl::string_view keyword) -> absl::Status {
    if (!words.Next(word)) return bad(absl::StrCat("file ends, expected \"", keyword, "\""));
    if (word != keyword)
      return bad(absl::StrCat("expected \"", keyword, "\", found \"", word.substr(0, 32), "\""));
    return absl::OkStatus();
  };
  auto number = [&](float& out) -> absl::Status {
    if (!words.Next(word)) return bad("file ends inside a facet");
    const char* first = word.data();
    if (*first == '+') ++first;  // from_chars rejects a leading '+'.
    const auto [ptr, ec] = std::from_chars(first, word.data() + word.size(), out);
    if (ec != std::errc() || ptr != word.data() + word.size()) {
      return bad(absl::StrCat("malformed number \"", word.substr(0, 32), "\""));
    }
    return absl::OkStatus();
  };
  while (words.Next(word)) {
    if (!in_solid) {
      if (word != "solid")
        return bad(absl::StrCat("expected \"solid\", found \"", word.substr(0, 32), "\""));
      words.SkipLine();
      in_solid = seen_solid = true;
      continue;
    }
    if (word == "endsolid") {
      words.SkipLine();
      in_solid = false;
      continue;
    }
    if (word != "facet")
      return bad(absl::StrCat("expected \"facet\", found \"", word.substr(0, 32), "\""));
    KILN_RETURN_IF_ERROR(expect("normal"));
    float ignored;
    for (int c = 0; c < 3; ++c) KILN_RETURN_IF_ERROR(number(ignored));
    KILN_RETURN_IF_ERROR(expect("outer"));
    KILN_RETURN_IF_ERROR(expect("loop"));
    facet.clear();
    while (true) {
      if (!words.Next(word)) return bad("file ends inside a facet");
      if (word == "endloop") break;
      if (word != "vertex")
        return bad(
            absl::StrCat("expected \"vertex\" or \"endloop\", found \"", word.substr(0, 32), "\""));
      Vec3f p;
      for (int c = 0; c < 3; ++c) KILN_RETURN_IF_ERROR(number(p[c]));
      KILN_RETURN_IF_ERROR(CheckFinite(p, name, mesh.triangles.size()));
      facet.push_back(p);
      if (facet.size() > 3) return bad("a facet with more than 3 vertices");
    }
    if (facet.size() != 3) return bad(absl::StrCat("a facet with ", facet.size(), " vertices"));
    KILN_RETURN_IF_ERROR(expect("endfacet"));
    KILN_RETURN_IF_ERROR(CheckCount(name, "facet", mesh.triangles.size() + 1, kMaxMeshFaces));
    mesh.triangles.push_back({welder.Add(facet[0]), welder.Add(facet[1]), welder.Add(facet[2])});
  }
  if (!seen_solid) return bad("empty file");
  if (in_solid) return bad("truncated: file ends without \"endsolid\"");
  mesh.positions = welder.TakePositions();
  return mesh;
}

}  // namespace

absl::Status WriteStl(const Mesh& mesh, const std::string& path, const WriteOptions& options) {
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, path));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Create(path));
  std::string buffer;
  if (options.ascii) {
    buffer = "solid kiln\n";
  } else {
    buffer = "binary STL written by kiln";
    buffer.resize(80, ' ');
    AppendLittleEndian(buffer, static_cast<uint32_t>(mesh.triangles.size()));
  }
  constexpr size_t kChunk = 1 << 20;
  for (const auto& t : mesh.triangles) {
    const Vec3f& a = mesh.positions[t[0]];
    const Vec3f& b = mesh.positions[t[1]];
    const Vec3f& c = mesh.positions[t[2]];
    const Vec3f n = FacetNormal(a, b, c);
    if (options.ascii) {
      buffer += "  facet normal";
      for (float x : n) {
        buffer += ' ';
        AppendFloat(buffer, x);
      }
      buffer += "\n    outer loop\n";
      for (const Vec3f* p : {&a, &b, &c}) {
        buffer += "      vertex";
        for (float x : *p) {
          buffer += ' ';
          AppendFloat(buffer, x);
        }
        buffer += '\n';
      }
      buffer += "    endloop\n  endfacet\n";
    } else {
      for (const Vec3f* p : {&n, &a, &b, &c}) {
        for (float x : *p) AppendLittleEndian(buffer, x);
      }
      AppendLittleEndian<uint16_t>(buffer, 0);  // Attribute byte count.
    }
    if (buffer.size() >= kChunk) {
      KILN_RETURN_IF_ERROR(file->Append(buffer));
      buffer.clear();
    }
  }
  if (options.ascii) buffer += "endsolid kiln\n";
  KILN_RETURN_IF_ERROR(file->Append(buffer));
  return file->Commit();
}

absl::StatusOr<Mesh> ReadStl(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const std::string bytes, ReadMeshFile(path));
  return ReadStlFromBytes(bytes, path);
}

absl::StatusOr<Mesh> ReadStlFromBytes(absl::string_view bytes, const std::string& name) {
  // A binary file's size is fixed by its count; ascii files start with "solid" (but so
  // do some binary ones, whose size rule then decides).
  const bool sized_binary =
      bytes.size() >= kBinaryHeaderBytes &&
      bytes.size() - kBinaryHeaderBytes ==
          uint64_t{LoadLittleEndian<uint32_t>(bytes.data() + 80)} * kBinaryTriangleBytes;
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(bytes);
  Mesh mesh;
  if (!sized_binary && absl::StartsWith(text, "solid") &&
      (text.size() == 5 || absl::ascii_isspace(static_cast<unsigned char>(text[5])))) {
    KILN_ASSIGN_OR_RETURN(mesh, ReadAscii(bytes, name));
  } else {
    if (bytes.size() < kBinaryHeaderBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": not an STL file: neither \"solid\" (ascii) nor the 84-byte binary header (",
          bytes.size(), " bytes)"));
    }
    const uint32_t count = LoadLittleEndian<uint32_t>(bytes.data() + 80);
    KILN_RETURN_IF_ERROR(CheckCount(name, "triangle", count, kMaxMeshFaces));
    const uint64_t expected = kBinaryHeaderBytes + uint64_t{count} * kBinaryTriangleBytes;
    if (bytes.size() < expected) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": truncated binary STL: ", count,
                                                     " triangles need ", expected,
                                                     " bytes, the file has ", bytes.size()));
    }
    // Trailing bytes beyond the declared triangles are tolerated (some tools pad).
    KILN_ASSIGN_OR_RETURN(mesh, ReadBinary(bytes, name, count));
  }
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, name));
  return mesh;
}

}  // namespace kiln::tasks
