#include "worker/tasks/meshio/obj.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tiny_obj_loader.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/mesh_file.h"

namespace kiln::tasks {
namespace {

// Shortest text that reads back as the same float.
void AppendFloat(std::string& out, float value) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  out.append(text, end);
}

uint8_t ColorByte(float value) {
  if (!(value > 0)) return 0;  // Also NaN.
  return value >= 1 ? 255 : static_cast<uint8_t>(std::lround(value * 255));
}

}  // namespace

absl::Status WriteObj(const Mesh& mesh, const std::string& path) {
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, path));
  const bool normals = !mesh.normals.empty();
  const bool colors = !mesh.colors.empty();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Create(path));
  std::string buffer = absl::StrCat("# written by kiln: ", mesh.positions.size(), " vertices, ",
                                    mesh.triangles.size(), " triangles\n");
  constexpr size_t kChunk = 1 << 20;
  auto flush_if_full = [&]() -> absl::Status {
    if (buffer.size() < kChunk) return absl::OkStatus();
    absl::Status status = file->Append(buffer);
    buffer.clear();
    return status;
  };
  for (size_t i = 0; i < mesh.positions.size(); ++i) {
    buffer += "v";
    for (float c : mesh.positions[i]) {
      buffer += ' ';
      AppendFloat(buffer, c);
    }
    if (colors) {
      for (int c = 0; c < 3; ++c) {
        buffer += ' ';
        AppendFloat(buffer, mesh.colors[i][c] / 255.0f);
      }
    }
    buffer += '\n';
    KILN_RETURN_IF_ERROR(flush_if_full());
  }
  for (size_t i = 0; i < mesh.normals.size(); ++i) {
    buffer += "vn";
    for (float c : mesh.normals[i]) {
      buffer += ' ';
      AppendFloat(buffer, c);
    }
    buffer += '\n';
    KILN_RETURN_IF_ERROR(flush_if_full());
  }
  for (const auto& t : mesh.triangles) {
    buffer += 'f';
    for (uint32_t v : t) {
      if (normals) {
        absl::StrAppend(&buffer, " ", v + 1, "//", v + 1);
      } else {
        absl::StrAppend(&buffer, " ", v + 1);
      }
    }
    buffer += '\n';
    KILN_RETURN_IF_ERROR(flush_if_full());
  }
  KILN_RETURN_IF_ERROR(file->Append(buffer));
  return file->Commit();
}

absl::StatusOr<Mesh> ReadObj(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const std::string bytes, ReadMeshFile(path));
  return ReadObjFromBytes(bytes, path);
}

absl::StatusOr<Mesh> ReadObjFromBytes(absl::string_view bytes, const std::string& name) {
  tinyobj::attrib_t attrib;
  std::vector<tinyobj::shape_t> shapes;
  std::vector<tinyobj::material_t> materials;
  std::string warn;
  std::string err;
  std::istringstream stream{std::string(bytes)};
  bool loaded = false;
  try {
    // No MaterialReader: "mtllib" never opens a file. No colour fallback: colours only
    // when every vertex has them.
    loaded = tinyobj::LoadObj(&attrib, &shapes, &materials, &warn, &err, &stream,
                              /*readMatFn=*/nullptr, /*triangulate=*/true,
                              /*default_vcols_fallback=*/false);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad OBJ: ", e.what()));
  }
  if (!loaded) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad OBJ: ", err));
  }
  if (attrib.vertices.size() % 3 != 0 || attrib.normals.size() % 3 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad OBJ: ragged vertex data"));
  }
  const size_t n = attrib.vertices.size() / 3;
  KILN_RETURN_IF_ERROR(CheckCount(name, "vertex", n, kMaxMeshVertices));
  Mesh mesh;
  mesh.positions.resize(n);
  for (size_t i = 0; i < n; ++i) {
    mesh.positions[i] = {attrib.vertices[3 * i], attrib.vertices[3 * i + 1],
                         attrib.vertices[3 * i + 2]};
  }
  if (attrib.colors.size() == attrib.vertices.size()) {
    mesh.colors.resize(n);
    for (size_t i = 0; i < n; ++i) {
      mesh.colors[i] = {ColorByte(attrib.colors[3 * i]), ColorByte(attrib.colors[3 * i + 1]),
                        ColorByte(attrib.colors[3 * i + 2]), 255};
    }
  }
  // Mesh has one normal per position: keep the OBJ normals only when each position is
  // always paired with the same normal.
  const size_t normal_count = attrib.normals.size() / 3;
  std::vector<int64_t> normal_of(n, -1);
  bool consistent_normals = normal_count > 0;
  for (const tinyobj::shape_t& shape : shapes) {
    const std::vector<tinyobj::index_t>& indices = shape.mesh.indices;
    for (size_t f = 0; f < shape.mesh.num_face_vertices.size(); ++f) {
      if (shape.mesh.num_face_vertices[f] != 3) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": bad OBJ: a face of ", int(shape.mesh.num_face_vertices[f]),
                         " vertices after triangulation in \"", shape.name, "\""));
      }
    }
    if (indices.size() % 3 != 0 || indices.size() / 3 != shape.mesh.num_face_vertices.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": bad OBJ: face data of \"", shape.name, "\" is inconsistent"));
    }
    KILN_RETURN_IF_ERROR(
        CheckCount(name, "face", mesh.triangles.size() + indices.size() / 3, kMaxMeshFaces));
    for (size_t k = 0; k < indices.size(); k += 3) {
      std::array<uint32_t, 3> triangle;
      for (int c = 0; c < 3; ++c) {
        const tinyobj::index_t& index = indices[k + c];
        if (index.vertex_index < 0 || static_cast<size_t>(index.vertex_index) >= n) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": face ", mesh.triangles.size(), " has vertex index ",
                           int64_t{index.vertex_index} + 1, ", out of range [1, ", n, "]"));
        }
        triangle[c] = static_cast<uint32_t>(index.vertex_index);
        if (!consistent_normals) continue;
        const int64_t normal = index.normal_index;
        if (normal < 0 || static_cast<size_t>(normal) >= normal_count) {
          consistent_normals = false;
        } else if (normal_of[triangle[c]] < 0) {
          normal_of[triangle[c]] = normal;
        } else if (normal_of[triangle[c]] != normal) {
          consistent_normals = false;
        }
      }
      mesh.triangles.push_back(triangle);
    }
  }
  if (consistent_normals) {
    mesh.normals.resize(n, {0, 0, 0});
    for (size_t i = 0; i < n; ++i) {
      if (normal_of[i] < 0) continue;  // A vertex no face uses.
      const size_t k = 3 * static_cast<size_t>(normal_of[i]);
      mesh.normals[i] = {attrib.normals[k], attrib.normals[k + 1], attrib.normals[k + 2]};
    }
  }
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, name));
  return mesh;
}

}  // namespace kiln::tasks
