// kiln_cad's internal bridge between OCCT shapes and Kiln meshes/files, shared by the STEP
// functions (step_mesh.h) and cad.build. Callers must catch OCCT exceptions (GuardOcct).
#ifndef KILN_WORKER_CAD_SHAPE_MESH_H_
#define KILN_WORKER_CAD_SHAPE_MESH_H_

#include <TopoDS_Shape.hxx>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/cad/step_mesh.h"
#include "worker/tasks/mesh.h"

namespace kiln::cad {

// How TessellateShape lays out vertices.
enum class MeshVertices {
  // Vertices closer than a millionth of the shape's size are welded, across faces too:
  // a closed solid gives a watertight mesh. No normals.
  kWelded,
  // Each B-rep face has its own vertices, with normals averaged over that face's
  // triangles only: smooth shading inside curved faces, sharp edges between faces (what
  // viewers and the preview renderer want). Not watertight across faces.
  kPerFaceWithNormals,
};

// Tessellates every face of `shape` (BRepMesh) into one mesh, triangles CCW from outside
// (reversed faces flipped). Faces without a triangulation are skipped; InvalidArgument
// when no face has one.
absl::StatusOr<kiln::tasks::Mesh> TessellateShape(const TopoDS_Shape& shape,
                                                  const Tessellation& tessellation,
                                                  MeshVertices vertices = MeshVertices::kWelded);

// Writes `shape` to `path` as an AP214 STEP file. Internal when OCCT refuses.
absl::Status WriteStepShape(const TopoDS_Shape& shape, const std::string& path);

// The mesh as an OCCT shape: a solid when its triangles close up, else a shell (or a
// compound of faces). InvalidArgument when no triangle is usable.
absl::StatusOr<TopoDS_Shape> MeshToShape(const kiln::tasks::Mesh& mesh);

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_SHAPE_MESH_H_
