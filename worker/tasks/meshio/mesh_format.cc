#include "worker/tasks/meshio/mesh_format.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kiln::tasks {

absl::StatusOr<MeshFormat> FormatFromPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const absl::string_view base = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  const std::string extension =
      dot == absl::string_view::npos ? "" : absl::AsciiStrToLower(base.substr(dot + 1));
  if (extension == "obj") return MeshFormat::kObj;
  if (extension == "ply") return MeshFormat::kPly;
  if (extension == "stl") return MeshFormat::kStl;
  if (extension == "glb") return MeshFormat::kGlb;
  if (extension == "step" || extension == "stp") return MeshFormat::kStep;
  return absl::InvalidArgumentError(
      absl::StrCat(path,
                   ": unknown mesh format (extension must be .obj, .ply, .stl, .glb, "
                   ".step or .stp)"));
}

std::string FormatName(MeshFormat format) {
  switch (format) {
    case MeshFormat::kObj:
      return "obj";
    case MeshFormat::kPly:
      return "ply";
    case MeshFormat::kStl:
      return "stl";
    case MeshFormat::kGlb:
      return "glb";
    case MeshFormat::kStep:
      return "step";
  }
  return "unknown";
}

}  // namespace kiln::tasks
