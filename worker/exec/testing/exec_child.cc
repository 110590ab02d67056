#include "worker/exec/testing/exec_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "worker/exec/frame_io.h"

extern char** environ;

namespace kiln::exec {

ExecChild::ExecChild(const std::string& exec_path, std::vector<std::string> args,
                     const std::vector<std::string>& env) {
  int in[2], out[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  // Prepared before fork(): the child only dups and execs.
  args.insert(args.begin(), exec_path);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const std::string& o : env) {
      overridden |= entry.rfind(o.substr(0, o.find('=')) + "=", 0) == 0;
    }
    if (!overridden) env_strings.push_back(entry);
  }
  for (const std::string& o : env) {
    if (o.find('=') != std::string::npos) env_strings.push_back(o);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = out[0];
}

ExecChild::~ExecChild() {
  CloseStdin();
  ::close(from_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ExecChild::CloseStdin() {
  if (to_ >= 0) ::close(to_);
  to_ = -1;
}

absl::Status ExecChild::Send(const kiln::v1::RunTaskRequest& run) {
  kiln::v1::ExecRequest request;
  *request.mutable_run() = run;
  return WriteFrame(to_, request);
}

absl::Status ExecChild::Read(kiln::v1::ExecEvent* event, absl::Duration timeout) {
  pollfd p{from_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return absl::DeadlineExceededError("no event from kiln-exec");
  }
  return ReadFrame(from_, event);
}

absl::StatusOr<kiln::v1::ExecResult> ExecChild::ReadResult(
    std::vector<kiln::v1::ExecProgress>* progress, absl::Duration timeout) {
  for (int i = 0; i < 100'000; ++i) {
    kiln::v1::ExecEvent event;
    if (absl::Status status = Read(&event, timeout); !status.ok()) return status;
    if (event.has_result()) return event.result();
    if (event.has_progress()) progress->push_back(event.progress());
  }
  return absl::InternalError("no result after 100000 events");
}

absl::StatusOr<int> ExecChild::Wait(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("kiln-exec did not exit");
}

bool ExecChild::Alive() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

}  // namespace kiln::exec
