// Executor: the loop inside kiln-exec. It announces itself with ExecReady, then reads
// ExecRequest frames and runs each task to completion, one at a time, answering with
// ExecProgress frames (rate-limited) and one ExecResult per request. This is the task
// boundary: task errors become ExecResults and no C++ exception gets past RunTask().
// The Executor borrows the registry (it must outlive it) and the fds; it is driven by a
// single thread (kiln-exec's main thread).
#ifndef KILN_WORKER_EXEC_EXECUTOR_H_
#define KILN_WORKER_EXEC_EXECUTOR_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "kiln/v1/executor.pb.h"
#include "worker/tasks/task.h"

namespace kiln::exec {

struct ExecutorOptions {
  // Tasks this executor runs; not owned. Defaults to TaskRegistry::Builtin().
  const tasks::TaskRegistry* registry = nullptr;
  // Progress is forwarded at most this often (the last one of a task always is).
  absl::Duration progress_interval = absl::Milliseconds(200);
  // Not owned; defaults to Clock::Real().
  const Clock* clock = nullptr;
};

class Executor {
 public:
  explicit Executor(const ExecutorOptions& options);

  // Writes ExecReady to out_fd, then serves requests from in_fd until end of stream
  // (returns OK) or a protocol/I-O error (returns it).
  absl::Status Serve(int in_fd, int out_fd);

  // Runs one task and returns its result; progress goes to on_progress, rate-limited.
  // Unknown tasks and permanent status codes give permanent=true.
  kiln::v1::ExecResult RunTask(
      const kiln::v1::RunTaskRequest& request,
      const std::function<void(const kiln::v1::ExecProgress&)>& on_progress);

  // ExecReady for this process.
  kiln::v1::ExecReady Ready() const;

 private:
  const tasks::TaskRegistry& registry_;
  const absl::Duration progress_interval_;
  const Clock& clock_;
};

// True for status codes where retrying the same task cannot help.
bool IsPermanentTaskError(const absl::Status& status);

}  // namespace kiln::exec

#endif  // KILN_WORKER_EXEC_EXECUTOR_H_
