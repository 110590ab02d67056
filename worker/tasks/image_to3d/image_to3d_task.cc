#include "worker/tasks/image_to3d/image_to3d_task.h"

#include <filesystem>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/image/png.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/image_to3d/image_inflate.h"
#include "worker/tasks/input_png.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {

absl::StatusOr<TaskOutput> ImageTo3dTask::Run(const TaskContext& context) const {
  const absl::Time start = absl::Now();
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(const ImageTo3dParams params, ParseImageTo3dParams(request.parameters()));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  KILN_ASSIGN_OR_RETURN(const std::string input_path,
                        FindJobInputPath(request, params.input, "input"));

  report(0, absl::StrCat("reading ", params.input));
  absl::StatusOr<InflatedImage> inflated;
  try {
    KILN_ASSIGN_OR_RETURN(const image::Image source, ReadInputPng(input_path, params.input));
    report(0.2, "inflating the silhouette");
    inflated = InflateImage(source, params);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while inflating the image");
  }
  if (!inflated.ok()) return inflated.status();
  const MeshStats stats = ComputeMeshStats(inflated->mesh);

  report(0.8, absl::StrCat("writing ", params.output));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));
  const std::string path = (dir / params.output).string();
  KILN_RETURN_IF_ERROR(WriteGlb(inflated->mesh, path));

  TaskOutput output;
  AddOutputFile(params.output, path, &output);
  AddMeshSummary(stats, &output.summary);
  auto& fields = *output.summary.mutable_fields();
  fields["components_found"].set_number_value(inflated->components_found);
  fields["mask_pixels"].set_number_value(static_cast<double>(inflated->mask_pixels));
  fields["mask_size"] = NumberList(std::array<int, 2>{inflated->mask_width, inflated->mask_height});
  const bool key = inflated->mask_mode == ImageMaskMode::kKey;
  fields["mask"].set_string_value(key ? "key" : "alpha");
  if (key) fields["background"] = NumberList(inflated->background);
  if (params.preview.has_value()) {
    report(0.9, "rendering the preview");
    // On the CPU: the task runs there too, and the preview is small next to the mesh.
    KILN_RETURN_IF_ERROR(render::AddPreviewOutputs(*params.preview, inflated->mesh, dir.string(),
                                                   /*cuda_device=*/-1, &output));
  }
  fields["seconds"].set_number_value(absl::ToDoubleSeconds(absl::Now() - start));
  report(1.0, absl::StrCat(stats.vertices, " vertices, ", stats.faces, " faces"));
  return output;
}

}  // namespace kiln::tasks
