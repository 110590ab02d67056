// debug.sleep: a diagnostic task of known length. It sleeps `seconds` in small steps,
// reporting progress, then writes "sleep.txt" or, when `fail_message` is set, fails
// with that message (Aborted, so the job is retried). With `print` it prints that many
// numbered lines on stdout, spread over the sleep ("debug.sleep: line 3 of 10"). With
// `children` it first submits that many debug.sleep children (TaskContext::SubmitChildren).
// Operators and tests use it to exercise leases, retries, cancellation, executor crashes
// and `kilnctl logs`. Stateless once built; Run may be called from any thread.
#ifndef KILN_WORKER_TASKS_DEBUG_SLEEP_TASK_H_
#define KILN_WORKER_TASKS_DEBUG_SLEEP_TASK_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/task_catalog.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

struct DebugSleepOptions {
  TaskLimits limits;
  // Time source and how to wait; tests pass a FakeClock and a sleep that advances it.
  // Not owned; must outlive the task.
  Clock* clock = Clock::Real();
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
  // Longest single wait, i.e. how often progress is reported.
  absl::Duration step = absl::Milliseconds(100);
};

class DebugSleepTask : public Task {
 public:
  explicit DebugSleepTask(DebugSleepOptions options = {}) : options_(std::move(options)) {}

  std::string_view kind() const override { return kDebugSleepTask; }
  // Output "sleep.txt"; summary: seconds (slept).
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;

 private:
  const DebugSleepOptions options_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_DEBUG_SLEEP_TASK_H_
