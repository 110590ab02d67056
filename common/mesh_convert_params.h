// Parameters of the mesh.convert task (read one mesh file of the job's inputs, optionally
// rescale it and change its up axis, write it in the format the output name picks;
// worker/tasks/meshio/mesh_convert_task.h): the schema, its defaults and limits, and the
// parser shared by the scheduler (validation at submit) and the executor. Pure functions;
// any thread may call them.
#ifndef KILN_COMMON_MESH_CONVERT_PARAMS_H_
#define KILN_COMMON_MESH_CONVERT_PARAMS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/render_preview_params.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kMeshConvertTask = "mesh.convert";

// mesh.convert parameters (JSON object):
//   input     (required) the job input holding the mesh; its format comes from the
//             input's name (.obj .ply .stl .glb, .step/.stp where the worker has OCCT),
//             or from `input_format`, which is required when the name has no such
//             extension
//   input_format  "obj" | "ply" | "stl" | "glb" | "step" (default: from the input's name)
//   output    (required) file name, [A-Za-z0-9._-]{1,128} ending in .obj .ply .stl .glb
//             .step or .stp: the extension picks the format
//   ascii     PLY and STL: write text instead of binary (default false)
//   scale     multiply every coordinate by this, (0, 1e6] (default 1)
//   units     {"from": u, "to": u} with u one of "mm" "cm" "m" "in" "ft": multiply by
//             the factor from one unit to the other (on top of scale)
//   up_axis   {"from": "y" | "z", "to": "y" | "z"}: rotate so that the input's up axis
//             becomes the output's (a proper rotation: winding and handedness kept)
//   preview   true or {frames, size, ...} (common/render_preview_params.h): also render
//             the converted mesh as preview.png (and preview.gif with several frames)
enum class UpAxis { kY, kZ };

inline constexpr double kMaxMeshConvertScale = 1e6;

struct MeshConvertParams {
  std::string input;
  // Empty: from the input's name.
  std::string input_format;
  std::string output;
  bool ascii = false;
  // scale times the units factor: the one multiplier applied to positions.
  double factor = 1;
  UpAxis up_from = UpAxis::kY;
  UpAxis up_to = UpAxis::kY;
  std::optional<PreviewParams> preview;
};

// Errors are InvalidArgument "parameters.<field>: ...".
absl::StatusOr<MeshConvertParams> ParseMeshConvertParams(
    const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_MESH_CONVERT_PARAMS_H_
