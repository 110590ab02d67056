#include "worker/cad/step_mesh.h"

#include <BRepCheck_Analyzer.hxx>
#include <BRepGProp.hxx>
#include <GProp_GProps.hxx>
#include <IFSelect_ReturnStatus.hxx>
#include <STEPControl_Reader.hxx>
#include <TopExp.hxx>
#include <TopTools_IndexedMapOfShape.hxx>
#include <TopoDS_Shape.hxx>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"

namespace kiln::cad {
namespace {

using kiln::tasks::ComputeMeshStats;
using kiln::tasks::Mesh;
using kiln::tasks::MeshStats;
using kiln::testing::ScopedTempDir;
using ::testing::HasSubstr;

const std::string kData = KILN_TEST_DATA_DIR;

// The unit cube [0,1]^3, triangles CCW from outside.
Mesh UnitCube() {
  Mesh m;
  for (int i = 0; i < 8; ++i) {
    m.positions.push_back({float(i & 1), float((i >> 1) & 1), float((i >> 2) & 1)});
  }
  m.triangles = {{0, 2, 1}, {1, 2, 3},   // z = 0, normal -z
                 {4, 5, 6}, {5, 7, 6},   // z = 1, normal +z
                 {0, 1, 4}, {1, 5, 4},   // y = 0, normal -y
                 {2, 6, 3}, {3, 6, 7},   // y = 1, normal +y
                 {0, 4, 2}, {2, 4, 6},   // x = 0, normal -x
                 {1, 3, 5}, {3, 7, 5}};  // x = 1, normal +x
  return m;
}

struct ReadBack {
  TopoDS_Shape shape;
  int faces = 0;
  int solids = 0;
  int shells = 0;
  bool valid = false;
  double volume = 0;
};

// Reads a STEP file with OCCT directly, independent of ReadStepMesh.
ReadBack ReadWithOcct(const std::string& path) {
  ReadBack r;
  STEPControl_Reader reader;
  if (reader.ReadFile(path.c_str()) != IFSelect_RetDone) return r;
  reader.TransferRoots();
  r.shape = reader.OneShape();
  if (r.shape.IsNull()) return r;
  TopTools_IndexedMapOfShape faces, solids, shells;
  TopExp::MapShapes(r.shape, TopAbs_FACE, faces);
  TopExp::MapShapes(r.shape, TopAbs_SOLID, solids);
  TopExp::MapShapes(r.shape, TopAbs_SHELL, shells);
  r.faces = faces.Extent();
  r.solids = solids.Extent();
  r.shells = shells.Extent();
  r.valid = BRepCheck_Analyzer(r.shape).IsValid();
  GProp_GProps props;
  BRepGProp::VolumeProperties(r.shape, props);
  r.volume = props.Mass();
  return r;
}

TEST(WriteStepMeshTest, CubeBecomesAValidSolidWithTwelveFaces) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/cube.step";
  ASSERT_TRUE(WriteStepMesh(UnitCube(), path).ok());
  std::ifstream in(path);
  std::string first_line;
  std::getline(in, first_line);
  EXPECT_EQ(first_line, "ISO-10303-21;");
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_THAT(all.str(), HasSubstr("AUTOMOTIVE_DESIGN"));  // AP214's schema name.

  const ReadBack r = ReadWithOcct(path);
  ASSERT_FALSE(r.shape.IsNull());
  EXPECT_EQ(r.faces, 12);
  EXPECT_EQ(r.solids, 1);
  EXPECT_TRUE(r.valid);
  EXPECT_NEAR(r.volume, 1.0, 1e-9);  // Positive: outward orientation survived.
}

TEST(WriteStepMeshTest, OpenMeshBecomesAShellNotASolid) {
  Mesh open = UnitCube();
  open.triangles.resize(10);  // No +x side.
  ScopedTempDir dir;
  const std::string path = dir.path() + "/open.step";
  ASSERT_TRUE(WriteStepMesh(open, path).ok());
  const ReadBack r = ReadWithOcct(path);
  EXPECT_EQ(r.faces, 10);
  EXPECT_EQ(r.solids, 0);
  EXPECT_EQ(r.shells, 1);
}

TEST(WriteStepMeshTest, RoundTripThroughReadStepMeshKeepsTheCube) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/cube.step";
  ASSERT_TRUE(WriteStepMesh(UnitCube(), path).ok());
  absl::StatusOr<Mesh> mesh = ReadStepMesh(path);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_EQ(stats.vertices, 8);
  EXPECT_EQ(stats.faces, 12);
  EXPECT_TRUE(stats.watertight);
  EXPECT_NEAR(stats.signed_volume, 1.0, 1e-6);
}

TEST(WriteStepMeshTest, SkipsDegenerateTrianglesAndRejectsMeshesWithNoneLeft) {
  Mesh cube = UnitCube();
  cube.triangles.push_back({0, 0, 1});  // Repeated index.
  cube.positions.push_back({0.5f, 0, 0});
  cube.triangles.push_back({0, 1, 8});  // Zero area (collinear).
  ScopedTempDir dir;
  ASSERT_TRUE(WriteStepMesh(cube, dir.path() + "/cube.step").ok());
  EXPECT_EQ(ReadWithOcct(dir.path() + "/cube.step").faces, 12);

  Mesh flat;
  flat.positions = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}};
  flat.triangles = {{0, 1, 2}, {1, 1, 2}};
  const absl::Status status = WriteStepMesh(flat, dir.path() + "/flat.step");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("flat.step"));
  EXPECT_THAT(status.message(), HasSubstr("degenerate"));
  EXPECT_EQ(WriteStepMesh(Mesh{}, dir.path() + "/empty.step").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WriteStepMeshTest, RejectsOutOfRangeIndicesAndUnwritablePaths) {
  Mesh bad = UnitCube();
  bad.triangles.push_back({0, 1, 99});
  ScopedTempDir dir;
  const absl::Status status = WriteStepMesh(bad, dir.path() + "/bad.step");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("99"));
  const absl::Status unwritable = WriteStepMesh(UnitCube(), dir.path() + "/no/such/dir/x.step");
  EXPECT_FALSE(unwritable.ok());
  EXPECT_THAT(unwritable.message(), HasSubstr("x.step"));
}

TEST(ReadStepMeshTest, BracketFixtureIsWatertightWithTheExpectedBoxAndVolume) {
  absl::StatusOr<Mesh> mesh = ReadStepMesh(kData + "/bracket.step");
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(stats.euler_characteristic, 0);  // A solid with one through hole (genus 1).
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(stats.bbox_min[a], 0, 1e-4) << a;
  EXPECT_NEAR(stats.bbox_max[0], 40, 1e-4);
  EXPECT_NEAR(stats.bbox_max[1], 20, 1e-4);
  EXPECT_NEAR(stats.bbox_max[2], 30, 1e-4);
  // Plate + upright - hole; the polygonal hole is a little smaller than the circle.
  const double exact = 40 * 20 * 5 + 5 * 20 * 25 - M_PI * 9 * 5;
  EXPECT_GT(stats.signed_volume, exact);
  EXPECT_LT(stats.signed_volume, exact * 1.005);
  EXPECT_GT(stats.faces, 40);
  EXPECT_LT(stats.faces, 2000);
}

TEST(ReadStepMeshTest, FinerTessellationGivesMoreTrianglesAndACloserVolume) {
  Tessellation coarse{.linear_deflection = 0.5, .angular_deflection = 0.8};
  Tessellation fine{.linear_deflection = 0.005, .angular_deflection = 0.1};
  absl::StatusOr<Mesh> a = ReadStepMesh(kData + "/bracket.step", coarse);
  absl::StatusOr<Mesh> b = ReadStepMesh(kData + "/bracket.step", fine);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(b->triangles.size(), a->triangles.size());
  const double exact = 40 * 20 * 5 + 5 * 20 * 25 - M_PI * 9 * 5;
  EXPECT_LT(std::abs(ComputeMeshStats(*b).signed_volume - exact),
            std::abs(ComputeMeshStats(*a).signed_volume - exact));
  EXPECT_TRUE(ComputeMeshStats(*b).watertight);
}

TEST(ReadStepMeshTest, MissingFileIsNotFoundNamingTheFile) {
  absl::StatusOr<Mesh> mesh = ReadStepMesh("/nonexistent/part.step");
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(mesh.status().message(), HasSubstr("/nonexistent/part.step"));
}

TEST(ReadStepMeshTest, GarbageIsInvalidArgumentNamingTheFile) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/garbage.step";
  std::ofstream(path) << "this is not a STEP file\n\x01\x02\x03 solid cube\n";
  absl::StatusOr<Mesh> mesh = ReadStepMesh(path);
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("garbage.step"));
}

TEST(ReadStepMeshTest, TruncatedFixtureFailsCleanly) {
  std::ifstream in(kData + "/bracket.step");
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  ASSERT_GT(text.size(), 1000u);
  ScopedTempDir dir;
  for (double fraction : {0.1, 0.5, 0.9}) {
    const std::string path = dir.path() + "/truncated.step";
    std::ofstream(path, std::ios::trunc) << text.substr(0, text.size() * fraction);
    absl::StatusOr<Mesh> mesh = ReadStepMesh(path);
    EXPECT_FALSE(mesh.ok()) << fraction;
    EXPECT_THAT(mesh.status().message(), HasSubstr("truncated.step")) << fraction;
  }
}

TEST(ReadStepMeshTest, WellFormedFileWithoutShapesIsInvalidArgument) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/empty.step";
  std::ofstream(path) << "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('empty'),'2;1');\n"
                         "FILE_NAME('empty.step','2026-01-01T00:00:00',(''),(''),'','','');\n"
                         "FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }'));\n"
                         "ENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n";
  absl::StatusOr<Mesh> mesh = ReadStepMesh(path);
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.status().message(), HasSubstr("empty.step"));
}

TEST(ReadStepMeshTest, RejectsNegativeDeflection) {
  absl::StatusOr<Mesh> mesh =
      ReadStepMesh(kData + "/bracket.step", Tessellation{.linear_deflection = -1});
  EXPECT_EQ(mesh.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::cad
