#include "worker/tasks/scene_compose/scene_layout.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/meshio/mesh_file.h"

namespace kiln::tasks {

void PlaceOnLayout(const SegmentLayout& layout, const SegmentLayoutObject& entry,
                   const SceneLayoutParams& params, SceneObjectParams& object) {
  // Scene units per pixel; the image centre is the origin, y flips to point up.
  const double unit = params.width / layout.width;
  const double cx = entry.crop_box.x + entry.crop_box.width / 2.0;
  const double cy = entry.crop_box.y + entry.crop_box.height / 2.0;
  object.translation[0] += (cx - layout.width / 2.0) * unit;
  object.translation[1] += (layout.height / 2.0 - cy) * unit;
  // image.to3d makes the crop's width mesh_size units wide.
  const double factor = unit * entry.crop_box.width / params.mesh_size;
  for (double& s : object.scale) s *= factor;
}

absl::Status ResolveSceneLayout(const kiln::v1::RunTaskRequest& request,
                                SceneComposeParams& params) {
  if (!params.layout.has_value()) return absl::OkStatus();
  const SceneLayoutParams& layout_params = *params.layout;
  KILN_ASSIGN_OR_RETURN(const std::string path,
                        FindJobInputPath(request, layout_params.input, "layout.input"));
  const std::string name = absl::StrCat("input \"", layout_params.input, "\" (layout.input)");
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (!error && size > kMaxSegmentLayoutBytes) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", size, " bytes, more than the ",
                                                   kMaxSegmentLayoutBytes,
                                                   " an objects.json may have"));
  }
  absl::StatusOr<std::string> text = ReadMeshFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat(name, ": ", text.status().message()));
  }
  KILN_ASSIGN_OR_RETURN(const SegmentLayout layout, ParseSegmentLayout(*text, name));
  for (size_t i = 0; i < params.objects.size(); ++i) {
    SceneObjectParams& object = params.objects[i];
    if (!object.segment.has_value()) continue;
    const SegmentLayoutObject* entry = nullptr;
    for (const SegmentLayoutObject& e : layout.objects) {
      if (e.index == *object.segment) entry = &e;
    }
    if (entry == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("parameters.objects[", i, "].segment: ", name,
                                                     " has no object ", *object.segment,
                                                     " (it has ", layout.objects.size(), ")"));
    }
    PlaceOnLayout(layout, *entry, layout_params, object);
  }
  return absl::OkStatus();
}

}  // namespace kiln::tasks
