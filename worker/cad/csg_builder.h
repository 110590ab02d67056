// Builds cad.build's CSG tree (common/cad_build_params.h) into an OpenCASCADE solid with
// BRepPrimAPI primitives, BRepAlgoAPI booleans, BRepFilletAPI fillets and gp_Trsf
// placements. Internal to kiln_cad; callers catch OCCT exceptions (GuardOcct), although
// failures of a node's own operation come back as InvalidArgument naming the node.
#ifndef KILN_WORKER_CAD_CSG_BUILDER_H_
#define KILN_WORKER_CAD_CSG_BUILDER_H_

#include <TopoDS_Shape.hxx>

#include "absl/status/statusor.h"
#include "common/cad_build_params.h"

namespace kiln::cad {

// The solid of `root`. InvalidArgument "parameters.shape...: ..." when a boolean or a
// fillet fails (e.g. a fillet radius too large for the child's edges) or when the result
// holds no solid (e.g. a difference that removes everything).
absl::StatusOr<TopoDS_Shape> BuildCsg(const CadNode& root);

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_CSG_BUILDER_H_
