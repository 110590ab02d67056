#include "worker/agent/executor_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/agent/exec_probe.h"
#include "worker/exec/frame_io.h"

namespace kiln::agent {
namespace {

using kiln::v1::ExecEvent;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Waits until fd is readable or the deadline passes (DeadlineExceeded).
absl::Status WaitReadable(int fd, absl::Time deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("deadline passed");
      timeout_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 3'600'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (rc > 0) return absl::OkStatus();  // Readable, hung up or in error: read tells which.
  }
}

}  // namespace

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* abbrev = ::sigabbrev_np(sig);
    return absl::StrCat("executor killed by signal ", sig, " (SIG", abbrev ? abbrev : "?", ")");
  }
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("executor exited with status ", WEXITSTATUS(wait_status));
  }
  return absl::StrCat("executor ended with wait status ", wait_status);
}

ExecutorSupervisor::ExecutorSupervisor(const ExecutorSupervisorOptions& options)
    : options_(options) {}

absl::StatusOr<std::unique_ptr<ExecutorSupervisor>> ExecutorSupervisor::Create(
    const ExecutorSupervisorOptions& options) {
  if (options.exec_path.empty()) return absl::InvalidArgumentError("exec_path is empty");
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<ExecutorSupervisor> supervisor(new ExecutorSupervisor(options));
  KILN_RETURN_IF_ERROR(supervisor->Start());
  return supervisor;
}

ExecutorSupervisor::~ExecutorSupervisor() {
  Shutdown();
  bool running;
  {
    absl::MutexLock lock(&mu_);
    running = child_ > 0;
  }
  if (running) Reap();
  CloseFd(to_child_);
  CloseFd(from_child_);
}

pid_t ExecutorSupervisor::pid() const {
  absl::MutexLock lock(&mu_);
  return ready_pid_;
}

kiln::v1::ExecReady ExecutorSupervisor::ready() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

absl::Status ExecutorSupervisor::Start() {
  // Everything the child needs is prepared before fork(): after it, in a threaded
  // process, the child may only make async-signal-safe calls.
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return absl::InternalError("pipe2 failed");
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return absl::InternalError("pipe2 failed");
  }
  int log_fd = -1;
  if (!options_.log_path.empty()) {
    log_fd = ::open(options_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      const std::string why = std::strerror(errno);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
      return absl::UnavailableError(absl::StrCat("cannot open ", options_.log_path, ": ", why));
    }
  }
  std::vector<std::string> env_strings = ChildEnvironment(options_.env);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {options_.exec_path};
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], log_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return absl::UnavailableError(absl::StrCat("fork: ", why));
  }
  if (pid == 0) {
    // Child. Die with the worker; own process group so Kill() reaches the task's own
    // subprocesses and a terminal's Ctrl-C reaches only the worker, which then shuts
    // down in order.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // The worker blocks SIGTERM/SIGINT.
    ::signal(SIGPIPE, SIG_DFL);
    // Only the worker decides when a task stops (it kills with SIGKILL): Slurm's scancel
    // and systemd's stop SIGTERM every process of the job or unit, and a draining worker
    // lets running tasks finish.
    ::signal(SIGTERM, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0 ||
        (log_fd >= 0 && ::dup2(log_fd, STDERR_FILENO) < 0)) {
      const int e = errno;
      (void)!::write(err[1], &e, sizeof(e));
      ::_exit(127);
    }
    ::execve(argv[0], argv.data(), envp.data());
    const int e = errno;
    (void)!::write(err[1], &e, sizeof(e));
    ::_exit(127);
  }

  ::setpgid(pid, pid);  // Also here, so the group exists before Kill() can run.
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (log_fd >= 0) ::close(log_fd);
  to_child_ = in[1];
  from_child_ = out[0];
  {
    absl::MutexLock lock(&mu_);
    child_ = pid;
    kill_requested_ = false;
    if (shutdown_) ::kill(pid, SIGKILL);
  }

  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  ::close(err[0]);
  if (n == sizeof(exec_errno)) {
    Reap();
    return absl::UnavailableError(
        absl::StrCat("cannot start ", options_.exec_path, ": ", std::strerror(exec_errno)));
  }

  ExecEvent event;
  absl::Status status = WaitReadable(from_child_, absl::Now() + options_.ready_timeout);
  if (status.ok()) status = exec::ReadFrame(from_child_, &event);
  if (status.ok() && event.event_case() != ExecEvent::kReady) {
    status = absl::DataLossError("first event is not ExecReady");
  }
  if (!status.ok()) {
    if (absl::IsDeadlineExceeded(status)) Kill();
    const std::string why = Reap();
    return absl::UnavailableError(absl::StrCat("executor for slot ", options_.slot,
                                               " did not start: ", status.message(), "; ", why));
  }
  if (tasks_.empty()) tasks_.assign(event.ready().tasks().begin(), event.ready().tasks().end());
  {
    absl::MutexLock lock(&mu_);
    ready_pid_ = event.ready().pid();
    ready_ = event.ready();
  }
  starts_.fetch_add(1, std::memory_order_relaxed);
  KILN_LOG(INFO) << "slot " << options_.slot << ": executor " << pid << " ready, "
                 << event.ready().tasks_size() << " tasks";
  return absl::OkStatus();
}

std::string ExecutorSupervisor::Reap() {
  // Closing stdin asks a healthy child to exit; give it a moment, then SIGKILL.
  CloseFd(to_child_);
  CloseFd(from_child_);
  int wait_status = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (child_ <= 0) return "executor not running";
      pid_t r;
      do {
        r = ::waitpid(child_, &wait_status, absl::Now() < give_up ? WNOHANG : 0);
      } while (r < 0 && errno == EINTR);
      if (r == 0 && absl::Now() >= give_up) {
        ::kill(child_, SIGKILL);
        continue;
      }
      if (r != 0) {
        const std::string why =
            r == child_ ? DescribeExit(wait_status)
                        : absl::StrCat("executor lost: waitpid: ", std::strerror(errno));
        child_ = 0;
        ready_pid_ = 0;
        return why;
      }
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

bool ExecutorSupervisor::WaitBackoff() {
  absl::Duration delay = options_.restart_backoff_initial;
  for (int i = 1; i < consecutive_crashes_ && delay < options_.restart_backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options_.restart_backoff_max);
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&shutdown_), delay);
  return !shutdown_;
}

absl::Status ExecutorSupervisor::EnsureRunning() {
  bool must_reap = false;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::CancelledError("executor supervisor shut down");
    if (child_ > 0) {
      int wait_status;
      if (kill_requested_) {
        must_reap = true;
      } else if (::waitpid(child_, &wait_status, WNOHANG) == child_) {
        // Died while idle: a crash, but no job to blame.
        KILN_LOG(WARNING) << "slot " << options_.slot << ": idle " << DescribeExit(wait_status);
        child_ = 0;
        ready_pid_ = 0;
        ++consecutive_crashes_;
        crashes_.fetch_add(1, std::memory_order_relaxed);
      } else {
        return absl::OkStatus();
      }
    }
  }
  if (must_reap) Reap();
  if (consecutive_crashes_ > 0 && !WaitBackoff()) {
    return absl::CancelledError("executor supervisor shut down");
  }
  absl::Status status = Start();
  if (!status.ok()) {
    ++consecutive_crashes_;
    crashes_.fetch_add(1, std::memory_order_relaxed);
  }
  return status;
}

absl::Status ExecutorSupervisor::Restart() {
  Kill();  // kill_requested_: EnsureRunning() reaps it without counting a crash.
  return EnsureRunning();
}

absl::StatusOr<ExecResult> ExecutorSupervisor::Run(const kiln::v1::RunTaskRequest& request,
                                                   const ProgressCallback& on_progress,
                                                   absl::Time deadline,
                                                   const ChildrenCallback& on_submit_children) {
  KILN_RETURN_IF_ERROR(EnsureRunning());
  // Reaps a child that died or broke the stream; a crash (not a kill we asked for)
  // counts toward the restart backoff.
  auto died = [&]() -> absl::Status {
    bool requested;
    {
      absl::MutexLock lock(&mu_);
      requested = kill_requested_;
    }
    Kill();  // A broken stream leaves the child useless even if it still lives.
    const std::string why = Reap();
    if (!requested) {
      ++consecutive_crashes_;
      crashes_.fetch_add(1, std::memory_order_relaxed);
    }
    return absl::AbortedError(why);
  };

  ExecRequest exec_request;
  *exec_request.mutable_run() = request;
  if (!exec::WriteFrame(to_child_, exec_request).ok()) return died();
  for (;;) {
    absl::Status status = WaitReadable(from_child_, deadline);
    if (absl::IsDeadlineExceeded(status)) {
      Kill();
      const std::string why = Reap();
      return absl::DeadlineExceededError(absl::StrCat("task ran past its deadline; ", why));
    }
    ExecEvent event;
    if (status.ok()) status = exec::ReadFrame(from_child_, &event);
    if (!status.ok()) {
      if (!exec::IsEndOfStream(status) && !absl::IsDataLoss(status)) {
        KILN_LOG(ERROR) << "slot " << options_.slot << ": executor stream: " << status;
      }
      return died();
    }
    switch (event.event_case()) {
      case ExecEvent::kProgress:
        if (on_progress) on_progress(event.progress());
        break;
      case ExecEvent::kResult:
        consecutive_crashes_ = 0;
        return std::move(*event.mutable_result());
      case ExecEvent::kSubmitChildren: {
        ExecRequest answer;
        if (on_submit_children) {
          *answer.mutable_children() = on_submit_children(event.submit_children());
        } else {
          answer.mutable_children()->set_error("this worker does not submit child jobs");
          answer.mutable_children()->set_code(
              static_cast<int32_t>(absl::StatusCode::kFailedPrecondition));
        }
        answer.mutable_children()->set_call_id(event.submit_children().call_id());
        if (!exec::WriteFrame(to_child_, answer).ok()) return died();
        break;
      }
      default:
        KILN_LOG(WARNING) << "slot " << options_.slot << ": unexpected executor event";
    }
  }
}

void ExecutorSupervisor::Kill() {
  absl::MutexLock lock(&mu_);
  kill_requested_ = true;
  if (child_ > 0 && ::kill(-child_, SIGKILL) != 0) ::kill(child_, SIGKILL);
}

void ExecutorSupervisor::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  kill_requested_ = true;
  if (child_ > 0 && ::kill(-child_, SIGKILL) != 0) ::kill(child_, SIGKILL);
}

}  // namespace kiln::agent
