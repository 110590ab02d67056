// SchedulerObserver: what the Scheduler tells an observer (the metrics layer) at the
// job state transitions that histograms need: an assignment (how long the job waited),
// the end of an attempt (how long it ran, why it ended) and a terminal state (how long
// the job took end to end). Counters and gauges are read from Scheduler::Stats() and
// Scheduler::QueueClasses() at scrape time instead.
//
// Calls are made with the scheduler's lock held, on whichever thread made the
// transition: implementations must be cheap, must not block and must not call back
// into the Scheduler. The observer is borrowed (SchedulerOptions::observer) and must
// outlive the Scheduler.
#ifndef KILN_SCHEDULER_CORE_SCHEDULER_OBSERVER_H_
#define KILN_SCHEDULER_CORE_SCHEDULER_OBSERVER_H_

#include "absl/time/time.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  // `job`'s newest attempt was just assigned to `device` (nullptr if unknown);
  // `waited` is the time since the job became ready (submitted, or its retry
  // backoff ended).
  virtual void JobAssigned(const kiln::v1::Job& job, const kiln::v1::Device* device,
                           absl::Duration waited) = 0;
  // `job`'s newest attempt just ended (its exit_reason, started_at and ended_at are
  // set) on `device` (nullptr if the worker is gone).
  virtual void AttemptEnded(const kiln::v1::Job& job, const kiln::v1::Device* device) = 0;
  // `job` just reached a terminal state (created_at and finished_at are set).
  virtual void JobFinished(const kiln::v1::Job& job, const kiln::v1::Device* device) = 0;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_SCHEDULER_OBSERVER_H_
