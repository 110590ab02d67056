// ExecutorSupervisor: owns one kiln-exec child process for one slot and runs tasks on it.
// The child is started with fork+exec, its stdin/stdout are the request/event pipes and
// its stderr is appended to a log file; it gets PR_SET_PDEATHSIG(SIGKILL), so it dies
// with the thread that started it (keep that thread alive as long as the supervisor).
// When the child dies, the Run() in progress returns Aborted with a message naming the
// cause ("executor killed by signal 9 (SIGKILL)", "executor exited with status 3"); the
// next Run() or EnsureRunning() starts a new child after a backoff that grows with
// consecutive crashes, so a crash loop does not spin. A crash never takes the worker down.
//
// Threads: Run() and EnsureRunning() are called by one thread at a time (the slot's
// thread); Kill() and Shutdown() may be called from any thread, also during Run().
#ifndef KILN_WORKER_AGENT_EXECUTOR_SUPERVISOR_H_
#define KILN_WORKER_AGENT_EXECUTOR_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::agent {

struct ExecutorSupervisorOptions {
  // Path of the kiln-exec binary.
  std::string exec_path;
  // Slot index, for log lines.
  int slot = 0;
  // The child's stderr is appended here; empty means it inherits ours.
  std::string log_path;
  // Environment overrides for the child (name, value), e.g. {"CUDA_VISIBLE_DEVICES", ""}.
  std::vector<std::pair<std::string, std::string>> env;
  // Arguments after the program name, e.g. {"--fake-devices=sm_90:80GiB"}.
  std::vector<std::string> args;
  // How long a new child may take to send ExecReady (tasks may load big libraries).
  absl::Duration ready_timeout = absl::Seconds(60);
  // Restart backoff after a crash: initial, doubled per consecutive crash, capped.
  absl::Duration restart_backoff_initial = absl::Milliseconds(100);
  absl::Duration restart_backoff_max = absl::Seconds(10);
};

class ExecutorSupervisor {
 public:
  using ProgressCallback = std::function<void(const kiln::v1::ExecProgress&)>;
  // Answers a running task's ExecSubmitChildren (it blocks until then); called on the
  // thread in Run().
  using ChildrenCallback =
      std::function<kiln::v1::ExecChildrenResult(const kiln::v1::ExecSubmitChildren&)>;

  // Starts the first child and waits for its ExecReady. Ignores SIGPIPE process-wide
  // (a dead child must show up as EPIPE, not kill the worker).
  static absl::StatusOr<std::unique_ptr<ExecutorSupervisor>> Create(
      const ExecutorSupervisorOptions& options);
  // Kills and reaps the child.
  ~ExecutorSupervisor();
  ExecutorSupervisor(const ExecutorSupervisor&) = delete;
  ExecutorSupervisor& operator=(const ExecutorSupervisor&) = delete;

  // Task kinds from the first child's ExecReady.
  const std::vector<std::string>& tasks() const { return tasks_; }
  // Pid of the current child (from its ExecReady), 0 when none runs.
  pid_t pid() const;
  // The ExecReady of the newest child (each start re-probes its devices). Any thread.
  kiln::v1::ExecReady ready() const;

  // Starts a child if none runs (after the crash backoff). Unavailable if it cannot
  // start, Cancelled after Shutdown().
  absl::Status EnsureRunning();

  // Runs one task on the child, calling on_progress for each ExecProgress and
  // on_submit_children for each ExecSubmitChildren, whose answer goes back to the child
  // (without one, the child is told FAILED_PRECONDITION). Returns the
  // ExecResult, or: Aborted when the child died or was killed (message names the cause),
  // DeadlineExceeded when `deadline` passed (the child is killed), Unavailable when no
  // child could be started, Cancelled after Shutdown().
  absl::StatusOr<kiln::v1::ExecResult> Run(const kiln::v1::RunTaskRequest& request,
                                           const ProgressCallback& on_progress,
                                           absl::Time deadline = absl::InfiniteFuture(),
                                           const ChildrenCallback& on_submit_children = nullptr);

  // Replaces the child with a new one (which probes its devices afresh), without the
  // crash backoff: a restart the worker asked for is not a crash. Same errors as
  // EnsureRunning(). Slot thread, between Run()s.
  absl::Status Restart();

  // SIGKILLs the current child (cancel, abandon, shutdown); a Run() in progress returns
  // Aborted, and the next Run() starts a new child. Any thread.
  void Kill();
  // Kill() and no more restarts. Any thread.
  void Shutdown();

  // For metrics, any thread: children started after the first (after a crash, or a
  // Restart() the worker asked for), and crashes seen (a child that died without being
  // killed by us, or one that could not be started).
  uint64_t restarts() const {
    const uint64_t starts = starts_.load(std::memory_order_relaxed);
    return starts > 0 ? starts - 1 : 0;
  }
  uint64_t crashes() const { return crashes_.load(std::memory_order_relaxed); }

 private:
  explicit ExecutorSupervisor(const ExecutorSupervisorOptions& options);

  // Starts a child and reads its ExecReady. Slot thread only.
  absl::Status Start();
  // Closes the pipes, reaps the child (killing it if it lingers) and returns why it ended.
  std::string Reap();
  // Sleeps the crash backoff; false if Shutdown() interrupted it.
  bool WaitBackoff();

  const ExecutorSupervisorOptions options_;
  std::vector<std::string> tasks_;  // Set once by Create().

  // Pipes to the current child; touched only by the slot thread.
  int to_child_ = -1;
  int from_child_ = -1;
  int consecutive_crashes_ = 0;
  std::atomic<uint64_t> starts_{0};
  std::atomic<uint64_t> crashes_{0};

  mutable absl::Mutex mu_;
  // The child's pid until it is reaped (reaping happens under mu_, so Kill() never
  // signals a recycled pid).
  pid_t child_ ABSL_GUARDED_BY(mu_) = 0;
  pid_t ready_pid_ ABSL_GUARDED_BY(mu_) = 0;
  kiln::v1::ExecReady ready_ ABSL_GUARDED_BY(mu_);
  bool kill_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

// "executor killed by signal 9 (SIGKILL)" / "executor exited with status 3" for a
// waitpid() status.
std::string DescribeExit(int wait_status);

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_EXECUTOR_SUPERVISOR_H_
