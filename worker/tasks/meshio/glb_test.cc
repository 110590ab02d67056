#include "worker/tasks/meshio/glb.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/mesh_file.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

// A .glb from a JSON chunk and an optional BIN chunk.
std::string MakeGlb(std::string json, const std::string& bin = "") {
  while (json.size() % 4 != 0) json += ' ';
  std::string out = "glTF";
  auto put32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const uint32_t total = 12 + 8 + json.size() + (bin.empty() ? 0 : 8 + bin.size());
  put32(2);
  put32(total);
  put32(json.size());
  put32(0x4E4F534A);  // "JSON"
  out += json;
  if (!bin.empty()) {
    put32(bin.size());
    put32(0x004E4942);  // "BIN\0"
    out += bin;
  }
  return out;
}

class GlbTest : public ::testing::Test {
 protected:
  kiln::testing::ScopedTempDir temp_;
};

TEST_F(GlbTest, RoundTripKeepsEverythingExactly) {
  const Mesh mesh = testing::ColoredTetrahedron();
  const std::string path = temp_.Sub("tet.glb");
  ASSERT_TRUE(WriteGlb(mesh, path).ok());
  auto read = ReadGlb(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->positions, mesh.positions);
  EXPECT_EQ(read->triangles, mesh.triangles);
  EXPECT_EQ(read->colors, mesh.colors);  // sRGB -> linear float -> sRGB is exact.
  ASSERT_EQ(read->normals.size(), mesh.normals.size());
  for (size_t i = 0; i < mesh.normals.size(); ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(read->normals[i][c], mesh.normals[i][c], 1e-6);
  }
  // The container is 4-byte aligned throughout and its JSON names what the validator needs.
  auto bytes = ReadMeshFile(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size() % 4, 0u);
  EXPECT_THAT(*bytes, HasSubstr("\"min\""));
  EXPECT_THAT(*bytes, HasSubstr("\"COLOR_0\""));
  EXPECT_THAT(*bytes, HasSubstr("\"NORMAL\""));
}

TEST_F(GlbTest, EveryColorValueRoundTrips) {
  Mesh mesh;
  for (int i = 0; i < 256; ++i) {
    mesh.positions.push_back({float(i), 0, float(i % 2)});
    mesh.colors.push_back({uint8_t(i), uint8_t(255 - i), uint8_t(i / 2), uint8_t(i)});
  }
  for (uint32_t i = 0; i + 2 < 256; ++i) mesh.triangles.push_back({i, i + 1, i + 2});
  const std::string path = temp_.Sub("ramp.glb");
  ASSERT_TRUE(WriteGlb(mesh, path).ok());
  auto read = ReadGlb(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->colors, mesh.colors);
  EXPECT_TRUE(read->normals.empty());
}

TEST_F(GlbTest, SceneNodesAreTransformedAndMerged) {
  // Three cubes: moved, turned 90 degrees about z, and mirrored (negative scale).
  std::vector<SceneNode> nodes(3);
  for (auto& n : nodes) n.mesh = testing::Cube();
  nodes[0].name = "moved";
  nodes[0].translation = {10, 0, 0};
  nodes[1].name = "turned";
  nodes[1].rotation = {0, 0, std::sqrt(0.5), std::sqrt(0.5)};
  nodes[2].name = "mirrored";
  nodes[2].scale = {-2, 1, 1};
  const std::string path = temp_.Sub("scene.glb");
  ASSERT_TRUE(WriteGlbScene(nodes, path).ok());
  auto read = ReadGlb(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->positions.size(), 24u);
  ASSERT_EQ(read->triangles.size(), 36u);
  const auto& p = read->positions;
  EXPECT_EQ(p[7], (std::array<float, 3>{11, 1, 1}));
  // (1, 0, 0) turned 90 degrees about z is (0, 1, 0).
  EXPECT_NEAR(p[8 + 1][0], 0, 1e-6);
  EXPECT_NEAR(p[8 + 1][1], 1, 1e-6);
  EXPECT_EQ(p[16 + 1], (std::array<float, 3>{-2, 0, 0}));
  // The mirrored cube keeps outward winding: its triangles are flipped back.
  Mesh mirrored;
  mirrored.positions.assign(p.begin() + 16, p.end());
  for (size_t t = 24; t < 36; ++t) {
    const auto& tri = read->triangles[t];
    mirrored.triangles.push_back({tri[0] - 16, tri[1] - 16, tri[2] - 16});
  }
  const MeshStats stats = ComputeMeshStats(mirrored);
  EXPECT_TRUE(stats.watertight);
  EXPECT_NEAR(stats.signed_volume, 2.0, 1e-5);  // Positive: counter-clockwise from outside.
}

TEST_F(GlbTest, BadNodesAreRefused) {
  std::vector<SceneNode> nodes(1);
  nodes[0].mesh = testing::Cube();
  nodes[0].rotation = {0, 0, 0, 2};
  const absl::Status status = WriteGlbScene(nodes, temp_.Sub("bad.glb"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("unit quaternion"));
  EXPECT_FALSE(std::filesystem::exists(temp_.Sub("bad.glb")));
}

TEST_F(GlbTest, EmptyMeshWritesAValidFileThatReadsBackEmpty) {
  const std::string path = temp_.Sub("empty.glb");
  ASSERT_TRUE(WriteGlb(Mesh{}, path).ok());
  auto read = ReadGlb(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->positions.empty());
}

TEST_F(GlbTest, MalformedFilesNameTheFileAndTheProblem) {
  auto error = [&](const std::string& content) {
    auto mesh = ReadGlb(temp_.WriteFile("bad.glb", content));
    EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(mesh.status().message(), HasSubstr("bad.glb"));
    return std::string(mesh.status().message());
  };
  EXPECT_THAT(error("glTF"), HasSubstr("truncated"));
  EXPECT_THAT(error("PLY\n0123456789abcdef"), HasSubstr("wrong magic"));
  // A real file cut short.
  const std::string good = temp_.Sub("good.glb");
  ASSERT_TRUE(WriteGlb(testing::Cube(), good).ok());
  auto bytes = ReadMeshFile(good);
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(error(bytes->substr(0, bytes->size() - 40)), HasSubstr("truncated"));
  // Not triangles: the same file with its primitive's mode changed to lines.
  std::string lines = absl::StrReplaceAll(*bytes, {{"\"mode\":4", "\"mode\":1"}});
  ASSERT_NE(lines, *bytes);
  EXPECT_THAT(error(lines), HasSubstr("mode 1 is not supported (only triangles"));
  // Buffers that point outside the file are never read.
  EXPECT_THAT(error(MakeGlb(R"({"asset":{"version":"2.0"},"buffers":[{"uri":"/etc/hostname",)"
                            R"("byteLength":4}]})")),
              HasSubstr("bad glTF"));
  // An accessor reaching past its buffer view.
  const std::string bin(12, '\0');
  EXPECT_THAT(error(MakeGlb(
                  R"({"asset":{"version":"2.0"},"buffers":[{"byteLength":12}],)"
                  R"("bufferViews":[{"buffer":0,"byteLength":12}],)"
                  R"("accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3"}],)"
                  R"("meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],)"
                  R"("nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]})",
                  bin)),
              HasSubstr("truncated: 3 elements need 36 bytes"));
  // A node that is its own child.
  EXPECT_THAT(error(MakeGlb(R"({"asset":{"version":"2.0"},"nodes":[{"children":[0]}],)"
                            R"("scenes":[{"nodes":[0]}]})")),
              HasSubstr("bad.glb"));
  // A chain of 300 nodes: refused before the recursion gets deep.
  std::string chain = R"({"asset":{"version":"2.0"},"nodes":[)";
  for (int i = 0; i < 300; ++i) {
    chain += i + 1 < 300 ? absl::StrCat(R"({"children":[)", i + 1, "]},") : "{}";
  }
  chain += R"(],"scenes":[{"nodes":[0]}]})";
  EXPECT_THAT(error(MakeGlb(chain)), HasSubstr("deeper than 256 levels"));
  // A stride that would overflow the bounds arithmetic.
  EXPECT_THAT(
      error(MakeGlb(
          R"({"asset":{"version":"2.0"},"buffers":[{"byteLength":12}],)"
          R"("bufferViews":[{"buffer":0,"byteLength":12,"byteStride":1152921504606846976}],)"
          R"("accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3"}],)"
          R"("meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],)"
          R"("nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]})",
          bin)),
      HasSubstr("bad.glb"));
  EXPECT_EQ(ReadGlb(temp_.Sub("missing.glb")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::tasks
