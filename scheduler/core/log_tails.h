// LogTails: the live output of running attempts, in memory only. Workers forward new
// bytes of an attempt's output with ReportProgress (log_chunk at log_offset); LogTails
// keeps the newest bytes of each running attempt (bounded), and answers GetJobLog reads
// from an offset at once when it has bytes there, or parks them until bytes arrive, the
// attempt ends, or their wait runs out. When the attempt ends its tail is dropped: the
// log blob the worker uploads is the durable copy.
//
// Offsets are positions in the attempt's whole output; a tail holds [start, end). A
// chunk that leaves a gap (the worker skipped output, or the scheduler restarted) starts
// the tail afresh at its offset; a chunk overlapping what is held adds only its new part.
//
// Threads: any thread; one internal lock. Callbacks are never run inside: methods
// return the answers due (callback plus value) and the caller runs them with no lock
// held. The Scheduler calls Append/ReadOrPark/End under its own lock (its lock is taken
// before this one), so that an attempt's end and its reads are ordered.
#ifndef KILN_SCHEDULER_CORE_LOG_TAILS_H_
#define KILN_SCHEDULER_CORE_LOG_TAILS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kiln/v1/job_service.pb.h"

namespace kiln::core {

struct LogTailsOptions {
  // Newest bytes kept per running attempt.
  int64_t max_bytes_per_attempt = int64_t{1} << 20;
  // All tails together; past it, the attempt being appended to gives up its oldest bytes
  // (down to one chunk), so many chatty jobs cannot exhaust the scheduler's memory.
  int64_t max_total_bytes = int64_t{256} << 20;
  // Parked reads at most; more are refused with ResourceExhausted.
  size_t max_waiters = 10000;
};

class LogTails {
 public:
  using Callback = std::function<void(absl::StatusOr<kiln::v1::GetJobLogResponse>)>;
  // An answer to deliver: run `first(second)` with no lock held.
  using Answer = std::pair<Callback, absl::StatusOr<kiln::v1::GetJobLogResponse>>;

  explicit LogTails(const LogTailsOptions& options = {}) : options_(options) {}
  LogTails(const LogTails&) = delete;
  LogTails& operator=(const LogTails&) = delete;

  // Adds `bytes` found at `offset` of (job_id, attempt)'s output; returns the parked
  // reads it satisfies.
  std::vector<Answer> Append(const std::string& job_id, int attempt, int64_t offset,
                             absl::string_view bytes);

  // Reads from `offset` of a running attempt. `base` carries the fields LogTails does not
  // know (attempt, job_state); offset, data and next_offset are filled in. Answers now
  // (returns the response) when there are bytes at or after `offset`, or when `deadline`
  // is not after `now`; otherwise parks `done` and returns nullopt with *waiter_id set.
  // ResourceExhausted when too many reads are parked.
  absl::StatusOr<std::optional<kiln::v1::GetJobLogResponse>> ReadOrPark(
      const std::string& job_id, int attempt, int64_t offset,
      const kiln::v1::GetJobLogResponse& base, absl::Time now, absl::Time deadline, Callback done,
      uint64_t* waiter_id);

  // The attempt ended: drops its tail; its parked reads get `ended` (offset and
  // next_offset set to each read's own offset) from the next TakeDue().
  void End(const std::string& job_id, int attempt, const kiln::v1::GetJobLogResponse& ended);

  // Parked reads whose wait ended by `now` (answered with no data), and those of ended
  // attempts.
  std::vector<Answer> TakeDue(absl::Time now);

  // The client went away: the parked read is answered Cancelled (empty when unknown).
  std::vector<Answer> Cancel(uint64_t waiter_id);

  // Every parked read, answered Unavailable (scheduler shutting down).
  std::vector<Answer> Shutdown();

  // For tests and metrics.
  int64_t total_bytes() const;
  size_t parked() const;

 private:
  struct Tail {
    int64_t start = 0;
    std::string bytes;  // [start, start + bytes.size())
    std::set<uint64_t> waiters;
  };
  struct Waiter {
    std::string key;
    int64_t offset = 0;
    absl::Time deadline;
    kiln::v1::GetJobLogResponse base;
    Callback done;
  };

  static std::string Key(const std::string& job_id, int attempt);
  // The answer to a read of `tail` from `offset`, with no wait; nullopt when no bytes.
  static std::optional<kiln::v1::GetJobLogResponse> ReadLocked(
      const Tail& tail, int64_t offset, const kiln::v1::GetJobLogResponse& base);

  const LogTailsOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Tail> tails_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Answer> ended_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_LOG_TAILS_H_
