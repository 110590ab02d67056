// cad.build's 2D drawing: three orthographic views of a shape by exact hidden-line
// removal (HLRBRep_Algo), laid out in first- or third-angle projection, and written as
// a DXF file (dxflib) with visible edges as LINEs on layer VISIBLE and, optionally,
// hidden edges as LINEs on the dashed layer HIDDEN. Model Z is up; the front view looks
// along +Y (from -Y), so it shows X to the right and Z up.
//
// Layout, third-angle (ISO E / ANSI): top view above the front view, right view to its
// right. First-angle (ISO A): top view below the front view, left view to its right.
// Views are aligned (shared X with the top view, shared Z with the side view) and kept
// apart by a gap of a quarter of the part's largest view extent. The front view's lower
// left corner is at (0, 0). Internal to kiln_cad; callers catch OCCT exceptions.
#ifndef KILN_WORKER_CAD_DRAWING_H_
#define KILN_WORKER_CAD_DRAWING_H_

#include <TopoDS_Shape.hxx>
#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cad_build_params.h"

namespace kiln::cad {

struct DrawingLine {
  std::array<double, 2> from{0, 0};
  std::array<double, 2> to{0, 0};
  bool hidden = false;
};

struct DrawingView {
  std::string name;  // "front", "top", "right" or "left".
  std::vector<DrawingLine> lines;
  // The box around the view's lines (visible and hidden) on the sheet.
  std::array<double, 2> min{0, 0};
  std::array<double, 2> max{0, 0};
};

struct Drawing {
  std::vector<DrawingView> views;  // front, top, side.
};

struct DrawingOptions {
  CadProjection projection = CadProjection::kThirdAngle;
  bool hidden_lines = true;
  // Largest distance between a curved edge and the LINEs that stand for it.
  double deflection = 0.01;
};

// Projects `shape` into the three views. InvalidArgument when a view has no edge.
absl::StatusOr<Drawing> MakeDrawing(const TopoDS_Shape& shape, const DrawingOptions& options);

// Writes `drawing` as an ASCII DXF (AutoCAD 2000) file. Internal when it cannot be written.
absl::Status WriteDrawingDxf(const Drawing& drawing, const std::string& path);

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_DRAWING_H_
