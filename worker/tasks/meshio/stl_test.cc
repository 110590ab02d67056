#include "worker/tasks/meshio/stl.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/testing/test_meshes.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class StlTest : public ::testing::Test {
 protected:
  kiln::testing::ScopedTempDir temp_;
};

// Welding gives back exactly the cube's 8 vertices, in first-use order; the triangles
// then name the same points as the original's.
void ExpectSameGeometry(const Mesh& read, const Mesh& original) {
  ASSERT_EQ(read.positions.size(), original.positions.size());
  ASSERT_EQ(read.triangles.size(), original.triangles.size());
  for (size_t t = 0; t < original.triangles.size(); ++t) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(read.positions[read.triangles[t][c]], original.positions[original.triangles[t][c]]);
    }
  }
  EXPECT_TRUE(read.normals.empty());
  EXPECT_TRUE(read.colors.empty());
}

TEST_F(StlTest, BinaryRoundTripWeldsIntoAWatertightMesh) {
  const Mesh cube = testing::Cube();
  const std::string path = temp_.Sub("cube.stl");
  ASSERT_TRUE(WriteStl(cube, path).ok());
  EXPECT_EQ(std::filesystem::file_size(path), 84u + 12 * 50);
  auto read = ReadStl(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameGeometry(*read, cube);
  const MeshStats stats = ComputeMeshStats(*read);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
}

TEST_F(StlTest, AsciiRoundTrip) {
  const Mesh mesh = testing::ColoredTetrahedron();
  const std::string path = temp_.Sub("tet.stl");
  ASSERT_TRUE(WriteStl(mesh, path, {.ascii = true}).ok());
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "solid kiln");
  auto read = ReadStl(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameGeometry(*read, mesh);
}

TEST_F(StlTest, BinaryWhoseHeaderSaysSolidIsStillBinary) {
  const std::string path = temp_.Sub("solid.stl");
  ASSERT_TRUE(WriteStl(testing::Cube(), path).ok());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.write("solid cube", 10);
  f.close();
  auto read = ReadStl(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameGeometry(*read, testing::Cube());
}

TEST_F(StlTest, NegativeZeroWeldsWithZero) {
  std::string text =
      "solid z\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
      "endloop\nendfacet\nfacet normal 0 0 1\nouter loop\nvertex -0 -0 0\nvertex 0 1 0\n"
      "vertex -1 0 0\nendloop\nendfacet\nendsolid z\n";
  auto read = ReadStl(temp_.WriteFile("z.stl", text));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->positions.size(), 4u);
}

TEST_F(StlTest, MalformedFiles) {
  auto error = [&](const std::string& content) {
    auto mesh = ReadStl(temp_.WriteFile("bad.stl", content));
    EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument) << content.size();
    EXPECT_THAT(mesh.status().message(), HasSubstr("bad.stl")) << content.size();
    return std::string(mesh.status().message());
  };
  // Wrong magic: neither ascii nor long enough to be binary.
  EXPECT_THAT(error("PK\x03\x04 a zip"), HasSubstr("not an STL file"));
  // Truncated binary: 2 triangles declared, one present.
  std::string binary(80, ' ');
  const uint32_t two = 2;
  binary.append(reinterpret_cast<const char*>(&two), 4);
  binary.append(50, '\0');
  EXPECT_THAT(error(binary), HasSubstr("truncated binary STL: 2 triangles need 184 bytes"));
  // A huge count is refused before any allocation.
  std::string huge(80, ' ');
  const uint32_t many = 0xFFFFFFF0u;
  huge.append(reinterpret_cast<const char*>(&many), 4);
  EXPECT_THAT(error(huge), HasSubstr("triangle count 4294967280 exceeds the limit"));
  // NaN in binary.
  std::string nan_file(80, ' ');
  const uint32_t one = 1;
  nan_file.append(reinterpret_cast<const char*>(&one), 4);
  std::string record(50, '\0');
  const float nan = std::nanf("");
  std::memcpy(record.data() + 16, &nan, 4);
  nan_file += record;
  EXPECT_THAT(error(nan_file), HasSubstr("facet 0 has a non-finite coordinate"));
  // Ascii problems.
  EXPECT_THAT(error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"),
              HasSubstr("file ends inside a facet"));
  EXPECT_THAT(error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                    "endloop\nendfacet\nendsolid\n"),
              HasSubstr("a facet with 2 vertices"));
  EXPECT_THAT(error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 zero 0\n"),
              HasSubstr("line 4: malformed number \"zero\""));
  EXPECT_THAT(error("solid x\n"), HasSubstr("without \"endsolid\""));
  EXPECT_EQ(ReadStl(temp_.Sub("missing.stl")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::tasks
