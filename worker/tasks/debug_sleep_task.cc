#include "worker/tasks/debug_sleep_task.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {

absl::StatusOr<TaskOutput> DebugSleepTask::Run(const TaskContext& context) const {
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  KILN_ASSIGN_OR_RETURN(const DebugSleepParams params,
                        ParseDebugSleepParams(request.parameters(), options_.limits));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  if (params.children > 0) {
    std::vector<kiln::v1::ExecChildSpec> children(params.children);
    for (int i = 0; i < params.children; ++i) {
      kiln::v1::JobSpec& spec = *children[i].mutable_spec();
      spec.set_task(std::string(kDebugSleepTask));
      spec.set_client_request_id(absl::StrCat("sleep-child-", i));
      (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(params.seconds);
    }
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                          context.SubmitChildren("debug-sleep-children", children));
    std::printf("debug.sleep: submitted %zu children\n", ids.size());
    std::fflush(stdout);
  }
  const absl::Duration total = absl::Seconds(params.seconds);
  const absl::Time start = options_.clock->Now();
  absl::Duration elapsed;
  // Line k (1-based) is due once k-1 of the `print` equal parts of the sleep have passed,
  // so a follower sees lines arrive while the task runs. stdout is a file here (the slot
  // log): flush each line, or it would wait in the buffer until the task ends.
  int printed = 0;
  const auto print_due = [&](absl::Duration now) {
    while (printed < params.print &&
           (total == absl::ZeroDuration() || now >= total * printed / params.print)) {
      ++printed;
      std::printf("debug.sleep: line %d of %d\n", printed, params.print);
      std::fflush(stdout);
    }
  };
  while ((elapsed = options_.clock->Now() - start) < total) {
    print_due(elapsed);
    if (context.report_progress) {
      context.report_progress(
          absl::FDivDuration(elapsed, total),
          absl::StrFormat("slept %.1f of %.1f s", absl::ToDoubleSeconds(elapsed), params.seconds));
    }
    options_.sleep(std::min(options_.step, total - elapsed));
  }
  print_due(total);
  if (context.report_progress) context.report_progress(1.0, "done sleeping");
  if (params.fail_message.has_value()) return absl::AbortedError(*params.fail_message);

  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));
  const std::string path = (dir / "sleep.txt").string();
  std::ofstream out(path, std::ios::trunc);
  out << absl::StrFormat("slept %.3f s\n", absl::ToDoubleSeconds(elapsed));
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));

  TaskOutput output;
  AddOutputFile("sleep.txt", path, &output);
  (*output.summary.mutable_fields())["seconds"].set_number_value(absl::ToDoubleSeconds(elapsed));
  return output;
}

}  // namespace kiln::tasks
