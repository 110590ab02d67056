#include "worker/tasks/meshio/obj.h"

#include <fstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class ObjTest : public ::testing::Test {
 protected:
  kiln::testing::ScopedTempDir temp_;
};

TEST_F(ObjTest, RoundTripKeepsPositionsNormalsColorsAndTriangles) {
  Mesh mesh = testing::ColoredTetrahedron();
  const std::string path = temp_.Sub("mesh.obj");
  ASSERT_TRUE(WriteObj(mesh, path).ok());
  auto read = ReadObj(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->positions, mesh.positions);
  EXPECT_EQ(read->normals, mesh.normals);
  EXPECT_EQ(read->triangles, mesh.triangles);
  // OBJ colors have no alpha: it reads back opaque.
  ASSERT_EQ(read->colors.size(), mesh.colors.size());
  for (size_t i = 0; i < mesh.colors.size(); ++i) {
    EXPECT_EQ(read->colors[i][0], mesh.colors[i][0]);
    EXPECT_EQ(read->colors[i][1], mesh.colors[i][1]);
    EXPECT_EQ(read->colors[i][2], mesh.colors[i][2]);
    EXPECT_EQ(read->colors[i][3], 255);
  }
}

TEST_F(ObjTest, PlainMeshHasNoNormalsOrColors) {
  const std::string path = temp_.Sub("cube.obj");
  ASSERT_TRUE(WriteObj(testing::Cube(), path).ok());
  auto read = ReadObj(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->positions, testing::Cube().positions);
  EXPECT_EQ(read->triangles, testing::Cube().triangles);
  EXPECT_TRUE(read->normals.empty());
  EXPECT_TRUE(read->colors.empty());
}

TEST_F(ObjTest, ReadsQuadsNegativeIndicesGroupsAndIgnoresMaterials) {
  // A quad (triangulated), relative indices, two groups, texture coordinates and a
  // material library that must not be opened.
  auto mesh = ReadObj(temp_.WriteFile("hand.obj",
                                      "mtllib /etc/passwd\n"
                                      "o first\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\n"
                                      "usemtl red\nf 1/1 2/1 3/1 4/1\n"
                                      "g second\nv 0 0 1\nf -5 -4 -1\n"));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->positions.size(), 5u);
  ASSERT_EQ(mesh->triangles.size(), 3u);
  EXPECT_EQ(mesh->triangles[2], (std::array<uint32_t, 3>{0, 1, 4}));
  for (const auto& t : mesh->triangles) {
    for (uint32_t v : t) EXPECT_LT(v, 5u);
  }
  EXPECT_TRUE(mesh->normals.empty());
}

TEST_F(ObjTest, NormalsThatDoNotFollowPositionsAreDropped) {
  // Vertex 1 is used with two different normals: Mesh cannot hold that.
  auto mesh = ReadObj(temp_.WriteFile("split.obj",
                                      "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvn 0 0 1\nvn 1 0 0\n"
                                      "f 1//1 2//1 3//1\nf 1//2 2//2 4//2\n"));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->triangles.size(), 2u);
  EXPECT_TRUE(mesh->normals.empty());
  // Consistent but not index-equal pairing is kept.
  mesh = ReadObj(temp_.WriteFile("remap.obj",
                                 "v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 1 0 0\nvn 0 0 1\n"
                                 "f 1//2 2//2 3//1\n"));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->normals, (std::vector<std::array<float, 3>>{{0, 0, 1}, {0, 0, 1}, {1, 0, 0}}));
}

TEST_F(ObjTest, ErrorsNameTheFile) {
  auto mesh = ReadObj(temp_.WriteFile("range.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("range.obj: face 0 has vertex index 7"));
  mesh = ReadObj(temp_.WriteFile("nan.obj", "v 0 1e999 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("nan.obj: vertex 0 has a non-finite"));
  mesh = ReadObj(temp_.WriteFile("zero.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n"));
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("zero.obj"));
  EXPECT_EQ(ReadObj(temp_.Sub("missing.obj")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ObjTest, WriteRejectsBadMeshesAndLeavesNoFile) {
  Mesh mesh = testing::Cube();
  mesh.triangles.push_back({0, 1, 8});
  const std::string path = temp_.Sub("bad.obj");
  const absl::Status status = WriteObj(mesh, path);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("triangle 12 has vertex index 8"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace kiln::tasks
