#include "models/contained_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace kiln::models {
namespace {

// The keeper's death signal: PR_SET_PDEATHSIG delivers it when the caller dies.
constexpr int kParentDiedSignal = SIGUSR2;

// In the keeper: the caller is gone, so take the whole group (and the keeper) down.
void KillOwnGroup(int) { ::kill(0, SIGKILL); }

void SetDisposition(int signal, void (*handler)(int)) {
  struct sigaction action;
  ::memset(&action, 0, sizeof(action));
  action.sa_handler = handler;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
}

bool IsExecutableFile(const std::filesystem::path& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string Abbrev(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : "unknown signal";
}

// Splits a stream into lines. A '\r' inside a line keeps only what follows it, as a
// terminal would show it: a tqdm-style progress bar collapses to its last state.
class LineSplitter {
 public:
  LineSplitter(OutputStream stream, const ContainedProcessOptions& options)
      : stream_(stream), options_(options) {}

  void Add(std::string_view data) {
    buffer_.append(data);
    size_t start = 0;
    for (;;) {
      const size_t newline = buffer_.find('\n', start);
      if (newline == std::string::npos) break;
      Emit(std::string_view(buffer_).substr(start, newline - start));
      start = newline + 1;
    }
    buffer_.erase(0, start);
    while (buffer_.size() > options_.max_line_bytes) {
      Emit(std::string_view(buffer_).substr(0, options_.max_line_bytes));
      buffer_.erase(0, options_.max_line_bytes);
    }
  }

  void Flush() {
    if (!buffer_.empty()) Emit(buffer_);
    buffer_.clear();
  }

 private:
  void Emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t cr = line.rfind('\r');
    if (cr != std::string_view::npos) line.remove_prefix(cr + 1);
    if (options_.on_output) options_.on_output(stream_, line);
  }

  const OutputStream stream_;
  const ContainedProcessOptions& options_;
  std::string buffer_;
};

// Closes the descriptors it holds when it goes out of scope.
struct Fds {
  std::array<int, 7> fds = {-1, -1, -1, -1, -1, -1, -1};
  size_t used = 0;
  ~Fds() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  int* Add() { return &fds.at(used++); }
};

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace

std::string ContainedProcessResult::Describe() const {
  std::string what;
  if (exit_code.has_value()) {
    what = absl::StrCat("exit code ", *exit_code);
  } else if (signal.has_value()) {
    what = absl::StrCat("killed by signal ", *signal, " (", Abbrev(*signal), ")");
  } else {
    what = "ended for an unknown reason";
  }
  if (timed_out) {
    return absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                        " and its process group was killed (", what, ")");
  }
  return what;
}

absl::StatusOr<std::filesystem::path> ResolveCommand(std::string_view argv0,
                                                     const std::filesystem::path& working_dir,
                                                     std::string_view path_env) {
  const std::string name(argv0);
  if (name.empty()) return absl::FailedPreconditionError("command: argv[0] is empty");
  if (name.find('/') != std::string::npos) {
    std::filesystem::path path(name);
    if (path.is_relative()) path = working_dir / path;
    if (!IsExecutableFile(path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "command \"", name, "\" not found or not an executable file (", path.string(), ")"));
    }
    return path;
  }
  for (absl::string_view dir :
       absl::StrSplit(absl::string_view(path_env.data(), path_env.size()), ':')) {
    // An empty PATH entry means the working directory, as for execvp.
    const std::filesystem::path base =
        dir.empty() ? working_dir : std::filesystem::path(std::string(dir));
    const std::filesystem::path candidate = base / name;
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("command \"", name,
                   "\" not found in PATH=", absl::string_view(path_env.data(), path_env.size())));
}

absl::StatusOr<ContainedProcessResult> RunContainedProcess(const ContainedProcessOptions& options) {
  if (options.argv.empty()) return absl::FailedPreconditionError("command: empty argv");
  std::error_code ec;
  if (!std::filesystem::is_directory(options.working_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("working directory ", options.working_dir.string(), " does not exist"));
  }
  const auto path_it = options.env.find("PATH");
  const std::string path_env = path_it == options.env.end() ? "" : path_it->second;
  absl::StatusOr<std::filesystem::path> resolved =
      ResolveCommand(options.argv[0], options.working_dir, path_env);
  if (!resolved.ok()) return resolved.status();

  // Everything the children need is prepared before fork(): after it they only make
  // async-signal-safe calls (the caller may have other threads).
  const std::string exe = resolved->string();
  const std::string working_dir = options.working_dir.string();
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  Fds fds;
  int* dev_null = fds.Add();
  int* out_r = fds.Add();
  int* out_w = fds.Add();
  int* err_r = fds.Add();
  int* err_w = fds.Add();
  int* status_r = fds.Add();
  int* status_w = fds.Add();
  int pipe_fds[2];
  *dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (*dev_null < 0) return absl::InternalError("cannot open /dev/null");
  for (auto [r, w] :
       {std::pair{out_r, out_w}, std::pair{err_r, err_w}, std::pair{status_r, status_w}}) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("pipe2: ", ::strerror(errno)));
    }
    *r = pipe_fds[0];
    *w = pipe_fds[1];
  }
  const pid_t caller = ::getpid();
  const absl::Time start = absl::Now();

  const pid_t keeper = ::fork();
  if (keeper < 0) return absl::InternalError(absl::StrCat("fork: ", ::strerror(errno)));
  if (keeper == 0) {
    // --- The keeper. ---
    ::setpgid(0, 0);
    SetDisposition(SIGTERM, SIG_IGN);  // The timeout's SIGTERM is for the command.
    SetDisposition(SIGCHLD, SIG_DFL);  // waitpid() must see the command.
    SetDisposition(kParentDiedSignal, KillOwnGroup);
    sigset_t unblock;
    ::sigemptyset(&unblock);
    ::sigaddset(&unblock, kParentDiedSignal);
    ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
    ::prctl(PR_SET_PDEATHSIG, kParentDiedSignal);
    if (::getppid() != caller) ::kill(0, SIGKILL);  // The caller died before prctl.

    const pid_t command = ::fork();
    if (command == 0) {
      // --- The command. ---
      for (int s : {SIGTERM, SIGCHLD, SIGPIPE, kParentDiedSignal}) SetDisposition(s, SIG_DFL);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (::dup2(*dev_null, 0) < 0 || ::dup2(*out_w, 1) < 0 || ::dup2(*err_w, 2) < 0) _exit(126);
      if (::chdir(working_dir.c_str()) != 0) {
        constexpr char kMessage[] = "kiln: cannot enter the working directory\n";
        [[maybe_unused]] ssize_t n = ::write(2, kMessage, sizeof(kMessage) - 1);
        _exit(126);
      }
      // Nothing of the executor's but 0, 1 and 2 (most fds are CLOEXEC already).
      ::syscall(SYS_close_range, 3U, ~0U, 0U);
      ::execve(exe.c_str(), argv.data(), envp.data());
      constexpr char kMessage[] = "kiln: execve of the command failed\n";
      [[maybe_unused]] ssize_t n = ::write(2, kMessage, sizeof(kMessage) - 1);
      _exit(127);
    }
    // The keeper keeps only its status pipe: no end of the output pipes (they reach EOF
    // with the group) and nothing of the caller's (e.g. kiln-exec's event stream).
    ::dup2(*dev_null, 0);  // Let go of the caller's stdin and stdout (kiln-exec's request pipe).
    ::dup2(*dev_null, 1);
    const unsigned keep = static_cast<unsigned>(*status_w);
    if (keep > 3) ::syscall(SYS_close_range, 3U, keep - 1, 0U);
    ::syscall(SYS_close_range, keep + 1, ~0U, 0U);
    if (command < 0) _exit(125);
    int wait_status = 0;
    while (::waitpid(command, &wait_status, 0) < 0 && errno == EINTR) {
    }
    [[maybe_unused]] ssize_t n = ::write(*status_w, &wait_status, sizeof(wait_status));
    ::kill(0, SIGKILL);  // Leftovers of the command, and the keeper itself.
    _exit(0);
  }

  // --- The caller. ---
  ::setpgid(keeper, keeper);  // Also here, so the group exists before any kill below.
  CloseFd(out_w);
  CloseFd(err_w);
  CloseFd(status_w);
  CloseFd(dev_null);
  ::fcntl(*out_r, F_SETFL, O_NONBLOCK);
  ::fcntl(*err_r, F_SETFL, O_NONBLOCK);

  ContainedProcessResult result;
  result.timeout = options.timeout;
  LineSplitter out_lines(OutputStream::kStdout, options);
  LineSplitter err_lines(OutputStream::kStderr, options);
  std::optional<int> wait_status;
  bool status_done = false;
  const absl::Time deadline = options.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                          : start + options.timeout;
  absl::Time kill_at = absl::InfiniteFuture();
  bool killed = false;
  // Once the command has ended, output still held open by a process that left the group
  // is read for this long at most.
  absl::Time drain_until = absl::InfiniteFuture();
  std::array<char, 64 * 1024> chunk;

  for (;;) {
    const absl::Time now = absl::Now();
    if (status_done && *out_r < 0 && *err_r < 0) break;
    if (now >= drain_until) break;
    if (!status_done && !result.timed_out && now >= deadline) {
      result.timed_out = true;
      ::kill(-keeper, SIGTERM);
      kill_at = now + options.kill_grace;
    }
    if (!status_done && !killed && now >= kill_at) {
      killed = true;
      ::kill(-keeper, SIGKILL);
    }
    const absl::Time wake =
        std::min({deadline > now && !result.timed_out ? deadline : absl::InfiniteFuture(), kill_at,
                  drain_until, now + absl::Seconds(1)});
    const int wait_ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wake - now) + 1));
    std::vector<pollfd> polled;
    for (int fd : {*out_r, *err_r, *status_r}) {
      if (fd >= 0) polled.push_back(pollfd{fd, POLLIN, 0});
    }
    if (::poll(polled.data(), polled.size(), wait_ms) < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", ::strerror(errno)));
    }
    for (const pollfd& p : polled) {
      if (p.revents == 0) continue;
      if (p.fd == *status_r) {
        int value = 0;
        const ssize_t n = ::read(*status_r, &value, sizeof(value));
        if (n == static_cast<ssize_t>(sizeof(value))) wait_status = value;
        if (n >= 0 || errno != EINTR) {
          status_done = true;
          CloseFd(status_r);
          drain_until = absl::Now() + absl::Seconds(2);
        }
        continue;
      }
      int* fd = p.fd == *out_r ? out_r : err_r;
      LineSplitter& lines = fd == out_r ? out_lines : err_lines;
      const ssize_t n = ::read(*fd, chunk.data(), chunk.size());
      if (n > 0) {
        lines.Add(std::string_view(chunk.data(), static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        CloseFd(fd);
      }
    }
  }
  out_lines.Flush();
  err_lines.Flush();

  // The keeper is not reaped yet, so its group id cannot have been reused.
  ::kill(-keeper, SIGKILL);
  int keeper_status = 0;
  while (::waitpid(keeper, &keeper_status, 0) < 0 && errno == EINTR) {
  }
  result.elapsed = absl::Now() - start;

  if (wait_status.has_value()) {
    if (WIFEXITED(*wait_status)) result.exit_code = WEXITSTATUS(*wait_status);
    if (WIFSIGNALED(*wait_status)) result.signal = WTERMSIG(*wait_status);
  } else if (killed || result.timed_out) {
    result.signal = SIGKILL;  // The keeper died with the group before it could report.
  } else if (WIFEXITED(keeper_status) && WEXITSTATUS(keeper_status) == 125) {
    return absl::InternalError("cannot start the command: fork failed in the keeper");
  } else {
    result.signal = WIFSIGNALED(keeper_status) ? WTERMSIG(keeper_status) : SIGKILL;
  }
  return result;
}

}  // namespace kiln::models
