#include "worker/cad/drawing.h"

#include <BRepAdaptor_Curve.hxx>
#include <BRep_Tool.hxx>
#include <GCPnts_TangentialDeflection.hxx>
#include <HLRAlgo_Projector.hxx>
#include <HLRBRep_Algo.hxx>
#include <HLRBRep_HLRToShape.hxx>
#include <TopExp_Explorer.hxx>
#include <TopoDS.hxx>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <gp_Ax2.hxx>
#include <gp_Dir.hxx>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "dl_dxf.h"
#include "dl_writer_ascii.h"

namespace kiln::cad {
namespace {

// One view: where the eye is (direction from the part towards it) and which model
// direction points right on the sheet; up is eye x right.
struct ViewSpec {
  const char* name;
  gp_Dir toward_eye;
  gp_Dir right;
};

void AddEdges(const TopoDS_Shape& compound, bool hidden, double deflection, DrawingView* view) {
  if (compound.IsNull()) return;
  for (TopExp_Explorer ex(compound, TopAbs_EDGE); ex.More(); ex.Next()) {
    const TopoDS_Edge& edge = TopoDS::Edge(ex.Current());
    if (BRep_Tool::Degenerated(edge)) continue;
    BRepAdaptor_Curve curve(edge);
    std::vector<gp_Pnt> points;
    if (curve.GetType() == GeomAbs_Line) {
      points = {curve.Value(curve.FirstParameter()), curve.Value(curve.LastParameter())};
    } else {
      GCPnts_TangentialDeflection sampler(curve, /*angular=*/0.1, deflection);
      for (int i = 1; i <= sampler.NbPoints(); ++i) points.push_back(sampler.Value(i));
    }
    for (size_t i = 1; i < points.size(); ++i) {
      const gp_Pnt& a = points[i - 1];
      const gp_Pnt& b = points[i];
      if (a.Distance(b) <= 1e-12) continue;
      view->lines.push_back({{a.X(), a.Y()}, {b.X(), b.Y()}, hidden});
    }
  }
}

absl::StatusOr<DrawingView> Project(const TopoDS_Shape& shape, const ViewSpec& spec,
                                    const DrawingOptions& options) {
  Handle(HLRBRep_Algo) algo = new HLRBRep_Algo();
  algo->Add(shape);
  algo->Projector(HLRAlgo_Projector(gp_Ax2(gp_Pnt(0, 0, 0), spec.toward_eye, spec.right)));
  algo->Update();
  algo->Hide();
  HLRBRep_HLRToShape result(algo);
  DrawingView view;
  view.name = spec.name;
  // Sharp edges, tangent (smooth) edges and silhouettes of curved faces.
  AddEdges(result.VCompound(), false, options.deflection, &view);
  AddEdges(result.Rg1LineVCompound(), false, options.deflection, &view);
  AddEdges(result.OutLineVCompound(), false, options.deflection, &view);
  if (options.hidden_lines) {
    AddEdges(result.HCompound(), true, options.deflection, &view);
    AddEdges(result.Rg1LineHCompound(), true, options.deflection, &view);
    AddEdges(result.OutLineHCompound(), true, options.deflection, &view);
  }
  if (view.lines.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("drawing: the ", spec.name, " view is empty"));
  }
  view.min = {HUGE_VAL, HUGE_VAL};
  view.max = {-HUGE_VAL, -HUGE_VAL};
  for (const DrawingLine& line : view.lines) {
    for (const auto& p : {line.from, line.to}) {
      for (int a = 0; a < 2; ++a) {
        view.min[a] = std::min(view.min[a], p[a]);
        view.max[a] = std::max(view.max[a], p[a]);
      }
    }
  }
  return view;
}

void Shift(DrawingView* view, double dx, double dy) {
  for (DrawingLine& line : view->lines) {
    line.from = {line.from[0] + dx, line.from[1] + dy};
    line.to = {line.to[0] + dx, line.to[1] + dy};
  }
  view->min = {view->min[0] + dx, view->min[1] + dy};
  view->max = {view->max[0] + dx, view->max[1] + dy};
}

}  // namespace

absl::StatusOr<Drawing> MakeDrawing(const TopoDS_Shape& shape, const DrawingOptions& options) {
  const bool third = options.projection == CadProjection::kThirdAngle;
  const ViewSpec front{"front", gp_Dir(0, -1, 0), gp_Dir(1, 0, 0)};
  const ViewSpec top{"top", gp_Dir(0, 0, 1), gp_Dir(1, 0, 0)};
  // Third angle shows the right side on the right; first angle shows the left side there.
  const ViewSpec side = third ? ViewSpec{"right", gp_Dir(1, 0, 0), gp_Dir(0, 1, 0)}
                              : ViewSpec{"left", gp_Dir(-1, 0, 0), gp_Dir(0, -1, 0)};
  Drawing drawing;
  for (const ViewSpec* spec : {&front, &top, &side}) {
    absl::StatusOr<DrawingView> view = Project(shape, *spec, options);
    if (!view.ok()) return view.status();
    drawing.views.push_back(*std::move(view));
  }
  DrawingView& f = drawing.views[0];
  DrawingView& t = drawing.views[1];
  DrawingView& s = drawing.views[2];
  double largest = 0;
  for (const DrawingView& v : drawing.views) {
    largest = std::max({largest, v.max[0] - v.min[0], v.max[1] - v.min[1]});
  }
  const double gap = std::max(largest / 4, 1e-6);
  // Sheet x of front and top is model X; sheet y of front and side is model Z, so the
  // same shifts keep them aligned.
  const double fx = -f.min[0], fy = -f.min[1];
  const double width = f.max[0] - f.min[0], height = f.max[1] - f.min[1];
  Shift(&f, fx, fy);
  if (third) {
    Shift(&t, fx, height + gap - t.min[1]);
  } else {
    Shift(&t, fx, -gap - t.max[1]);
  }
  Shift(&s, width + gap - s.min[0], fy);
  return drawing;
}

absl::Status WriteDrawingDxf(const Drawing& drawing, const std::string& path) {
  DL_Dxf dxf;
  std::unique_ptr<DL_WriterA> dw(dxf.out(path.c_str(), DL_Codes::AC1015));
  if (dw == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot open for writing"));
  dxf.writeHeader(*dw);
  dw->sectionEnd();

  dw->sectionTables();
  dxf.writeVPort(*dw);
  double dashes[2] = {0.5, -0.25};
  dw->tableLinetypes(4);
  dxf.writeLinetype(*dw, DL_LinetypeData("BYBLOCK", "", 0, 0, 0.0));
  dxf.writeLinetype(*dw, DL_LinetypeData("BYLAYER", "", 0, 0, 0.0));
  dxf.writeLinetype(*dw, DL_LinetypeData("CONTINUOUS", "Solid line", 0, 0, 0.0));
  dxf.writeLinetype(*dw, DL_LinetypeData("DASHED", "Dashed __ __ __", 0, 2, 0.75, dashes));
  dw->tableEnd();
  dw->tableLayers(3);
  dxf.writeLayer(*dw, DL_LayerData("0", 0),
                 DL_Attributes("", DL_Codes::black, 100, "CONTINUOUS", 1.0));
  dxf.writeLayer(*dw, DL_LayerData("VISIBLE", 0),
                 DL_Attributes("", DL_Codes::black, 50, "CONTINUOUS", 1.0));
  dxf.writeLayer(*dw, DL_LayerData("HIDDEN", 0),
                 DL_Attributes("", DL_Codes::l_gray, 25, "DASHED", 1.0));
  dw->tableEnd();
  dw->tableStyle(1);
  dxf.writeStyle(*dw, DL_StyleData("standard", 0, 2.5, 1.0, 0.0, 0, 2.5, "txt", ""));
  dw->tableEnd();
  dxf.writeView(*dw);
  dxf.writeUcs(*dw);
  dw->tableAppid(1);
  dxf.writeAppid(*dw, "ACAD");
  dw->tableEnd();
  dxf.writeDimStyle(*dw, 2.5, 0.625, 0.625, 0.625, 2.5);
  dxf.writeBlockRecord(*dw);
  dw->tableEnd();
  dw->sectionEnd();

  dw->sectionBlocks();
  for (const char* block : {"*Model_Space", "*Paper_Space", "*Paper_Space0"}) {
    dxf.writeBlock(*dw, DL_BlockData(block, 0, 0.0, 0.0, 0.0));
    dxf.writeEndBlock(*dw, block);
  }
  dw->sectionEnd();

  dw->sectionEntities();
  for (const DrawingView& view : drawing.views) {
    for (const DrawingLine& line : view.lines) {
      dxf.writeLine(*dw, DL_LineData(line.from[0], line.from[1], 0.0, line.to[0], line.to[1], 0.0),
                    DL_Attributes(line.hidden ? "HIDDEN" : "VISIBLE", 256, -1, "BYLAYER", 1.0));
    }
  }
  dw->sectionEnd();
  dxf.writeObjects(*dw);
  dxf.writeObjectsEnd(*dw);
  dw->dxfEOF();
  dw->close();
  // dxflib reports no write errors: a short file (full disk) fails the size check.
  std::error_code error;
  if (std::filesystem::file_size(path, error) < 256 || error) {
    return absl::InternalError(absl::StrCat(path, ": the DXF file could not be written"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::cad
