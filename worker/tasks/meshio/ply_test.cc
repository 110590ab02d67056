#include "worker/tasks/meshio/ply.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class PlyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(temp_.path().empty()); }

  kiln::testing::ScopedTempDir temp_;
  const std::string dir_ = temp_.path();
};

Mesh Tetrahedron() {
  Mesh m;
  m.positions = {{0, 0, 0}, {1.5f, 0, 0}, {0, -2.25f, 0}, {0, 0, 1e-3f}};
  m.triangles = {{0, 2, 1}, {0, 1, 3}, {0, 3, 2}, {1, 2, 3}};
  return m;
}

TEST_F(PlyTest, BinaryRoundTrip) {
  Mesh mesh = Tetrahedron();
  mesh.normals = {{0, 0, 1}, {1, 0, 0}, {0, 1, 0}, {0.6f, 0.8f, 0}};
  const std::string path = dir_ + "/mesh.ply";
  ASSERT_TRUE(WritePly(mesh, path).ok());
  auto read = ReadPly(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->positions, mesh.positions);
  EXPECT_EQ(read->normals, mesh.normals);
  EXPECT_EQ(read->triangles, mesh.triangles);
  // Header, 4 vertices of 6 floats, 4 faces of 1 + 3*4 bytes; no temporary left over.
  std::ifstream in(path, std::ios::binary);
  std::string header;
  for (std::string line; std::getline(in, line) && line != "end_header";) header += line + "\n";
  EXPECT_THAT(header, HasSubstr("format binary_little_endian 1.0\n"));
  EXPECT_THAT(header, HasSubstr("property list uchar uint vertex_indices\n"));
  EXPECT_EQ(std::filesystem::file_size(path), header.size() + 11 + 4 * 24 + 4 * 13);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(PlyTest, WithoutNormalsAndEmpty) {
  const std::string path = dir_ + "/plain.ply";
  ASSERT_TRUE(WritePly(Tetrahedron(), path).ok());
  auto read = ReadPly(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->normals.empty());
  EXPECT_EQ(read->triangles.size(), 4u);

  ASSERT_TRUE(WritePly(Mesh{}, path).ok());  // Overwrites.
  read = ReadPly(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->positions.empty());
  EXPECT_TRUE(read->triangles.empty());
}

TEST_F(PlyTest, ReadsHandWrittenAscii) {
  // CRLF line ends, comments, an extra colour property, a quad (split as a fan), a
  // negative-exponent number and an element we do not know.
  const std::string path = temp_.WriteFile("ascii.ply",
                                           "ply\r\n"
                                           "format ascii 1.0\r\n"
                                           "comment made by hand\r\n"
                                           "element vertex 5\r\n"
                                           "property double x\r\n"
                                           "property float y\r\n"
                                           "property uchar red\r\n"
                                           "property float z\r\n"
                                           "element face 2\r\n"
                                           "property list uchar int vertex_indices\r\n"
                                           "element edge 1\r\n"
                                           "property int vertex1\r\n"
                                           "property int vertex2\r\n"
                                           "end_header\r\n"
                                           "0 0 255 0\r\n"
                                           "1 0 0 0\r\n"
                                           "1 1 7 0\r\n"
                                           "0 1 0 0\n"
                                           "0.5 +0.5 1 2.5e-1\n"
                                           "4 0 1 2 3\n"
                                           "3 0 1 4\n"
                                           "0 1\n");
  auto mesh = ReadPly(path);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_EQ(mesh->positions.size(), 5u);
  EXPECT_EQ(mesh->positions[4], (std::array<float, 3>{0.5f, 0.5f, 0.25f}));
  EXPECT_TRUE(mesh->normals.empty());
  EXPECT_EQ(mesh->triangles,
            (std::vector<std::array<uint32_t, 3>>{{0, 1, 2}, {0, 2, 3}, {0, 1, 4}}));
}

TEST_F(PlyTest, ReadsBigEndian) {
  std::string body;
  auto put_be = [&](uint32_t bits, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) body.push_back(char((bits >> (8 * i)) & 0xff));
  };
  const float coords[9] = {0, 0, 0, 1, 0, 0, 0, 2, 0};
  for (float c : coords) {
    uint32_t bits;
    std::memcpy(&bits, &c, 4);
    put_be(bits, 4);
  }
  put_be(3, 1);
  for (uint32_t v : {0u, 1u, 2u}) put_be(v, 4);
  const std::string path =
      temp_.WriteFile("be.ply",
                      "ply\nformat binary_big_endian 1.0\nelement vertex 3\n"
                      "property float x\nproperty float y\nproperty float z\n"
                      "element face 1\nproperty list uchar uint vertex_indices\n"
                      "end_header\n" +
                          body);
  auto mesh = ReadPly(path);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->positions[2], (std::array<float, 3>{0, 2, 0}));
  EXPECT_EQ(mesh->triangles, (std::vector<std::array<uint32_t, 3>>{{0, 1, 2}}));
}

TEST_F(PlyTest, TruncatedBinaryIsAnError) {
  Mesh mesh = Tetrahedron();
  const std::string path = dir_ + "/mesh.ply";
  ASSERT_TRUE(WritePly(mesh, path).ok());
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 5);  // Inside the last face.
  auto read = ReadPly(path);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("file ends in face 3 of 4"));
  std::filesystem::resize_file(path, size - 4 * 13 - 30);  // Inside the vertices.
  read = ReadPly(path);
  EXPECT_THAT(read.status().message(), HasSubstr("file ends in vertex"));
}

TEST_F(PlyTest, MalformedFiles) {
  const std::string header =
      "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
      "property float z\nelement face 1\nproperty list uchar uint vertex_indices\nend_header\n";
  auto error = [&](const std::string& content) {
    auto mesh = ReadPly(temp_.WriteFile("bad.ply", content));
    EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument) << content;
    return std::string(mesh.status().message());
  };
  EXPECT_THAT(error("PLY\n"), HasSubstr("does not start with \"ply\""));
  EXPECT_THAT(error("ply\nformat ascii 1.0\nelement vertex 1\n"), HasSubstr("no end_header"));
  EXPECT_THAT(error("ply\nformat ascii 2.0\nend_header\n"), HasSubstr("line 2"));
  EXPECT_THAT(error("ply\nformat ascii 1.0\nproperty float x\nend_header\n"),
              HasSubstr("property before element"));
  EXPECT_THAT(error("ply\nformat ascii 1.0\nelement vertex 1\nproperty half x\nend_header\n"),
              HasSubstr("unknown type"));
  EXPECT_THAT(error("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n"),
              HasSubstr("lacks x, y or z"));
  EXPECT_THAT(error("ply\nformat ascii 1.0\nelement vertex 1000000\nproperty float x\n"
                    "property float y\nproperty float z\nend_header\n0 0 0\n"),
              HasSubstr("truncated"));
  EXPECT_THAT(error(header + "0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n"),
              HasSubstr("vertex index 3 out of range [0, 3) in face 0 of 1"));
  EXPECT_THAT(error(header + "0 0 0\n1 0 0\n0 1 0\n2 0 1\n"), HasSubstr("a face with 2 vertices"));
  EXPECT_THAT(error(header + "0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n"),
              HasSubstr("malformed number \"zero\" in vertex 1 of 3"));
  EXPECT_THAT(error(header + "0 0 0\n1 0 0\n0 1 0\n3 0 1\n"), HasSubstr("file ends in face 0"));
  EXPECT_EQ(ReadPly(dir_ + "/missing.ply").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PlyTest, WriteErrors) {
  Mesh mesh = Tetrahedron();
  EXPECT_EQ(WritePly(mesh, dir_ + "/no/such/dir/mesh.ply").code(), absl::StatusCode::kUnavailable);
  mesh.triangles.push_back({0, 1, 9});
  EXPECT_EQ(WritePly(mesh, dir_ + "/mesh.ply").code(), absl::StatusCode::kInvalidArgument);
  mesh = Tetrahedron();
  mesh.normals = {{0, 0, 1}};
  EXPECT_EQ(WritePly(mesh, dir_ + "/mesh.ply").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/mesh.ply"));
}

TEST_F(PlyTest, ColorsRoundTripInBinaryAndAscii) {
  const Mesh mesh = testing::ColoredTetrahedron();
  for (bool ascii : {false, true}) {
    const std::string path = dir_ + (ascii ? "/ascii.ply" : "/binary.ply");
    ASSERT_TRUE(WritePly(mesh, path, {.ascii = ascii}).ok());
    std::ifstream in(path, std::ios::binary);
    std::string header;
    for (std::string line; std::getline(in, line) && line != "end_header";) header += line + "\n";
    EXPECT_THAT(header, HasSubstr(ascii ? "format ascii 1.0" : "format binary_little_endian"));
    EXPECT_THAT(header, HasSubstr("property uchar red\nproperty uchar green\nproperty uchar "
                                  "blue\nproperty uchar alpha\n"));
    auto read = ReadPly(path);
    ASSERT_TRUE(read.ok()) << read.status();
    // Ascii floats are written in their shortest exact form: equality, not tolerance.
    EXPECT_EQ(read->positions, mesh.positions) << ascii;
    EXPECT_EQ(read->normals, mesh.normals) << ascii;
    EXPECT_EQ(read->colors, mesh.colors) << ascii;
    EXPECT_EQ(read->triangles, mesh.triangles) << ascii;
  }
}

TEST_F(PlyTest, FloatColorsAndMissingAlpha) {
  const std::string path =
      temp_.WriteFile("fc.ply",
                      "ply\nformat ascii 1.0\nelement vertex 3\n"
                      "property float x\nproperty float y\nproperty float z\n"
                      "property float red\nproperty float green\nproperty float blue\n"
                      "element face 1\nproperty list uchar int vertex_indices\n"
                      "end_header\n0 0 0 1 0 0.5\n1 0 0 0 1 2\n0 1 0 -1 0 0\n3 0 1 2\n");
  auto mesh = ReadPly(path);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->colors, (std::vector<std::array<uint8_t, 4>>{
                              {255, 0, 128, 255}, {0, 255, 255, 255}, {0, 0, 0, 255}}));
}

TEST_F(PlyTest, HugeCountsAndNanAreErrorsBeforeAllocating) {
  // 2^40 vertices declared in a tiny file: refused from the header.
  auto mesh =
      ReadPly(temp_.WriteFile("huge.ply",
                              "ply\nformat binary_little_endian 1.0\nelement vertex 1099511627776\n"
                              "property float x\nproperty float y\nproperty float z\nend_header\n"
                              "0123456789"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("huge.ply"));
  EXPECT_THAT(mesh.status().message(), HasSubstr("truncated"));
  // Over the limit (and the body): refused before any record is read.
  const std::string big = std::to_string(kMaxMeshVertices + 1);
  mesh =
      ReadPlyFromBytes("ply\nformat ascii 1.0\nelement vertex " + big +
                           "\nproperty uchar x\nproperty uchar y\nproperty uchar z\nend_header\n",
                       "limit.ply");
  EXPECT_THAT(mesh.status().message(), HasSubstr("limit.ply"));
  mesh = ReadPly(temp_.WriteFile("nan.ply",
                                 "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                                 "property float y\nproperty float z\nend_header\n0 nan 0\n"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("nan.ply: vertex 0 has a non-finite coordinate"));
}

TEST_F(PlyTest, WrongMagicNamesTheFile) {
  auto mesh = ReadPly(temp_.WriteFile("magic.ply", "solid x\nendsolid x\n"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("magic.ply: bad PLY header"));
}

}  // namespace
}  // namespace kiln::tasks
