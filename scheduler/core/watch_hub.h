// WatchHub: fan-out of job changes to WatchJob streams. The scheduler publishes a
// job snapshot after each durable change (and after progress updates); every
// observer subscribed to that job id gets OnJobChanged on the publishing thread.
// Observers must not block in OnJobChanged (they queue and return). After
// Unsubscribe returns, the hub never calls the observer again, so an observer may
// be destroyed right after.
// Thread-safe.
#ifndef KILN_SCHEDULER_CORE_WATCH_HUB_H_
#define KILN_SCHEDULER_CORE_WATCH_HUB_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void OnJobChanged(const kiln::v1::Job& job) = 0;
};

class WatchHub {
 public:
  void Subscribe(const std::string& job_id, JobObserver* observer);
  void Unsubscribe(const std::string& job_id, JobObserver* observer);
  void Publish(const kiln::v1::Job& job);
  // Whether anyone watches `job_id` now. A change made before a later Subscribe is
  // seen by that watcher's first read, so publishers may skip unwatched jobs.
  bool Watched(const std::string& job_id) const;
  size_t ObserverCount() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<JobObserver*>> observers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_WATCH_HUB_H_
