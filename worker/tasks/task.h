// Task: one kind of work the executor can run (e.g. "mesh.extract").
// Tasks run inside kiln-exec, one at a time per process, on the thread that calls
// Run(). A task must not throw: library exceptions are caught inside the task and
// returned as a Status. Parameters were validated by the scheduler already (see
// common/task_catalog.h), but a task checks them again since the executor trusts no one.
#ifndef KILN_WORKER_TASKS_TASK_H_
#define KILN_WORKER_TASKS_TASK_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::tasks {

// What a task gets to work with.
struct TaskContext {
  // The request as the worker sent it (parameters, inputs, output_dir).
  const kiln::v1::RunTaskRequest* request = nullptr;
  // Reports progress in [0,1] with a short message; cheap, may be called often
  // (the executor rate-limits what it forwards).
  std::function<void(double fraction, std::string_view message)> report_progress;
  // Submits child jobs through the worker (fan-out; docs/pipelines.md) and blocks until it
  // answers: the children's job ids in order, or the error. Null where nothing can submit
  // (an executor without a worker, in-process tests); use SubmitChildren().
  std::function<absl::StatusOr<std::vector<std::string>>(
      std::string_view call_id, const std::vector<kiln::v1::ExecChildSpec>& children)>
      submit_children;

  // submit_children, or FailedPrecondition when this run cannot submit children.
  absl::StatusOr<std::vector<std::string>> SubmitChildren(
      std::string_view call_id, const std::vector<kiln::v1::ExecChildSpec>& children) const {
    if (!submit_children) {
      return absl::FailedPreconditionError(
          "this executor cannot submit child jobs (it runs without a worker)");
    }
    return submit_children(call_id, children);
  }
};

// What a successful task leaves behind.
struct TaskOutput {
  // Files written under request->output_dir().
  std::vector<kiln::v1::LocalFile> outputs;
  // Summary recorded on the job (e.g. vertex and face counts).
  google::protobuf::Struct summary;
};

class Task {
 public:
  virtual ~Task() = default;
  // The task kind, e.g. "mesh.extract".
  virtual std::string_view kind() const = 0;
  // Runs the task. InvalidArgument/NotFound/FailedPrecondition mean retrying
  // cannot help (the worker fails the job permanently); other codes are retryable.
  virtual absl::StatusOr<TaskOutput> Run(const TaskContext& context) const = 0;
};

// The tasks built into this executor, looked up by kind.
class TaskRegistry {
 public:
  // All built-in tasks of this build.
  static const TaskRegistry& Builtin();
  // A fresh registry holding the built-in tasks, for an executor that adds its own
  // (e.g. tasks that need the model repository).
  static std::unique_ptr<TaskRegistry> NewBuiltin();

  void Add(std::unique_ptr<Task> task);
  // Returns nullptr for an unknown kind.
  const Task* Find(std::string_view kind) const;
  std::vector<std::string> Kinds() const;

 private:
  std::vector<std::unique_ptr<Task>> tasks_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_TASK_H_
