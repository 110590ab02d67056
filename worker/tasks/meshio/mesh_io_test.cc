#include "worker/tasks/meshio/mesh_io.h"

#include <cmath>
#include <filesystem>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

TEST(MeshFormatTest, ByExtension) {
  EXPECT_EQ(*FormatFromPath("/a/b.OBJ"), MeshFormat::kObj);
  EXPECT_EQ(*FormatFromPath("x.ply"), MeshFormat::kPly);
  EXPECT_EQ(*FormatFromPath("x.Stl"), MeshFormat::kStl);
  EXPECT_EQ(*FormatFromPath("x.glb"), MeshFormat::kGlb);
  EXPECT_EQ(*FormatFromPath("x.step"), MeshFormat::kStep);
  EXPECT_EQ(*FormatFromPath("x.stp"), MeshFormat::kStep);
  EXPECT_EQ(FormatName(MeshFormat::kGlb), "glb");
  for (const char* bad : {"x.gltf", "x", "dir.obj/x", "x.obj.gz"}) {
    auto format = FormatFromPath(bad);
    EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(format.status().message(), HasSubstr(bad));
  }
}

// Every format through the dispatch: what each can hold comes back.
TEST(MeshIoTest, EveryFormatRoundTripsThroughTheDispatch) {
  kiln::testing::ScopedTempDir temp;
  const Mesh mesh = testing::ColoredTetrahedron();
  struct Case {
    std::string name;
    WriteOptions options;
    bool normals;
    bool colors;
  };
  for (const Case& c :
       {Case{"m.obj", {}, true, true}, Case{"m.ply", {}, true, true},
        Case{"a.ply", {.ascii = true}, true, true}, Case{"m.stl", {}, false, false},
        Case{"a.stl", {.ascii = true}, false, false}, Case{"m.glb", {}, true, true}}) {
    SCOPED_TRACE(c.name);
    const std::string path = temp.Sub(c.name);
    ASSERT_TRUE(WriteMesh(mesh, path, c.options).ok());
    auto read = ReadMesh(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->positions.size(), 4u);
    EXPECT_EQ(read->triangles.size(), 4u);
    EXPECT_EQ(read->normals.empty(), !c.normals);
    EXPECT_EQ(read->colors.empty(), !c.colors);
    const MeshStats stats = ComputeMeshStats(*read);
    EXPECT_TRUE(stats.watertight);
    EXPECT_NEAR(stats.signed_volume, 1.5 * 2.25 * 0.75 / 6, 1e-6);
    // Read by an explicit format whatever the name says.
    const std::string renamed = temp.Sub("blob");
    std::filesystem::copy_file(path, renamed, std::filesystem::copy_options::overwrite_existing);
    auto again = ReadMesh(renamed, *FormatFromPath(c.name));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->positions, read->positions);
  }
}

TEST(MeshIoTest, StepAndUnknownExtensionsAreClearErrors) {
  kiln::testing::ScopedTempDir temp;
  const absl::Status step = WriteMesh(testing::Cube(), temp.Sub("m.step"));
  EXPECT_EQ(step.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(step.message(), HasSubstr("OpenCASCADE"));
  const absl::Status unknown = WriteMesh(testing::Cube(), temp.Sub("m.fbx"));
  EXPECT_THAT(unknown.message(), HasSubstr("m.fbx: unknown mesh format"));
  EXPECT_EQ(ReadMesh(temp.Sub("none.ply")).status().code(), absl::StatusCode::kNotFound);
}

// Files made by another tool: OpenCASCADE 7.6's STL, OBJ and glTF writers and a
// hand-written PLY of the same tessellated bracket (tests/data/README.md).
TEST(MeshIoTest, ReadsTheOpenCascadeBracketInEveryFormat) {
  const std::string dir = KILN_TEST_DATA_DIR;
  for (const char* name : {"bracket.stl", "bracket.obj", "bracket.glb", "bracket.ply"}) {
    SCOPED_TRACE(name);
    auto mesh = ReadMesh(dir + "/" + name);
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    EXPECT_EQ(mesh->triangles.size(), 136u);
    const MeshStats stats = ComputeMeshStats(*mesh);
    const std::array<float, 3> max = {40, 20, 30};
    for (int a = 0; a < 3; ++a) {
      EXPECT_NEAR(stats.bbox_min[a], 0, 1e-4) << a;
      EXPECT_NEAR(stats.bbox_max[a], max[a], 1e-4) << a;
    }
    // Orientation survived every reader: the enclosed volume is positive and close to
    // the exact 6358.63 (the polygonal hole is a little smaller than the circle).
    EXPECT_GT(stats.signed_volume, 6358.63);
    EXPECT_LT(stats.signed_volume, 6358.63 + 5);
    if (std::string(name) == "bracket.stl" || std::string(name) == "bracket.ply") {
      // STL welding finds the PLY's 68 shared vertices: one closed genus-1 solid.
      EXPECT_EQ(mesh->positions.size(), 68u);
      EXPECT_TRUE(stats.watertight);
      EXPECT_EQ(stats.components, 1);
      EXPECT_EQ(stats.euler_characteristic, 0);
    }
    if (std::string(name) == "bracket.obj" || std::string(name) == "bracket.glb") {
      // Vertices shared within a face only, each with its face's normal: all kept.
      EXPECT_EQ(mesh->positions.size(), 162u);
      ASSERT_EQ(mesh->normals.size(), mesh->positions.size());
      EXPECT_NEAR(std::hypot(mesh->normals[0][0], mesh->normals[0][1], mesh->normals[0][2]), 1,
                  1e-5);
    }
  }
}

}  // namespace
}  // namespace kiln::tasks
