// Subprocess: a child process for end-to-end tests (scheduler, worker, kilnctl),
// started with posix_spawn, its output sent to files. The destructor kills
// (SIGKILL) and reaps a child that is still running, so a failing test leaves
// no process behind. Test-only; one thread owns each Subprocess.
#ifndef KILN_TESTS_SUPPORT_SUBPROCESS_H_
#define KILN_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with the environment plus `env` ("K=V" entries);
  // stdout and stderr go to the given files (appended; empty: /dev/null).
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::string& stdout_path,
      const std::string& stderr_path, const std::vector<std::string>& env = {});
  ~Subprocess();

  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // Waits up to `timeout` for the exit. Returns the exit code, or 128+signal
  // for a signal; DeadlineExceeded if it still runs.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool Running();

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killed after `timeout`) and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                         const std::vector<std::string>& env = {});

// Direct children of `pid` (from /proc), e.g. a worker's executors.
std::vector<pid_t> ChildrenOf(pid_t pid);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_SUBPROCESS_H_
