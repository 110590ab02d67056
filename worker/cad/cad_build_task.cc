#include "worker/cad/cad_build_task.h"

#include <BRepBndLib.hxx>
#include <BRepCheck_Analyzer.hxx>
#include <BRepGProp.hxx>
#include <Bnd_Box.hxx>
#include <GProp_GProps.hxx>
#include <TopExp.hxx>
#include <TopTools_IndexedMapOfShape.hxx>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/cad/csg_builder.h"
#include "worker/cad/drawing.h"
#include "worker/cad/occt_status.h"
#include "worker/cad/shape_mesh.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::cad {
namespace {

using kiln::tasks::Mesh;
using kiln::tasks::NumberList;
using kiln::tasks::TaskContext;
using kiln::tasks::TaskOutput;

// The finest linear deflection accepted, as a fraction of the part's diagonal: finer
// ones give millions of triangles for nothing a viewer could see.
constexpr double kFinestRelativeDeflection = 1e-5;
// The default, as a fraction of the diagonal.
constexpr double kDefaultRelativeDeflection = 1e-3;

int CountShapes(const TopoDS_Shape& shape, TopAbs_ShapeEnum type) {
  TopTools_IndexedMapOfShape map;
  TopExp::MapShapes(shape, type, map);
  return map.Extent();
}

absl::StatusOr<TaskOutput> Build(const CadBuildParams& params, const std::filesystem::path& dir,
                                 const TaskContext& context) {
  const absl::Time start = absl::Now();
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  report(0, "building the solid");
  KILN_ASSIGN_OR_RETURN(const TopoDS_Shape shape, BuildCsg(params.shape));

  Bnd_Box box;
  BRepBndLib::AddOptimal(shape, box, /*useTriangulation=*/Standard_False);
  double lo[3], hi[3];
  box.Get(lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
  const double diagonal =
      std::sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                (hi[2] - lo[2]) * (hi[2] - lo[2]));
  Tessellation tessellation;
  tessellation.angular_deflection = params.angular_deflection;
  tessellation.linear_deflection =
      params.linear_deflection.value_or(diagonal * kDefaultRelativeDeflection);
  if (tessellation.linear_deflection < diagonal * kFinestRelativeDeflection) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.tessellation.linear_deflection: ", tessellation.linear_deflection,
                     " is too fine for a part of diagonal ", diagonal, " (at least ",
                     diagonal * kFinestRelativeDeflection, ")"));
  }
  GProp_GProps volume_props, area_props;
  BRepGProp::VolumeProperties(shape, volume_props);
  BRepGProp::SurfaceProperties(shape, area_props);
  const bool valid = BRepCheck_Analyzer(shape).IsValid();

  report(0.3, absl::StrCat("writing ", params.step_output));
  const std::string step_path = (dir / params.step_output).string();
  KILN_RETURN_IF_ERROR(WriteStepShape(shape, step_path));

  report(0.45, "tessellating");
  // Welded for the watertightness check; per face with normals for the file and preview.
  KILN_ASSIGN_OR_RETURN(const Mesh welded, TessellateShape(shape, tessellation));
  const kiln::tasks::MeshStats stats = kiln::tasks::ComputeMeshStats(welded);
  KILN_ASSIGN_OR_RETURN(const Mesh mesh,
                        TessellateShape(shape, tessellation, MeshVertices::kPerFaceWithNormals));
  const std::string mesh_path = (dir / params.mesh_output).string();
  report(0.55, absl::StrCat("writing ", params.mesh_output));
  KILN_RETURN_IF_ERROR(kiln::tasks::WriteMesh(mesh, mesh_path));

  TaskOutput output;
  if (params.preview.has_value()) {
    report(0.6, "rendering the preview");
    // On the CPU: cad.build is a CPU task and the preview is small next to the part.
    KILN_RETURN_IF_ERROR(render::AddPreviewOutputs(*params.preview, mesh, dir.string(),
                                                   /*cuda_device=*/-1, &output));
  }

  report(0.7, "hidden-line removal for the drawing");
  DrawingOptions drawing_options;
  drawing_options.projection = params.projection;
  drawing_options.hidden_lines = params.hidden_lines;
  drawing_options.deflection = tessellation.linear_deflection;
  KILN_ASSIGN_OR_RETURN(const Drawing drawing, MakeDrawing(shape, drawing_options));
  const std::string drawing_path = (dir / params.drawing_output).string();
  KILN_RETURN_IF_ERROR(WriteDrawingDxf(drawing, drawing_path));

  for (const auto& [name, path] :
       {std::pair{params.step_output, step_path}, std::pair{params.mesh_output, mesh_path},
        std::pair{params.drawing_output, drawing_path}}) {
    kiln::v1::LocalFile& file = output.outputs.emplace_back();
    file.set_name(name);
    file.set_path(path);
  }
  auto& fields = *output.summary.mutable_fields();
  fields["solids"].set_number_value(CountShapes(shape, TopAbs_SOLID));
  fields["faces"].set_number_value(CountShapes(shape, TopAbs_FACE));
  fields["edges"].set_number_value(CountShapes(shape, TopAbs_EDGE));
  fields["volume"].set_number_value(volume_props.Mass());
  fields["area"].set_number_value(area_props.Mass());
  fields["bbox_min"] = NumberList(std::array<double, 3>{lo[0], lo[1], lo[2]});
  fields["bbox_max"] = NumberList(std::array<double, 3>{hi[0], hi[1], hi[2]});
  fields["valid"].set_bool_value(valid);
  fields["mesh_vertices"].set_number_value(static_cast<double>(mesh.positions.size()));
  fields["mesh_triangles"].set_number_value(static_cast<double>(stats.faces));
  fields["mesh_watertight"].set_bool_value(stats.watertight);
  fields["linear_deflection"].set_number_value(tessellation.linear_deflection);
  fields["projection"].set_string_value(
      params.projection == CadProjection::kThirdAngle ? "third-angle" : "first-angle");
  auto& views = *fields["views"].mutable_struct_value()->mutable_fields();
  size_t lines = 0;
  for (const DrawingView& view : drawing.views) {
    views[view.name] =
        NumberList(std::array<double, 2>{view.max[0] - view.min[0], view.max[1] - view.min[1]});
    lines += view.lines.size();
  }
  fields["drawing_lines"].set_number_value(static_cast<double>(lines));
  fields["seconds"].set_number_value(absl::ToDoubleSeconds(absl::Now() - start));
  report(1.0, absl::StrCat(stats.faces, " triangles, ", lines, " drawing lines"));
  return output;
}

}  // namespace

absl::StatusOr<TaskOutput> CadBuildTask::Run(const TaskContext& context) const {
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  KILN_ASSIGN_OR_RETURN(const CadBuildParams params, ParseCadBuildParams(request.parameters()));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, tasks::AbsoluteOutputDir(request));
  return GuardOcct("cad.build", [&] { return Build(params, dir, context); });
}

}  // namespace kiln::cad
