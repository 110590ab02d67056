// ContainedProcess: runs one command from a model manifest so that nothing it starts
// outlives it. The command runs in its own process group under a small keeper process
// (a fork of the caller, not an exec):
//
//   caller (kiln-exec) --fork--> keeper: own process group, PR_SET_PDEATHSIG
//                                  --fork+exec--> the command (and whatever it spawns)
//
// The keeper waits for the command, reports its wait status over a pipe, then SIGKILLs
// the whole group (leftover background processes included). If the caller dies first
// (the worker killed kiln-exec to cancel a job), the keeper gets a death signal and
// kills the group, so a Python process started by a wrapper script cannot keep a GPU
// busy for nobody. On timeout the caller sends SIGTERM to the group, waits a grace
// period, then SIGKILLs it. A command that makes its own session or group escapes this.
//
// stdout and stderr are read with poll() on the calling thread and handed to on_output
// line by line, so the caller is never blocked longer than the timeout. The command's
// stdin is /dev/null and it inherits no descriptor other than 0, 1 and 2.
// Run() is synchronous; it may be called from any thread, one command per call (the
// keeper's death signal follows the thread that forked it, so call it from a thread that
// lives as long as the command: kiln-exec's main thread).
#ifndef KILN_MODELS_CONTAINED_PROCESS_H_
#define KILN_MODELS_CONTAINED_PROCESS_H_

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::models {

enum class OutputStream { kStdout, kStderr };

struct ContainedProcessOptions {
  // argv[0] is a path ("/x/run.sh", "./run.sh" relative to working_dir) or a name looked
  // up in env's PATH.
  std::vector<std::string> argv;
  // The complete environment of the command (nothing else is inherited).
  std::map<std::string, std::string> env;
  // Working directory; must exist.
  std::filesystem::path working_dir;
  // Wall time allowed; absl::InfiniteDuration() for none.
  absl::Duration timeout = absl::InfiniteDuration();
  // Between SIGTERM and SIGKILL on timeout.
  absl::Duration kill_grace = absl::Seconds(5);
  // Called with each complete line (without the '\n'; a last unterminated line is
  // flushed at the end, and lines longer than max_line_bytes are split).
  std::function<void(OutputStream stream, std::string_view line)> on_output;
  size_t max_line_bytes = 64 * 1024;
};

struct ContainedProcessResult {
  // Set when the command exited normally.
  std::optional<int> exit_code;
  // Set when a signal ended it (including our SIGTERM/SIGKILL on timeout).
  std::optional<int> signal;
  // True when the timeout expired and the group was killed.
  bool timed_out = false;
  // The timeout it ran under.
  absl::Duration timeout = absl::InfiniteDuration();
  absl::Duration elapsed;

  bool ok() const { return exit_code == 0 && !timed_out; }
  // "exit code 3", "killed by signal 9 (SIGKILL)", "timed out after 5s (...)".
  std::string Describe() const;
};

// The absolute path that argv0 names: with a '/', relative to working_dir; otherwise the
// first executable match in `path_env` (a PATH value). FailedPrecondition naming argv0
// (and the PATH searched) when there is none or it is not an executable file.
absl::StatusOr<std::filesystem::path> ResolveCommand(std::string_view argv0,
                                                     const std::filesystem::path& working_dir,
                                                     std::string_view path_env);

// Runs the command to its end (or timeout). Errors: FailedPrecondition for a command
// that cannot be found or a working directory that does not exist, Internal when the
// process cannot be started. A command that ran and failed is an OK status whose
// result is not ok().
absl::StatusOr<ContainedProcessResult> RunContainedProcess(const ContainedProcessOptions& options);

}  // namespace kiln::models

#endif  // KILN_MODELS_CONTAINED_PROCESS_H_
