#include "scheduler/core/watch_hub.h"

#include <algorithm>

namespace kiln::core {

void WatchHub::Subscribe(const std::string& job_id, JobObserver* observer) {
  absl::MutexLock lock(&mu_);
  observers_[job_id].push_back(observer);
}

void WatchHub::Unsubscribe(const std::string& job_id, JobObserver* observer) {
  absl::MutexLock lock(&mu_);
  auto it = observers_.find(job_id);
  if (it == observers_.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), observer), list.end());
  if (list.empty()) observers_.erase(it);
}

void WatchHub::Publish(const kiln::v1::Job& job) {
  // Called under mu_ so that Unsubscribe cannot return while a call is running.
  absl::MutexLock lock(&mu_);
  auto it = observers_.find(job.id());
  if (it == observers_.end()) return;
  for (JobObserver* observer : it->second) observer->OnJobChanged(job);
}

bool WatchHub::Watched(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  return observers_.contains(job_id);
}

size_t WatchHub::ObserverCount() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, list] : observers_) n += list.size();
  return n;
}

}  // namespace kiln::core
