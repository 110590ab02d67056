// STEP files as triangle meshes, through OpenCASCADE: ReadStepMesh tessellates every face
// of every shape in a STEP file; WriteStepMesh writes a triangle mesh as a STEP shell of
// planar faces (a solid when the mesh is closed). Used by mesh.convert (STEP in/out) and
// by the tests. No OCCT type or exception crosses this interface. Thread-compatible:
// calls on different files may run at the same time.
#ifndef KILN_WORKER_CAD_STEP_MESH_H_
#define KILN_WORKER_CAD_STEP_MESH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tasks/mesh.h"

namespace kiln::cad {

// How finely curved faces are cut into triangles (BRepMesh_IncrementalMesh).
struct Tessellation {
  // Largest distance between a triangle and the true surface: model units, or, when
  // `relative`, a fraction of each edge's/face's size. 0: a thousandth of the shape's
  // bounding-box diagonal, whatever the file's units.
  double linear_deflection = 0;
  // Largest angle (radians) between the normals of neighbouring triangles.
  double angular_deflection = 0.5;
  bool relative = false;
};

// Reads every shape of the STEP file at `path` and tessellates all its faces. Triangles
// are CCW seen from outside (face orientation respected); vertices are welded across
// faces where they coincide exactly, so a closed solid gives a watertight mesh.
// Errors name the file: NotFound (no file), InvalidArgument (not STEP, no shapes, nothing
// to tessellate), Internal for an OCCT failure.
absl::StatusOr<kiln::tasks::Mesh> ReadStepMesh(const std::string& path,
                                               const Tessellation& tessellation = {});

// Writes `mesh` as an AP214 STEP file: one planar face per triangle, sewn into a shell,
// made a solid when the shell is closed. InvalidArgument for a mesh with no usable
// triangle (all degenerate or out-of-range indices; degenerate ones are skipped
// otherwise); Internal when OCCT fails or the file cannot be written.
absl::Status WriteStepMesh(const kiln::tasks::Mesh& mesh, const std::string& path);

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_STEP_MESH_H_
