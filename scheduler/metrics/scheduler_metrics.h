// SchedulerMetrics: the scheduler's Prometheus endpoint (prometheus-cpp's
// Exposer on --metrics-listen). Values are read from Scheduler::Stats() and the
// store at scrape time, so the hot path pays nothing for them.
// Owns the Exposer; borrows the scheduler and store, which must outlive it.
#ifndef KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
#define KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/store/store.h"

namespace prometheus {
class Exposer;
}

namespace kiln::metrics {

class SchedulerMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerMetrics>> Create(const std::string& listen,
                                                                  core::Scheduler* scheduler,
                                                                  store::Store* store);
  ~SchedulerMetrics();
  // The port actually bound (useful with port 0).
  int port() const;

 private:
  class Collector;
  SchedulerMetrics() = default;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace kiln::metrics

#endif  // KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
