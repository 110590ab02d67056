// cad.build: builds the CSG part described by the job's parameters (common/
// cad_build_params.h) with OpenCASCADE and writes it as STEP (AP214), as a tessellated
// mesh (GLB, or PLY when the output name says so) and as a DXF drawing of three
// orthographic views (worker/cad/drawing.h). Stateless; Run may be called from any
// thread, one call per task run. OCCT exceptions end as Internal errors, never escape.
#ifndef KILN_WORKER_CAD_CAD_BUILD_TASK_H_
#define KILN_WORKER_CAD_CAD_BUILD_TASK_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "common/cad_build_params.h"
#include "worker/tasks/task.h"

namespace kiln::cad {

class CadBuildTask : public kiln::tasks::Task {
 public:
  std::string_view kind() const override { return kCadBuildTask; }
  // Outputs the STEP, mesh and DXF files (and preview.png/.gif when asked for).
  // Summary: solids, faces, edges (distinct topological ones), volume, area, bbox_min,
  // bbox_max (exact, model units), valid (BRepCheck_Analyzer), mesh_vertices (of the
  // file: each face has its own, with normals), mesh_triangles, mesh_watertight (of the
  // tessellation welded across faces), linear_deflection, projection,
  // views {front|top|right|left: [width, height]}, drawing_lines, seconds.
  absl::StatusOr<kiln::tasks::TaskOutput> Run(
      const kiln::tasks::TaskContext& context) const override;
};

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_CAD_BUILD_TASK_H_
