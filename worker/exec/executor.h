// Executor: the loop inside kiln-exec. It announces itself with ExecReady, then reads
// ExecRequest frames and runs each task to completion, one at a time, answering with
// ExecProgress frames (rate-limited) and one ExecResult per request. This is the task
// boundary: task errors become ExecResults and no C++ exception gets past RunTask().
// The devices the process sees are probed once by kiln-exec (kiln_device) and handed in;
// ExecReady advertises them, and a task on a device that cannot run it comes back with
// ExecResult.device_cannot_run so that the worker sends the job elsewhere.
// The Executor borrows the registry (it must outlive it) and the fds; it is driven by a
// single thread (kiln-exec's main thread).
#ifndef KILN_WORKER_EXEC_EXECUTOR_H_
#define KILN_WORKER_EXEC_EXECUTOR_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/executor.pb.h"
#include "worker/device/device_probe.h"
#include "worker/tasks/task.h"

namespace kiln::exec {

struct ExecutorOptions {
  // Tasks this executor runs; not owned. Defaults to TaskRegistry::Builtin().
  const tasks::TaskRegistry* registry = nullptr;
  // Progress is forwarded at most this often (the last one of a task always is).
  absl::Duration progress_interval = absl::Milliseconds(200);
  // Not owned; defaults to Clock::Real().
  const Clock* clock = nullptr;
  // The devices this process sees, in ordinal order (ProbeDevices()); empty without GPUs.
  // Tasks use ordinal 0, the device a GPU slot's executor is pinned to.
  std::vector<device::DeviceProbe> devices;
  // Models of the repository and whether this executor's device can run them
  // (ExecReady.models): exec-runtime ones from models/exec_probe.h.
  std::vector<kiln::v1::ModelAvailability> models;
  // "name@version" of the models resident on the device, most recently used first
  // (the LibTorch model cache); asked after every task for ExecResult.loaded_models.
  // Empty: none.
  std::function<std::vector<std::string>()> loaded_models;
};

class Executor {
 public:
  explicit Executor(const ExecutorOptions& options);

  // Writes ExecReady to out_fd, then serves requests from in_fd until end of stream
  // (returns OK) or a protocol/I-O error (returns it).
  absl::Status Serve(int in_fd, int out_fd);

  // Asks the worker to submit child jobs for the running task and waits for its answer.
  using ChildSubmitter = std::function<absl::StatusOr<std::vector<std::string>>(
      std::string_view call_id, const std::vector<kiln::v1::ExecChildSpec>& children)>;

  // Runs one task and returns its result; progress goes to on_progress, rate-limited;
  // the task's TaskContext::SubmitChildren goes to submit_children (null: refused).
  // Unknown tasks and permanent status codes give permanent=true. On a device that is not
  // runnable, or a simulated ":cannot-run" one, the task is not run and the result has
  // device_cannot_run=true; so does a task error that IsDeviceCannotRunError() matches.
  kiln::v1::ExecResult RunTask(
      const kiln::v1::RunTaskRequest& request,
      const std::function<void(const kiln::v1::ExecProgress&)>& on_progress,
      const ChildSubmitter& submit_children = nullptr);

  // ExecReady for this process.
  kiln::v1::ExecReady Ready() const;

 private:
  // RunTask without ExecResult.loaded_models.
  kiln::v1::ExecResult RunTaskUnreported(
      const kiln::v1::RunTaskRequest& request,
      const std::function<void(const kiln::v1::ExecProgress&)>& on_progress,
      const ChildSubmitter& submit_children);

  const tasks::TaskRegistry& registry_;
  const absl::Duration progress_interval_;
  const Clock& clock_;
  const std::vector<device::DeviceProbe> devices_;
  const std::vector<kiln::v1::ModelAvailability> models_;
  const std::function<std::vector<std::string>()> loaded_models_;
};

// True for status codes where retrying the same task cannot help.
bool IsPermanentTaskError(const absl::Status& status);

// True when a task's error message says the device cannot run the code rather than that
// the task failed: "no kernel image", "invalid device function", "illegal instruction",
// or "out of memory" while loading a model (the message says "load"). Any other out of
// memory is the job's own size and uses an attempt.
bool IsDeviceCannotRunError(std::string_view message);

// The kiln.v1.Device for a probed device: hardware, self-test verdict, the features of
// its compute capability (common/device_features.h) and the kernels' coverage. The id is
// left empty: the worker names devices ("cuda:N") by host index.
kiln::v1::Device ToProtoDevice(const device::DeviceProbe& probe);

}  // namespace kiln::exec

#endif  // KILN_WORKER_EXEC_EXECUTOR_H_
