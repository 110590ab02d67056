// model.run: runs the job's model when its runtime is exec (models/exec_runtime.h), with
// the job's parameters and inputs, reporting the command's progress lines and returning
// the files it wrote. Models of other runtimes are refused with the task that runs them.
// The task borrows the repository (it must outlive the task); Run() is const and keeps no
// state, but runs a contained process: call it from kiln-exec's main thread.
#ifndef KILN_MODELS_MODEL_RUN_TASK_H_
#define KILN_MODELS_MODEL_RUN_TASK_H_

#include <string_view>

#include "common/task_catalog.h"
#include "models/exec_runtime.h"
#include "models/model_repository.h"
#include "worker/tasks/task.h"

namespace kiln::models {

struct ModelRunTaskOptions {
  // Where models are looked up; not owned, required.
  const ModelRepository* repository = nullptr;
  ExecRuntimeOptions runtime;
};

class ModelRunTask : public tasks::Task {
 public:
  explicit ModelRunTask(ModelRunTaskOptions options) : options_(std::move(options)) {}

  std::string_view kind() const override { return kModelRunTask; }
  // Outputs: the files the command wrote (and its log). Summary: model, exit_code,
  // seconds, outputs, skipped_outputs (when any).
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override;

 private:
  const ModelRunTaskOptions options_;
};

}  // namespace kiln::models

#endif  // KILN_MODELS_MODEL_RUN_TASK_H_
