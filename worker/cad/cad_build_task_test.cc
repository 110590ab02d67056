#include "worker/cad/cad_build_task.h"

#include <BRepCheck_Analyzer.hxx>
#include <IFSelect_ReturnStatus.hxx>
#include <STEPControl_Reader.hxx>
#include <TopExp.hxx>
#include <TopTools_IndexedMapOfShape.hxx>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "dl_creationadapter.h"
#include "dl_dxf.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/cad/step_mesh.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/glb.h"

namespace kiln::cad {
namespace {

using kiln::tasks::TaskContext;
using kiln::tasks::TaskOutput;
using kiln::testing::ScopedTempDir;
using ::testing::HasSubstr;

absl::StatusOr<TaskOutput> RunCadBuild(const std::string& json, const std::string& dir) {
  kiln::v1::RunTaskRequest request;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, request.mutable_parameters()).ok())
      << json;
  request.set_output_dir(dir);
  TaskContext context;
  context.request = &request;
  return CadBuildTask().Run(context);
}

double Number(const TaskOutput& out, const std::string& key) {
  return out.summary.fields().at(key).number_value();
}

std::vector<double> Numbers(const google::protobuf::Value& v) {
  std::vector<double> values;
  for (const auto& x : v.list_value().values()) values.push_back(x.number_value());
  return values;
}

std::string OutputPath(const TaskOutput& out, const std::string& name) {
  for (const auto& file : out.outputs) {
    if (file.name() == name) return file.path();
  }
  return "";
}

// Every entity of a DXF file, read back with dxflib.
class DxfCollector : public DL_CreationAdapter {
 public:
  struct Line {
    double x1, y1, x2, y2;
    std::string layer;
  };
  void addLine(const DL_LineData& d) override {
    lines.push_back({d.x1, d.y1, d.x2, d.y2, attributes.getLayer()});
  }
  void addLayer(const DL_LayerData& d) override { layers[d.name] = attributes.getLinetype(); }
  void addArc(const DL_ArcData&) override { ++other_entities; }
  void addCircle(const DL_CircleData&) override { ++other_entities; }
  void addPolyline(const DL_PolylineData&) override { ++other_entities; }
  void addPoint(const DL_PointData&) override { ++other_entities; }

  std::vector<Line> lines;
  std::map<std::string, std::string> layers;  // name -> line type
  int other_entities = 0;
};

struct Extent {
  double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;
  int lines = 0;
  void Add(double x, double y) {
    min_x = std::min(min_x, x);
    max_x = std::max(max_x, x);
    min_y = std::min(min_y, y);
    max_y = std::max(max_y, y);
  }
  double width() const { return max_x - min_x; }
  double height() const { return max_y - min_y; }
};

// The three views of a third-angle sheet whose front view is [0,w] x [0,h]: lines right
// of it are the side view, lines above it the top view.
std::map<std::string, Extent> ThirdAngleViews(const std::vector<DxfCollector::Line>& lines,
                                              double w, double h) {
  std::map<std::string, Extent> views;
  for (const auto& l : lines) {
    const double eps = 1e-6;
    std::string view = "front";
    if (std::min(l.x1, l.x2) > w + eps) view = "side";
    if (std::min(l.y1, l.y2) > h + eps) view = "top";
    views[view].Add(l.x1, l.y1);
    views[view].Add(l.x2, l.y2);
    ++views[view].lines;
  }
  return views;
}

TEST(CadBuildTaskTest, BoxWritesStepMeshAndDrawingWithCorrectViews) {
  ScopedTempDir dir;
  absl::StatusOr<TaskOutput> out =
      RunCadBuild(R"({"shape": {"box": {"size": [20, 10, 5]}}})", dir.path());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->outputs.size(), 3u);
  EXPECT_EQ(Number(*out, "faces"), 6);
  EXPECT_EQ(Number(*out, "edges"), 12);
  EXPECT_EQ(Number(*out, "solids"), 1);
  EXPECT_NEAR(Number(*out, "volume"), 1000, 1e-6);
  EXPECT_NEAR(Number(*out, "area"), 2 * (200 + 100 + 50), 1e-6);
  EXPECT_TRUE(out->summary.fields().at("valid").bool_value());
  EXPECT_TRUE(out->summary.fields().at("mesh_watertight").bool_value());
  EXPECT_EQ(Number(*out, "mesh_triangles"), 12);
  EXPECT_THAT(Numbers(out->summary.fields().at("bbox_max")),
              ::testing::Pointwise(::testing::DoubleNear(1e-6), std::vector<double>{20, 10, 5}));

  // The GLB mesh, read back by Kiln's glTF reader.
  absl::StatusOr<kiln::tasks::Mesh> glb = kiln::tasks::ReadGlb(OutputPath(*out, "part.glb"));
  ASSERT_TRUE(glb.ok()) << glb.status();
  EXPECT_EQ(glb->triangles.size(), 12u);
  EXPECT_NEAR(kiln::tasks::ComputeMeshStats(*glb).signed_volume, 1000, 1e-3);
  // Each face has its own 4 corners, with the face's outward normal: sharp box edges.
  EXPECT_EQ(glb->positions.size(), 24u);
  ASSERT_EQ(glb->normals.size(), glb->positions.size());
  for (const auto& tri : glb->triangles) {
    const auto& a = glb->positions[tri[0]];
    const auto& b = glb->positions[tri[1]];
    const auto& c = glb->positions[tri[2]];
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    const double length = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (uint32_t corner : tri) {
      const auto& normal = glb->normals[corner];
      EXPECT_NEAR((normal[0] * n[0] + normal[1] * n[1] + normal[2] * n[2]) / length, 1, 1e-5);
    }
  }

  // The STEP file, read back by OCCT itself.
  STEPControl_Reader reader;
  ASSERT_EQ(reader.ReadFile(OutputPath(*out, "part.step").c_str()), IFSelect_RetDone);
  reader.TransferRoots();
  const TopoDS_Shape shape = reader.OneShape();
  TopTools_IndexedMapOfShape faces;
  TopExp::MapShapes(shape, TopAbs_FACE, faces);
  EXPECT_EQ(faces.Extent(), 6);
  EXPECT_TRUE(BRepCheck_Analyzer(shape).IsValid());

  // The drawing: front 20 x 5 at the origin, top 20 x 10 above it, right side 10 x 5.
  DxfCollector dxf;
  DL_Dxf reader_dxf;
  ASSERT_TRUE(reader_dxf.in(OutputPath(*out, "drawing.dxf"), &dxf));
  EXPECT_EQ(dxf.other_entities, 0);
  EXPECT_EQ(dxf.layers["HIDDEN"], "DASHED");
  EXPECT_EQ(dxf.layers["VISIBLE"], "CONTINUOUS");
  int visible = 0;
  for (const auto& l : dxf.lines) visible += l.layer == "VISIBLE";
  // 4 outline edges per view; hidden lines lie under them (back edges).
  EXPECT_EQ(visible, 12);
  EXPECT_GE(dxf.lines.size(), 12u);
  EXPECT_LE(dxf.lines.size(), 40u);
  std::map<std::string, Extent> views = ThirdAngleViews(dxf.lines, 20, 5);
  ASSERT_EQ(views.size(), 3u);
  EXPECT_NEAR(views["front"].min_x, 0, 1e-6);
  EXPECT_NEAR(views["front"].min_y, 0, 1e-6);
  EXPECT_NEAR(views["front"].width(), 20, 1e-6);
  EXPECT_NEAR(views["front"].height(), 5, 1e-6);
  EXPECT_NEAR(views["top"].width(), 20, 1e-6);
  EXPECT_NEAR(views["top"].height(), 10, 1e-6);
  EXPECT_NEAR(views["top"].min_x, 0, 1e-6);  // Aligned with the front view.
  EXPECT_NEAR(views["side"].width(), 10, 1e-6);
  EXPECT_NEAR(views["side"].height(), 5, 1e-6);
  EXPECT_NEAR(views["side"].min_y, 0, 1e-6);  // Aligned with the front view.
  const auto& summary_views = out->summary.fields().at("views").struct_value().fields();
  EXPECT_THAT(Numbers(summary_views.at("right")),
              ::testing::Pointwise(::testing::DoubleNear(1e-6), std::vector<double>{10, 5}));
}

TEST(CadBuildTaskTest, HiddenEdgesAreDashedAndCanBeLeftOut) {
  // A blind pocket cut into the back (+y) of a block: invisible from the front, so the
  // front view shows it only as hidden lines.
  const std::string shape = R"({"difference": {"children": [
      {"box": {"size": [20, 10, 5]}},
      {"box": {"size": [6, 4, 3]}, "translate": [7, 7, 1]}]}})";
  ScopedTempDir with, without;
  absl::StatusOr<TaskOutput> a = RunCadBuild(
      absl::StrCat(R"({"outputs": {"mesh": "p.ply"}, "shape": )", shape, "}"), with.path());
  absl::StatusOr<TaskOutput> b = RunCadBuild(
      absl::StrCat(R"({"outputs": {"mesh": "p.ply"}, "drawing": {"hidden": false}, "shape": )",
                   shape, "}"),
      without.path());
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  DxfCollector da, db;
  DL_Dxf dxf;
  ASSERT_TRUE(dxf.in(OutputPath(*a, "drawing.dxf"), &da));
  DL_Dxf dxf2;
  ASSERT_TRUE(dxf2.in(OutputPath(*b, "drawing.dxf"), &db));
  auto count = [](const DxfCollector& c, const std::string& layer, bool front_only) {
    int n = 0;
    for (const auto& l : c.lines) {
      const bool front = std::max(l.x1, l.x2) <= 20 + 1e-6 && std::max(l.y1, l.y2) <= 5 + 1e-6;
      if (l.layer == layer && (front || !front_only)) ++n;
    }
    return n;
  };
  // The pocket's 4 walls show in the front view as a hidden rectangle (x 7..13, z 1..4).
  EXPECT_GE(count(da, "HIDDEN", true), 4);
  bool pocket_hidden = false;
  for (const auto& l : da.lines) {
    if (l.layer == "HIDDEN" && std::abs(l.x1 - 7) < 1e-6 && std::abs(l.x2 - 7) < 1e-6 &&
        std::abs(std::abs(l.y2 - l.y1) - 3) < 1e-6) {
      pocket_hidden = true;
    }
  }
  EXPECT_TRUE(pocket_hidden);
  EXPECT_EQ(count(db, "HIDDEN", false), 0);
  EXPECT_EQ(count(da, "VISIBLE", false), count(db, "VISIBLE", false));
}

TEST(CadBuildTaskTest, FirstAnglePutsTheTopViewBelowTheFront) {
  ScopedTempDir dir;
  absl::StatusOr<TaskOutput> out =
      RunCadBuild(R"({"shape": {"box": {"size": [20, 10, 5]}}, "outputs": {"mesh": "p.ply"},
                      "drawing": {"projection": "first-angle"}})",
                  dir.path());
  ASSERT_TRUE(out.ok()) << out.status();
  DxfCollector c;
  DL_Dxf dxf;
  ASSERT_TRUE(dxf.in(OutputPath(*out, "drawing.dxf"), &c));
  int below = 0;
  Extent below_extent;
  for (const auto& l : c.lines) {
    if (std::max(l.y1, l.y2) < -1e-6) {
      ++below;
      below_extent.Add(l.x1, l.y1);
      below_extent.Add(l.x2, l.y2);
    }
  }
  EXPECT_GE(below, 4);
  EXPECT_NEAR(below_extent.width(), 20, 1e-6);
  EXPECT_NEAR(below_extent.height(), 10, 1e-6);
  EXPECT_TRUE(out->summary.fields().at("views").struct_value().fields().contains("left"));
}

TEST(CadBuildTaskTest, FilletedBoxMinusCylinderHasTheExpectedVolume) {
  // Rounded 20 x 20 x 10 box (r = 1: the Minkowski sum of an 18 x 18 x 8 box and a unit
  // ball) with a 4 mm hole straight through its flat middle.
  ScopedTempDir dir;
  absl::StatusOr<TaskOutput> out = RunCadBuild(R"({"shape": {"difference": {"children": [
      {"fillet": {"radius": 1, "child": {"box": {"size": [20, 20, 10], "center": true}}}},
      {"cylinder": {"radius": 4, "height": 12, "center": true}}]}},
      "outputs": {"mesh": "p.ply"}})",
                                               dir.path());
  ASSERT_TRUE(out.ok()) << out.status();
  const double a = 18, b = 18, c = 8, r = 1;
  const double rounded = a * b * c + 2 * r * (a * b + b * c + a * c) + M_PI * r * r * (a + b + c) +
                         4.0 / 3.0 * M_PI * r * r * r;
  const double expected = rounded - M_PI * 16 * 10;
  EXPECT_NEAR(Number(*out, "volume"), expected, expected * 1e-4);
  EXPECT_TRUE(out->summary.fields().at("valid").bool_value());
  EXPECT_TRUE(out->summary.fields().at("mesh_watertight").bool_value());
  // 6 flat + 12 edge rounds + 8 corners + the hole's wall (OCCT may split it in two).
  EXPECT_GE(Number(*out, "faces"), 27);
  EXPECT_LE(Number(*out, "faces"), 28);
  // The STEP file holds the same solid.
  absl::StatusOr<kiln::tasks::Mesh> mesh = ReadStepMesh(OutputPath(*out, "part.step"));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const kiln::tasks::MeshStats stats = kiln::tasks::ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_NEAR(stats.signed_volume, expected, expected * 0.01);
}

TEST(CadBuildTaskTest, SphereUnionAndPlacements) {
  ScopedTempDir dir;
  absl::StatusOr<TaskOutput> out = RunCadBuild(R"({"shape": {"union": {"children": [
      {"box": {"size": [20, 10, 5]}, "rotate": {"axis": [0, 0, 1], "degrees": 90}},
      {"sphere": {"radius": 3}, "translate": [30, 0, 0]}]}},
      "outputs": {"mesh": "p.ply"}})",
                                               dir.path());
  ASSERT_TRUE(out.ok()) << out.status();
  // The box turned 90 degrees about z covers x -10..0, y 0..20; the sphere x 27..33.
  EXPECT_THAT(Numbers(out->summary.fields().at("bbox_min")),
              ::testing::Pointwise(::testing::DoubleNear(1e-4), std::vector<double>{-10, -3, -3}));
  EXPECT_THAT(Numbers(out->summary.fields().at("bbox_max")),
              ::testing::Pointwise(::testing::DoubleNear(1e-4), std::vector<double>{33, 20, 5}));
  EXPECT_NEAR(Number(*out, "volume"), 1000 + 4.0 / 3.0 * M_PI * 27, 1e-3);
  EXPECT_EQ(Number(*out, "solids"), 2);
  EXPECT_TRUE(out->summary.fields().at("mesh_watertight").bool_value());
}

TEST(CadBuildTaskTest, BadShapesGiveClearErrors) {
  ScopedTempDir dir;
  struct Case {
    std::string json;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {R"({"shape": {}})", absl::StatusCode::kInvalidArgument, "parameters.shape"},
      {R"({})", absl::StatusCode::kInvalidArgument, "parameters.shape: required"},
      {R"({"shape": {"fillet": {"radius": 6, "child": {"box": {"size": [20, 10, 5]}}}}})",
       absl::StatusCode::kInvalidArgument, "parameters.shape.fillet"},
      {R"({"shape": {"fillet": {"radius": 1, "child": {"sphere": {"radius": 5}}}}})",
       absl::StatusCode::kInvalidArgument, "no sharp edges"},
      {R"({"shape": {"difference": {"children": [{"box": {"size": [1, 1, 1]}},
          {"box": {"size": [3, 3, 3]}, "translate": [-1, -1, -1]}]}}})",
       absl::StatusCode::kInvalidArgument, "parameters.shape.difference: the result is empty"},
      {R"({"shape": {"intersection": {"children": [{"box": {"size": [1, 1, 1]}},
          {"box": {"size": [1, 1, 1]}, "translate": [5, 0, 0]}]}}})",
       absl::StatusCode::kInvalidArgument, "parameters.shape.intersection: the result is empty"},
      {R"({"shape": {"box": {"size": [100, 100, 100]}}, "outputs": {"mesh": "p.ply"},
          "tessellation": {"linear_deflection": 0.0001}})",
       absl::StatusCode::kInvalidArgument, "parameters.tessellation.linear_deflection"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TaskOutput> out = RunCadBuild(c.json, dir.path());
    EXPECT_EQ(out.status().code(), c.code) << c.json << " " << out.status();
    EXPECT_THAT(out.status().message(), HasSubstr(c.message)) << c.json;
  }
}

TEST(CadBuildTaskTest, PreviewAddsARenderedImage) {
  ScopedTempDir dir;
  absl::StatusOr<TaskOutput> out = RunCadBuild(R"({"shape": {"sphere": {"radius": 5}},
                      "preview": {"frames": 1, "size": [64, 48]}})",
                                               dir.path());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->outputs.size(), 4u);
  const std::string png = OutputPath(*out, "preview.png");
  ASSERT_FALSE(png.empty());
  EXPECT_GT(std::filesystem::file_size(png), 100u);
  EXPECT_TRUE(out->summary.fields().contains("preview"));
  // The preview does not replace the part's own summary.
  EXPECT_NEAR(Number(*out, "volume"), 4.0 / 3.0 * M_PI * 125, 1e-6);
}

TEST(CadBuildTaskTest, MissingOutputDirIsFailedPrecondition) {
  kiln::v1::RunTaskRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(R"({"shape": {"sphere": {"radius": 1}}})",
                                                          request.mutable_parameters())
                  .ok());
  TaskContext context;
  context.request = &request;
  EXPECT_EQ(CadBuildTask().Run(context).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln::cad
