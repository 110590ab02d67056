// Where a task writes its files and how it lists them in its TaskOutput: the same for
// every task that writes files. Pure functions; any thread may call them.
#ifndef KILN_WORKER_TASKS_TASK_OUTPUTS_H_
#define KILN_WORKER_TASKS_TASK_OUTPUTS_H_

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kiln/v1/executor.pb.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

// The request's output_dir made absolute; FailedPrecondition "bad output_dir: ..." when
// that fails. (An empty output_dir is for the caller to reject first.)
inline absl::StatusOr<std::filesystem::path> AbsoluteOutputDir(
    const kiln::v1::RunTaskRequest& request) {
  std::error_code error;
  std::filesystem::path dir = std::filesystem::absolute(request.output_dir(), error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat("bad output_dir: ", error.message()));
  }
  return dir;
}

// Appends the file the task wrote to `output->outputs`, under the name the job asked for.
inline void AddOutputFile(const std::string& name, const std::string& path, TaskOutput* output) {
  kiln::v1::LocalFile& file = output->outputs.emplace_back();
  file.set_name(name);
  file.set_path(path);
}

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_TASK_OUTPUTS_H_
