// cad.build's parameters: a small constructive-solid-geometry tree that OpenCASCADE
// builds into a solid (worker/cad/cad_build_task.h), written as STEP, a mesh and a DXF
// drawing. Parsed the same way by the scheduler (at submit) and the executor. Pure.
//
// parameters:
//   shape         (required) a node. A node is an object with exactly one kind key and
//                 optional placement keys:
//     {"box": {"size": [x, y, z], "center": false}}   corner at the origin (or centred)
//     {"cylinder": {"radius": r, "height": h, "center": false}}
//                                                     along +z from the origin (or centred)
//     {"sphere": {"radius": r}}                       centred on the origin
//     {"union" | "difference" | "intersection": {"children": [node, ...]}}
//                                                     2..kMaxCadChildren children;
//                                                     difference: the first minus the rest
//     {"fillet": {"radius": r, "child": node}}        rounds every edge of the child
//     "rotate": {"axis": [x, y, z], "degrees": d}     about the origin, applied first
//     "translate": [x, y, z]                          applied after rotate
//                 At most kMaxCadNodes nodes and kMaxCadDepth levels; lengths and
//                 coordinates within +-kMaxCadMagnitude (sizes and radii > 0).
//   tessellation  {"linear_deflection": d (default: 0.1% of the part's diagonal; > 0),
//                  "angular_deflection": radians (default 0.5; 0.05..1.5)}
//   drawing       {"projection": "third-angle" (default) | "first-angle",
//                  "hidden": true (default): hidden edges as dashed lines on layer HIDDEN}
//   outputs       {"step": "part.step" (.step/.stp), "mesh": "part.glb" (.glb or .ply),
//                  "drawing": "drawing.dxf" (.dxf)}
//   preview       true or {frames, size, ...} (common/render_preview_params.h): also render
//                 the tessellated part as preview.png (and preview.gif with several frames)
#ifndef KILN_COMMON_CAD_BUILD_PARAMS_H_
#define KILN_COMMON_CAD_BUILD_PARAMS_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/render_preview_params.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kCadBuildTask = "cad.build";

inline constexpr int kMaxCadNodes = 256;
// Protobuf's JSON parser stops at 16 levels of this tree, so deeper ones could only come
// from binary clients.
inline constexpr int kMaxCadDepth = 16;
inline constexpr int kMaxCadChildren = 64;
inline constexpr double kMaxCadMagnitude = 1e6;

enum class CadNodeKind { kBox, kCylinder, kSphere, kUnion, kDifference, kIntersection, kFillet };

// The JSON key of a node kind ("box", "difference", ...).
std::string_view CadNodeKindName(CadNodeKind kind);

struct CadRotation {
  std::array<double, 3> axis = {0, 0, 1};  // Non-zero; not necessarily unit length.
  double degrees = 0;
};

struct CadNode {
  CadNodeKind kind = CadNodeKind::kBox;
  std::array<double, 3> size = {0, 0, 0};  // box
  double radius = 0;                       // cylinder, sphere, fillet
  double height = 0;                       // cylinder
  bool center = false;                     // box, cylinder
  std::vector<CadNode> children;           // booleans: 2+; fillet: exactly 1
  std::optional<CadRotation> rotate;
  std::optional<std::array<double, 3>> translate;
};

enum class CadProjection { kThirdAngle, kFirstAngle };

struct CadBuildParams {
  CadNode shape;
  // Absent: chosen from the part's size by the task.
  std::optional<double> linear_deflection;
  double angular_deflection = 0.5;
  CadProjection projection = CadProjection::kThirdAngle;
  bool hidden_lines = true;
  std::string step_output = "part.step";
  std::string mesh_output = "part.glb";
  std::string drawing_output = "drawing.dxf";
  std::optional<PreviewParams> preview;
};

absl::StatusOr<CadBuildParams> ParseCadBuildParams(const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_CAD_BUILD_PARAMS_H_
