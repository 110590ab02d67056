// ExecChild: a real kiln-exec process on pipes, for tests that drive it over its frame
// protocol (kiln/v1/executor.proto). Test-only. The destructor kills and reaps it.
// One thread uses an ExecChild.
#ifndef KILN_WORKER_EXEC_TESTING_EXEC_CHILD_H_
#define KILN_WORKER_EXEC_TESTING_EXEC_CHILD_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::exec {

class ExecChild {
 public:
  // Starts `exec_path` with `args` and this process's environment changed by `env`
  // ("NAME=value" sets, "NAME" alone removes).
  explicit ExecChild(const std::string& exec_path, std::vector<std::string> args = {},
                     const std::vector<std::string>& env = {});
  ~ExecChild();
  ExecChild(const ExecChild&) = delete;
  ExecChild& operator=(const ExecChild&) = delete;

  void CloseStdin();
  absl::Status Send(const kiln::v1::RunTaskRequest& run);
  // Reads one event, failing after `timeout`.
  absl::Status Read(kiln::v1::ExecEvent* event, absl::Duration timeout = absl::Seconds(30));
  // Reads events up to the result (each within `timeout`); progress events are appended
  // to *progress.
  absl::StatusOr<kiln::v1::ExecResult> ReadResult(std::vector<kiln::v1::ExecProgress>* progress,
                                                  absl::Duration timeout = absl::Seconds(30));
  // Waits for the exit status, bounded.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(10));
  // True while the process has not exited.
  bool Alive();
  pid_t pid() const { return pid_; }
  int from() const { return from_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

}  // namespace kiln::exec

#endif  // KILN_WORKER_EXEC_TESTING_EXEC_CHILD_H_
