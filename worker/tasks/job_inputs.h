// Looking up a job input (a blob the worker staged as a local file) by the name a task
// parameter gives, with an error that names the parameter and lists the inputs there are.
// Pure function; any thread may call it.
#ifndef KILN_WORKER_TASKS_JOB_INPUTS_H_
#define KILN_WORKER_TASKS_JOB_INPUTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::tasks {

// The local path of the input called `name`; InvalidArgument
// "parameters.<field>: the job has no input named \"x\" (inputs: a, b)" otherwise.
inline absl::StatusOr<std::string> FindJobInputPath(const kiln::v1::RunTaskRequest& request,
                                                    absl::string_view name,
                                                    absl::string_view field) {
  std::vector<std::string> names;
  for (const kiln::v1::LocalFile& input : request.inputs()) {
    if (input.name() == name) return input.path();
    names.push_back(input.name());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("parameters.", field, ": the job has no input named \"", name,
                   "\" (inputs: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_JOB_INPUTS_H_
