#include "worker/render/render_preview_task.h"

#include <new>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/mesh_io.h"

namespace kiln::render {

namespace {

absl::StatusOr<tasks::TaskOutput> RunRenderPreview(const tasks::TaskContext& context,
                                                   int cuda_device_) {
  const kiln::v1::RunTaskRequest& request = *context.request;
  KILN_ASSIGN_OR_RETURN(const RenderPreviewParams params,
                        ParseRenderPreviewParams(request.parameters()));
  KILN_ASSIGN_OR_RETURN(const std::string path,
                        tasks::FindJobInputPath(request, params.input, "input"));
  // The format: given, or from the input's name (job inputs are stored under other names).
  absl::StatusOr<tasks::MeshFormat> format = tasks::FormatFromPath(
      params.input_format.empty() ? params.input : absl::StrCat(".", params.input_format));
  if (!format.ok() || *format == tasks::MeshFormat::kStep) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.input_format: required, since the input name \"", params.input,
                     "\" does not end in .obj, .ply, .stl or .glb"));
  }
  if (context.report_progress) context.report_progress(0.0, "reading the mesh");
  absl::StatusOr<tasks::Mesh> mesh = tasks::ReadMesh(path, *format);
  if (!mesh.ok()) {
    return absl::Status(mesh.status().code(),
                        absl::StrCat("input ", params.input, ": ", mesh.status().message()));
  }
  tasks::TaskOutput output;
  auto progress = [&](int done, int total) {
    if (context.report_progress) {
      context.report_progress(0.05 + 0.95 * done / total,
                              absl::StrCat("rendered frame ", done, " of ", total));
    }
  };
  KILN_ASSIGN_OR_RETURN(
      const TurntableResult result,
      RenderTurntable(params.view, *mesh, request.output_dir(), cuda_device_,
                      /*write_frames=*/true, /*write_gif=*/true, &output, progress));
  auto& fields = *output.summary.mutable_fields();
  fields["frames"].set_number_value(params.view.frames);
  auto* size = fields["size"].mutable_list_value();
  size->add_values()->set_number_value(params.view.size[0]);
  size->add_values()->set_number_value(params.view.size[1]);
  fields["renderer"].set_string_value(result.renderer);
  fields["vertices"].set_number_value(static_cast<double>(mesh->positions.size()));
  fields["triangles"].set_number_value(static_cast<double>(mesh->triangles.size()));
  fields["seconds"].set_number_value(result.seconds);
  if (!result.gpu_fallback_reason.empty()) {
    fields["gpu_fallback"].set_string_value(result.gpu_fallback_reason);
  }
  return output;
}

}  // namespace

absl::StatusOr<tasks::TaskOutput> RenderPreviewTask::Run(const tasks::TaskContext& context) const {
  try {
    return RunRenderPreview(context, cuda_device_);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("render.preview: out of memory");
  }
}

}  // namespace kiln::render
