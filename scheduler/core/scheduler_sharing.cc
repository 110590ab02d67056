// Scheduler: the sharing policy at run time (weighted fair share and concurrency limits
// between tenants; placement itself is in JobQueue::PopBest and FairShare).
#include <string>
#include <vector>

#include "scheduler/core/scheduler.h"

namespace kiln::core {

void Scheduler::SetSharingPolicy(SharingPolicy policy) {
  absl::MutexLock lock(&mu_);
  fair_share_.SetPolicy(std::move(policy));
  // The limited label keys split the queue's classes: queue the ready jobs again under
  // the new ones (same sequence numbers, so the order within a class is kept).
  std::vector<std::string> requeue;
  for (const auto& [id, active] : jobs_) {
    if (active.state() == kiln::v1::JOB_STATE_QUEUED && queue_.Remove(id)) {
      requeue.push_back(id);
    }
  }
  for (const std::string& id : requeue) {
    ActiveJob& active = jobs_.at(id);
    QueueLocked(active, active.job());
  }
  // Limits may have risen: parked slots may fit now. Reasons are recomputed at once.
  dispatch_needed_ = true;
  class_reasons_.clear();
  reasons_updated_ = absl::InfinitePast();
}

std::map<std::string, int64_t> Scheduler::RunningByTenant() const {
  absl::MutexLock lock(&mu_);
  const auto& running = fair_share_.running_by_tenant();
  return std::map<std::string, int64_t>(running.begin(), running.end());
}

}  // namespace kiln::core
