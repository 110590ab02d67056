// ActiveJob: a job the scheduler holds in memory (not terminal, or terminal while its last
// write is in flight). A job that only waits in the queue can be packed: held as its
// serialized record (about 150 bytes for a small spec, against about 1.2 KB parsed, where
// the spec's parameters and labels are protobuf maps) plus the few fields that scans over
// every job read. A million queued jobs then fit in the scheduler's memory budget
// (bench/README.md, "A million queued jobs"). job() unpacks; Pack() packs again.
// Not thread-safe: the Scheduler guards its jobs with its lock.
#ifndef KILN_SCHEDULER_CORE_ACTIVE_JOB_H_
#define KILN_SCHEDULER_CORE_ACTIVE_JOB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

class ActiveJob {
 public:
  ActiveJob() : job_(std::make_unique<kiln::v1::Job>()) {}

  // The parsed job. A packed job is unpacked first and stays unpacked until Pack(); a
  // reference is valid until the next Pack() (the scheduler packs only in Tick).
  kiln::v1::Job& job();
  const kiln::v1::Job& job() const;
  // A copy of the job that leaves a packed job packed (reads: GetJob, ListJobs, watchers).
  kiln::v1::Job Copy() const;

  // Serializes the job and frees the parsed form; a no-op when packed already.
  void Pack();
  // Holds `record`, a serialized Job that parses as `parsed`, packed: a job read back from
  // the store costs neither a second parse nor a serialization.
  void SetPacked(std::string record, const kiln::v1::Job& parsed);
  bool packed() const { return job_ == nullptr; }

  // Read without unpacking.
  kiln::v1::JobState state() const { return packed() ? packed_state_ : job_->state(); }
  int priority() const { return packed() ? packed_priority_ : job_->spec().priority(); }
  // When a queued job became ready: its submit, or the end of its retry backoff (or of
  // its preemption, which sets not_before to that moment).
  absl::Time ready_at() const;

  uint64_t seq = 0;
  absl::Time lease_deadline = absl::InfinitePast();
  int commits_in_flight = 0;  // a terminal job stays visible in the scheduler until 0
  // WAITING jobs: the dependencies that have not finished yet.
  std::vector<std::string> waiting_on;

 private:
  void Unpack() const;
  void KeepSummary(const kiln::v1::Job& job);

  // Null while packed; then record_ holds the job. Mutable: unpacking is not a change.
  mutable std::unique_ptr<kiln::v1::Job> job_;
  mutable std::string record_;
  kiln::v1::JobState packed_state_ = kiln::v1::JOB_STATE_UNSPECIFIED;
  int packed_priority_ = 0;
  absl::Time packed_ready_at_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_ACTIVE_JOB_H_
