#include "worker/agent/exec_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/agent/executor_supervisor.h"
#include "worker/exec/frame_io.h"

extern char** environ;

namespace kiln::agent {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// The last `max_bytes` of a file, trimmed; empty when unreadable.
std::string FileTail(const std::string& path, size_t max_bytes = 2000) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Waits for `pid` until `deadline`, then SIGKILLs and reaps it. Returns the wait status.
int ReapBy(pid_t pid, absl::Time deadline) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return status;
    if (absl::Now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return status;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace

std::vector<std::string> ChildEnvironment(const EnvOverrides& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool overridden = std::any_of(overrides.begin(), overrides.end(), [&](auto& kv) {
      return entry.size() > kv.first.size() && entry.substr(0, kv.first.size()) == kv.first &&
             entry[kv.first.size()] == '=';
    });
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);
  return env;
}

absl::StatusOr<kiln::v1::ExecReady> RunExecProbe(const ExecProbeOptions& options) {
  if (options.exec_path.empty()) return absl::InvalidArgumentError("exec_path is empty");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!options.log_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, options.log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  // The worker blocks its stop signals for its signal thread; the probe must not inherit
  // that mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> args = {options.exec_path, "--probe"};
  if (!options.fake_devices.empty()) {
    args.push_back(absl::StrCat("--fake-devices=", options.fake_devices));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int spawn_error = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  if (spawn_error != 0) {
    ::close(out[0]);
    return absl::UnavailableError(
        absl::StrCat("cannot start ", options.exec_path, " --probe: ", std::strerror(spawn_error)));
  }

  const absl::Time deadline = absl::Now() + options.timeout;
  kiln::v1::ExecEvent event;
  absl::Status read_status;
  pollfd p{out[0], POLLIN, 0};
  int rc;
  do {
    const int64_t left_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 3'600'000)));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    read_status = absl::DeadlineExceededError(
        absl::StrCat("no answer within ", absl::FormatDuration(options.timeout)));
  } else {
    read_status = exec::ReadFrame(out[0], &event);
  }
  ::close(out[0]);
  // The probe exits right after its frame; one that hangs is killed at the deadline.
  const int wait_status = ReapBy(pid, read_status.ok() ? deadline : absl::Now());

  const auto failed = [&](std::string why) {
    const std::string tail = FileTail(options.log_path);
    return absl::StrCat(options.exec_path, " --probe: ", why,
                        tail.empty() ? "" : "; stderr: ", tail);
  };
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 2) {
    return absl::InvalidArgumentError(failed("refused its options"));
  }
  if (!read_status.ok()) {
    return absl::UnavailableError(
        failed(absl::StrCat(read_status.message(), "; ", DescribeExit(wait_status))));
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::UnavailableError(failed(DescribeExit(wait_status)));
  }
  if (event.event_case() != kiln::v1::ExecEvent::kReady) {
    return absl::UnavailableError(failed("its frame is not ExecReady"));
  }
  return std::move(*event.mutable_ready());
}

kiln::v1::Device AdvertisedGpuDevice(int host_index, const kiln::v1::Device* probed,
                                     const kiln::v1::Device* last_known,
                                     const std::string& missing_reason) {
  kiln::v1::Device device;
  if (probed != nullptr) {
    device = *probed;
  } else {
    if (last_known != nullptr) device = *last_known;
    device.set_runnable(false);
    device.set_unrunnable_reason(missing_reason);
  }
  device.set_id(absl::StrCat("cuda:", host_index));
  return device;
}

bool AdvertisedDeviceChanged(const kiln::v1::Device& a, const kiln::v1::Device& b,
                             bool compare_memory) {
  if (a.runnable() != b.runnable() || a.unrunnable_reason() != b.unrunnable_reason()) return true;
  return compare_memory && (a.total_memory_bytes() / kGiB != b.total_memory_bytes() / kGiB ||
                            a.free_memory_bytes() / kGiB != b.free_memory_bytes() / kGiB);
}

}  // namespace kiln::agent
