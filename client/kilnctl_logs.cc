#include "client/kilnctl_logs.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kiln::kilnctl {

std::vector<FlagSpec> LogsFlags() {
  return {
      {"attempt", '\0', true, "N", "this attempt (1 = the first; default: the latest)"},
      {"follow", 'f', false, "",
       "keep printing while the attempt runs; exit when it ends (with the job's exit code)"},
  };
}

absl::StatusOr<LogsArgs> ParseLogsArgs(const ParsedArgs& args) {
  if (args.positional().empty()) return absl::InvalidArgumentError("missing JOB_ID");
  if (args.positional().size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", args.positional()[1], "\""));
  }
  LogsArgs logs;
  logs.job_id = args.positional()[0];
  if (std::optional<std::string> text = args.Get("attempt")) {
    if (!absl::SimpleAtoi(*text, &logs.attempt) || logs.attempt < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attempt \"", *text, "\": expected an attempt number, 1 or more"));
    }
  }
  logs.follow = args.Switch("follow");
  return logs;
}

}  // namespace kiln::kilnctl
