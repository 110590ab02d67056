// The scaling decision of kiln-autoscale for one pool: a pure function of the pool's
// policy, the demand it serves now, the Slurm jobs it has now, and a small memory of
// earlier polls (how many polls in a row had demand, how many had none). No I/O, any
// thread; unit-tested exhaustively in scaling_policy_test.cc.
//
// Rules, in order:
//   1. fewer jobs than min_workers: submit up to min_workers;
//   2. more than max_workers: cancel the newest down to max_workers;
//   3. demand for scale_up_polls polls in a row: submit enough workers for the queued
//      jobs (jobs_per_worker each) beyond those still pending in Slurm, at most
//      max_step and never above max_workers; then wait scale_up_polls polls again
//      (new workers need time to start and register);
//   4. no demand for scale_down_polls polls in a row: cancel idle jobs (no lease held;
//      pending ones are idle), newest first, down to min_workers (at most max_step); busy
//      ones wait for a later poll. A cancelled worker still drains (finishes or hands
//      back what it runs) before it exits.
// Whenever jobs are cancelled, idle ones go before busy ones, newest first in each.
#ifndef KILN_AUTOSCALE_SCALING_POLICY_H_
#define KILN_AUTOSCALE_SCALING_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::autoscale {

struct ScalingPolicy {
  int min_workers = 0;
  int max_workers = 1;
  // Queued jobs one worker takes at once (its slots).
  int jobs_per_worker = 1;
  // Hysteresis, in polls.
  int scale_up_polls = 2;
  int scale_down_polls = 5;
  // Most jobs submitted or cancelled in one poll (bounds aside).
  int max_step = 4;
};

// InvalidArgument naming the field ("max_workers: ...") when the policy is unusable.
absl::Status ValidateScalingPolicy(const ScalingPolicy& policy);

// One Slurm job of the pool.
struct WorkerJob {
  std::string id;        // Slurm job id, e.g. "4711"
  bool pending = false;  // not started yet (PENDING, CONFIGURING)
  bool busy = false;     // its worker holds a lease (or that is unknown)
};

// What the decision remembers between polls.
struct PoolMemory {
  int demand_polls = 0;  // polls in a row with demand
  int idle_polls = 0;    // polls in a row without
};

struct Decision {
  int submit = 0;
  std::vector<std::string> cancel;  // newest first
  PoolMemory memory;                // to pass to the next poll
  std::string why;                  // for the log; empty when nothing to do
};

// True when Slurm job id `a` is newer than `b` (ids grow: longer, then greater).
bool NewerJobId(const std::string& a, const std::string& b);

Decision DecideScaling(const ScalingPolicy& policy, int64_t demand,
                       const std::vector<WorkerJob>& jobs, const PoolMemory& memory);

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_SCALING_POLICY_H_
