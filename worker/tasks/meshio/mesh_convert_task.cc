#include "worker/tasks/meshio/mesh_convert_task.h"

#include <exception>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {
namespace {

absl::Status NoStep(absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat(what,
                   " STEP needs OpenCASCADE, which this worker's executor was built "
                   "without; send the job to a worker with OCCT or pick another format"));
}

// The error with "input <name>: " in front, so messages name the job's input rather than
// the worker's download path.
absl::Status ForInput(const absl::Status& status, absl::string_view input) {
  return absl::Status(status.code(), absl::StrCat("input ", input, ": ", status.message()));
}

}  // namespace

void TransformMeshForConvert(const MeshConvertParams& params, Mesh& mesh) {
  // Y-up to Z-up is +90 degrees about x: (x, y, z) -> (x, -z, y); the reverse is
  // (x, y, z) -> (x, z, -y). Both are rotations, so winding stays outward.
  auto rotate = [&](std::array<float, 3>& v) {
    if (params.up_from == params.up_to) return;
    const float y = v[1], z = v[2];
    if (params.up_from == UpAxis::kY) {
      v[1] = -z;
      v[2] = y;
    } else {
      v[1] = z;
      v[2] = -y;
    }
  };
  const float factor = static_cast<float>(params.factor);
  for (auto& p : mesh.positions) {
    rotate(p);
    if (params.factor != 1) {
      for (float& c : p) c *= factor;
    }
  }
  for (auto& n : mesh.normals) rotate(n);  // A uniform scale leaves normals alone.
}

absl::StatusOr<TaskOutput> MeshConvertTask::Run(const TaskContext& context) const {
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(const MeshConvertParams params,
                        ParseMeshConvertParams(request.parameters()));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  KILN_ASSIGN_OR_RETURN(const std::string input_path,
                        FindJobInputPath(request, params.input, "input"));
  MeshFormat input_format;
  if (!params.input_format.empty()) {
    KILN_ASSIGN_OR_RETURN(input_format, FormatFromPath(absl::StrCat(".", params.input_format)));
  } else {
    absl::StatusOr<MeshFormat> by_name = FormatFromPath(params.input);
    if (!by_name.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.input_format: required, since the input name \"", params.input,
                       "\" has no mesh extension (.obj .ply .stl .glb .step .stp)"));
    }
    input_format = *by_name;
  }
  KILN_ASSIGN_OR_RETURN(const MeshFormat output_format, FormatFromPath(params.output));
  // Refuse STEP before reading anything when this executor cannot write it.
  if (output_format == MeshFormat::kStep && !options_.write_step) {
    return NoStep("parameters.output:");
  }

  report(0.05, absl::StrCat("reading ", params.input));
  absl::StatusOr<Mesh> read;
  if (input_format == MeshFormat::kStep) {
    if (!options_.read_step) return NoStep("parameters.input:");
    try {
      read = options_.read_step(input_path);
    } catch (const std::exception& e) {  // The hook should not throw; contain it if it does.
      read = absl::InternalError(e.what());
    }
  } else {
    read = ReadMesh(input_path, input_format);
  }
  if (!read.ok()) return ForInput(read.status(), params.input);
  Mesh mesh = *std::move(read);
  if (absl::Status checked = CheckMesh(mesh, "mesh"); !checked.ok()) {
    return ForInput(checked, params.input);
  }

  report(0.5, "transforming");
  TransformMeshForConvert(params, mesh);

  report(0.6, absl::StrCat("writing ", params.output));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));
  const std::string path = (dir / params.output).string();
  absl::Status written;
  if (output_format == MeshFormat::kStep) {
    try {
      written = options_.write_step(mesh, path);
    } catch (const std::exception& e) {
      written = absl::InternalError(absl::StrCat(params.output, ": ", e.what()));
    }
  } else {
    written = WriteMesh(mesh, path, WriteOptions{.ascii = params.ascii});
  }
  KILN_RETURN_IF_ERROR(written);

  const MeshStats stats = ComputeMeshStats(mesh);
  TaskOutput output;
  AddOutputFile(params.output, path, &output);
  AddMeshSummary(stats, &output.summary);
  auto& fields = *output.summary.mutable_fields();
  // Where it is not: open borders and edges of three or more faces, which CAD and
  // printing tools reject; converting keeps them as they are.
  fields["boundary_edges"].set_number_value(static_cast<double>(stats.boundary_edges));
  fields["non_manifold_edges"].set_number_value(static_cast<double>(stats.non_manifold_edges));
  fields["input_format"].set_string_value(FormatName(input_format));
  fields["output_format"].set_string_value(FormatName(output_format));
  if (params.preview.has_value()) {
    report(0.8, "rendering the preview");
    // On the CPU: conversion is a CPU task, and the preview is small next to the mesh.
    KILN_RETURN_IF_ERROR(render::AddPreviewOutputs(*params.preview, mesh, dir.string(),
                                                   /*cuda_device=*/-1, &output));
  }
  report(1, "done");
  return output;
}

}  // namespace kiln::tasks
