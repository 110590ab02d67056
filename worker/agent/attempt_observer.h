// AttemptObserver: what the WorkerAgent tells an observer (kiln-worker's metrics) when
// one attempt ends on a slot: which task and model ran where, how it ended, how long
// the worker spent on it, and the task's result summary (where an executor reports
// model-cache facts such as "cache_hit" and "load_seconds").
//
// Called on the slot's thread after the attempt ended and before it is reported to the
// scheduler; implementations must be cheap and must not call back into the agent.
// Borrowed (WorkerAgentOptions::observer); must outlive the agent.
#ifndef KILN_WORKER_AGENT_ATTEMPT_OBSERVER_H_
#define KILN_WORKER_AGENT_ATTEMPT_OBSERVER_H_

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln::agent {

struct AttemptReport {
  std::string task;
  std::string model;      // the assigned tier's model; empty for tasks without one
  std::string device_id;  // "cpu" or "cuda:N"
  int slot = 0;
  // EXIT_REASON_SUCCEEDED, the failure's reason, or EXIT_REASON_UNSPECIFIED when the
  // attempt was dropped (abandoned by the scheduler, or rejected as stale).
  kiln::v1::ExitReason reason = kiln::v1::EXIT_REASON_UNSPECIFIED;
  // Staging, run and upload.
  absl::Duration duration;
  // The task's summary when it succeeded; nullptr otherwise.
  const google::protobuf::Struct* summary = nullptr;
};

class AttemptObserver {
 public:
  virtual ~AttemptObserver() = default;
  virtual void AttemptEnded(const AttemptReport& report) = 0;
};

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_ATTEMPT_OBSERVER_H_
