// What kilnctl prints and how it exits: tables, `describe` text, watch lines and the
// progress bar, protobuf JSON, and the mapping of job states and statuses to exit codes.
// Pure functions of their arguments (time is passed in); any thread.
#ifndef KILN_CLIENT_KILNCTL_FORMAT_H_
#define KILN_CLIENT_KILNCTL_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/worker.pb.h"

namespace kiln::kilnctl {

// kilnctl's exit codes; scripts rely on them, so they never change meaning.
enum ExitCode : int {
  kExitOk = 0,            // Success; for commands that follow a job: it succeeded.
  kExitError = 1,         // An RPC or local operation failed.
  kExitUsage = 2,         // Bad command line or a request the scheduler rejected as invalid.
  kExitNotFound = 3,      // No such job, blob or output.
  kExitJobFailed = 4,     // The job ended FAILED.
  kExitJobCancelled = 5,  // The job ended CANCELLED.
  kExitUnavailable = 6,   // The scheduler could not be reached or did not answer in time.
  kExitWaitTimeout = 7,   // --wait-timeout passed before the job finished.
};

// Exit code of a failed call (OK maps to kExitOk).
int ExitCodeForStatus(const absl::Status& status);
// Exit code of a wait for a job: like ExitCodeForStatus, except that DEADLINE_EXCEEDED
// (the wait's own timeout) is kExitWaitTimeout.
int ExitCodeForWaitStatus(const absl::Status& status);
// Exit code of a job's outcome: 0 succeeded, 4 failed, 5 cancelled; 0 for unfinished jobs.
int ExitCodeForJobState(v1::JobState state);

bool IsTerminal(v1::JobState state);

// "queued", "running", ... ("unknown" for UNSPECIFIED).
std::string JobStateName(v1::JobState state);
// "task_error", "lease_expired", ... ("-" for UNSPECIFIED).
std::string ExitReasonName(v1::ExitReason reason);
// "any", "gpu", "cpu".
std::string AcceleratorName(v1::Accelerator accelerator);

// kubectl-style age: "42s", "7m", "5h", "3d"; "-" for an unset (zero) time.
std::string FormatAge(absl::Time then, absl::Time now);
// Binary units with one decimal where useful: "512 B", "1.5 KiB", "24.0 GiB".
std::string FormatBytes(int64_t bytes);
// 86 -> "8.6", 120 -> "12.0"; "-" for 0.
std::string FormatComputeCapability(int32_t cc);
// "42%" for a running job, "100%" for a succeeded one, "-" otherwise.
std::string FormatProgress(const v1::Job& job);

// Left-aligned columns separated by three spaces, header first, no trailing spaces.
std::string FormatTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);
// Columns: ID, TASK, STATE, ATTEMPTS, PROGRESS, AGE, WORKER; `wide` adds MODEL, PRIORITY,
// TIER, DEVICE, LABELS.
std::string FormatJobsTable(const std::vector<v1::Job>& jobs, absl::Time now, bool wide = false);
// Columns: ID, HOST, SLOTS, DEVICES, LAST SEEN, JOBS, STATUS (ready, draining, lost);
// `wide` adds VERSION, TASKS, MODELS.
std::string FormatWorkersTable(const std::vector<v1::WorkerInfo>& workers, absl::Time now,
                               bool wide = false);
// "ready", "draining", "lost" or "lost,draining".
std::string WorkerStatus(const v1::WorkerInfo& worker);
// The models the workers advertise, one row per name@version, sorted: MODEL, VERSION,
// RUNTIME, WORKERS (how many can run it), UNAVAILABLE (how many cannot); `wide` adds the
// worker ids and the first reason one cannot.
std::string FormatModelsTable(const std::vector<v1::WorkerInfo>& workers, bool wide = false);
// The multi-line report of `kilnctl describe worker`; times are shown in `zone`.
std::string DescribeWorker(const v1::WorkerInfo& worker, absl::Time now, absl::TimeZone zone);

// The multi-line report of `kilnctl describe`; times are shown in `zone`.
std::string DescribeJob(const v1::Job& job, absl::Time now, absl::TimeZone zone);

// One line per change, as `watch` prints it: "15:04:05  running  42%  meshing".
std::string FormatWatchLine(const v1::Job& job, absl::TimeZone zone);
// A one-line progress bar for a terminal, at most `width` columns:
// "[########------------]  42%  running  meshing".
std::string FormatProgressBar(const v1::Job& job, int width);
// The last line of `submit --wait`: "j-... succeeded" or "j-... failed: why".
std::string FormatOutcome(const v1::Job& job);

// Canonical protobuf JSON; `multiline` indents it, otherwise it is one line (for NDJSON).
// Fields with default values are printed too, so scripts see a stable shape.
// Object keys are sorted, so equal messages print equal text.
std::string ToJson(const google::protobuf::Message& message, bool multiline);
// The same tree as YAML (strings double-quoted), without a final newline.
std::string ToYaml(const google::protobuf::Message& message);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_FORMAT_H_
