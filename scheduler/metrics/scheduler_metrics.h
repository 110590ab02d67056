// SchedulerMetrics: the scheduler's Prometheus endpoint (prometheus-cpp's Exposer on
// --metrics-listen). Two kinds of series:
//  - histograms and counters of events (wait, run and end-to-end latency by task,
//    model and architecture; attempt ends by reason; device-cannot-run failures by
//    architecture; store write latency), fed at the transition through observer()
//    and store_write_observer() with cached metric handles, so the hot path pays a
//    small hash look-up and an atomic add;
//  - counters and gauges read at scrape time from Scheduler::Stats(),
//    Scheduler::QueueClasses(), Scheduler::ListWorkers(), the store and the data
//    directory's file system, so the hot path pays nothing for them.
// Metric names and meanings: docs/monitoring.md.
//
// Use: Create() before the scheduler (its hooks go into the scheduler's and the group
// committer's options), then Attach() once they exist. Owns the Exposer and registry;
// borrows the scheduler and store, which must outlive it (or its Exposer). Threads:
// the hooks run on scheduler threads (under the scheduler's lock); civetweb's threads
// run the scrapes.
#ifndef KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
#define KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/scheduler_observer.h"
#include "scheduler/store/store.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace kiln::metrics {

struct SchedulerMetricsOptions {
  // host:port for /metrics (port 0: any free one, see port()).
  std::string listen;
  // The scheduler's data directory: the store's size (its db/ directory) and the free
  // space of its file system are exported from it. Empty: not exported.
  std::string data_dir;
  // The size the store should stay under (kiln_store_size_limit_bytes, for alerts);
  // 0: not exported.
  uint64_t store_size_limit_bytes = 0;
  // The scheduler's clock (for how long queued jobs have waited).
  Clock* clock = Clock::Real();
};

class SchedulerMetrics {
 public:
  // Unavailable when `listen` cannot be bound.
  static absl::StatusOr<std::unique_ptr<SchedulerMetrics>> Create(
      const SchedulerMetricsOptions& options);
  ~SchedulerMetrics();

  // For SchedulerOptions::observer; lives as long as this object.
  core::SchedulerObserver* observer();
  // For GroupCommitterOptions::on_write; valid as long as this object.
  std::function<void(absl::Duration, size_t)> store_write_observer();
  // Starts exporting the scrape-time series of `scheduler` and `store`. Call once.
  void Attach(core::Scheduler* scheduler, store::Store* store);

  // Closes the endpoint (no scrape runs afterwards); the hooks stay usable, so the
  // scheduler may be destroyed after this and before this object.
  void StopServing();

  // The port actually bound (useful with port 0); 0 after StopServing().
  int port() const;

 private:
  class Events;
  class Collector;
  SchedulerMetrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Events> events_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  SchedulerMetricsOptions options_;
};

}  // namespace kiln::metrics

#endif  // KILN_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
