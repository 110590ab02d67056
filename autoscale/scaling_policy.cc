#include "autoscale/scaling_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::autoscale {
namespace {

// Up to `count` job ids in cancel order: idle before busy, newest first in each; busy
// ones only when `include_busy`.
std::vector<std::string> ToCancel(const std::vector<WorkerJob>& jobs, int count,
                                  bool include_busy) {
  std::vector<const WorkerJob*> order;
  for (const WorkerJob& job : jobs) {
    if (include_busy || !job.busy) order.push_back(&job);
  }
  std::sort(order.begin(), order.end(), [](const WorkerJob* a, const WorkerJob* b) {
    if (a->busy != b->busy) return !a->busy;
    return NewerJobId(a->id, b->id);
  });
  std::vector<std::string> ids;
  for (const WorkerJob* job : order) {
    if (static_cast<int>(ids.size()) >= count) break;
    ids.push_back(job->id);
  }
  return ids;
}

}  // namespace

absl::Status ValidateScalingPolicy(const ScalingPolicy& p) {
  const auto bad = [](absl::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
  };
  if (p.min_workers < 0 || p.min_workers > 10000) return bad("min_workers", "must be 0..10000");
  if (p.max_workers < 1 || p.max_workers > 10000) return bad("max_workers", "must be 1..10000");
  if (p.max_workers < p.min_workers) return bad("max_workers", "must be >= min_workers");
  if (p.jobs_per_worker < 1 || p.jobs_per_worker > 4096) {
    return bad("jobs_per_worker", "must be 1..4096");
  }
  if (p.scale_up_polls < 1 || p.scale_up_polls > 10000) {
    return bad("scale_up_polls", "must be 1..10000");
  }
  if (p.scale_down_polls < 1 || p.scale_down_polls > 10000) {
    return bad("scale_down_polls", "must be 1..10000");
  }
  if (p.max_step < 1 || p.max_step > 10000) return bad("max_step", "must be 1..10000");
  return absl::OkStatus();
}

bool NewerJobId(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() > b.size();
  return a > b;
}

Decision DecideScaling(const ScalingPolicy& policy, int64_t demand,
                       const std::vector<WorkerJob>& jobs, const PoolMemory& memory) {
  Decision d;
  d.memory = memory;
  if (demand > 0) {
    ++d.memory.demand_polls;
    d.memory.idle_polls = 0;
  } else {
    ++d.memory.idle_polls;
    d.memory.demand_polls = 0;
  }
  const int n = static_cast<int>(jobs.size());
  const int pending = static_cast<int>(
      std::count_if(jobs.begin(), jobs.end(), [](const WorkerJob& j) { return j.pending; }));

  if (n < policy.min_workers) {
    d.submit = policy.min_workers - n;
    d.why = absl::StrCat(n, " job(s), below min_workers ", policy.min_workers);
    return d;
  }
  if (n > policy.max_workers) {
    d.cancel = ToCancel(jobs, n - policy.max_workers, /*include_busy=*/true);
    d.why = absl::StrCat(n, " job(s), above max_workers ", policy.max_workers);
    return d;
  }
  if (demand > 0 && d.memory.demand_polls >= policy.scale_up_polls) {
    const int64_t needed = (demand + policy.jobs_per_worker - 1) / policy.jobs_per_worker - pending;
    const int64_t room = std::min(policy.max_workers - n, policy.max_step);
    d.submit = static_cast<int>(std::clamp<int64_t>(needed, 0, room));
    if (d.submit > 0) {
      d.memory.demand_polls = 0;
      d.why = absl::StrCat(demand, " queued job(s) for ", memory.demand_polls + 1, " poll(s); ", n,
                           " job(s), ", pending, " pending");
    }
    return d;
  }
  if (demand == 0 && d.memory.idle_polls >= policy.scale_down_polls && n > policy.min_workers) {
    d.cancel = ToCancel(jobs, std::min(n - policy.min_workers, policy.max_step),
                        /*include_busy=*/false);
    // Busy workers are asked again next poll; the idle count stays reached.
    if (!d.cancel.empty()) d.memory.idle_polls = 0;
    d.why = absl::StrCat("no queued job for ", memory.idle_polls + 1, " poll(s); ", n,
                         " job(s), min_workers ", policy.min_workers);
    if (d.cancel.empty()) d.why.clear();
  }
  return d;
}

}  // namespace kiln::autoscale
