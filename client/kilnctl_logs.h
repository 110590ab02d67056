// `kilnctl logs JOB_ID [--attempt N] [--follow]`: its flags and their parsing, kept apart
// from kilnctl.cc's main() so that they are unit-tested. Pure functions; any thread.
#ifndef KILN_CLIENT_KILNCTL_LOGS_H_
#define KILN_CLIENT_KILNCTL_LOGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/kilnctl_args.h"

namespace kiln::kilnctl {

struct LogsArgs {
  std::string job_id;
  // 1-based attempt; 0 = the latest.
  int attempt = 0;
  bool follow = false;
};

// The flags of `logs`.
std::vector<FlagSpec> LogsFlags();

// INVALID_ARGUMENT (naming the argument) for a missing or extra positional argument or
// an --attempt that is not a positive integer.
absl::StatusOr<LogsArgs> ParseLogsArgs(const ParsedArgs& args);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_LOGS_H_
