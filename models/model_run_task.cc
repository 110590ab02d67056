#include "models/model_run_task.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"

namespace kiln::models {

absl::StatusOr<tasks::TaskOutput> ModelRunTask::Run(const tasks::TaskContext& context) const {
  const kiln::v1::RunTaskRequest& request = *context.request;
  if (request.model().empty()) {
    return absl::InvalidArgumentError(
        "model: model.run needs the job's model (\"name\" or "
        "\"name@version\")");
  }
  if (options_.repository == nullptr) {
    return absl::FailedPreconditionError("model.run: this executor has no model repository");
  }
  KILN_RETURN_IF_ERROR(ValidateModelRunParams(request.parameters()));
  KILN_ASSIGN_OR_RETURN(const ModelEntry* model, options_.repository->Find(request.model()));
  if (model->manifest.runtime() != kiln::v1::MODEL_RUNTIME_EXEC) {
    const std::string runs_it =
        model->manifest.tasks_size() > 0 ? model->manifest.tasks(0) : "field.decode";
    return absl::FailedPreconditionError(absl::StrCat("model ", model->Key(), " has runtime ",
                                                      RuntimeName(model->manifest.runtime()),
                                                      "; use ", runs_it));
  }

  ExecRunRequest run;
  run.inputs.assign(request.inputs().begin(), request.inputs().end());
  run.output_dir = request.output_dir();
  run.parameters = request.parameters();
  run.report_progress = context.report_progress;
  KILN_ASSIGN_OR_RETURN(ExecRunResult result, RunExecModel(*model, run, options_.runtime));

  tasks::TaskOutput output;
  output.outputs = std::move(result.outputs);
  auto& fields = *output.summary.mutable_fields();
  fields["model"].set_string_value(model->Key());
  fields["exit_code"].set_number_value(result.exit_code);
  fields["seconds"].set_number_value(absl::ToDoubleSeconds(result.elapsed));
  fields["outputs"].set_number_value(static_cast<double>(output.outputs.size()));
  if (!result.skipped_outputs.empty()) {
    auto* skipped = fields["skipped_outputs"].mutable_list_value();
    for (const std::string& s : result.skipped_outputs) skipped->add_values()->set_string_value(s);
  }
  return output;
}

}  // namespace kiln::models
