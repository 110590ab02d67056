// Running a short external command (sbatch, squeue, scancel) and capturing its output.
// Blocking; any thread (fork/exec, no shell).
#ifndef KILN_AUTOSCALE_COMMAND_H_
#define KILN_AUTOSCALE_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::autoscale {

struct CommandOutput {
  int exit_code = -1;  // 128+signal when killed
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up on PATH), killed after `timeout`. Unavailable when it
// cannot be started or times out; a non-zero exit is not an error here.
absl::StatusOr<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_COMMAND_H_
