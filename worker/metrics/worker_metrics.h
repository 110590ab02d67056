// WorkerMetrics: kiln-worker's Prometheus endpoint (--metrics-listen). Series:
//  - events, fed through observer() by the agent at the end of each attempt: attempts
//    by task and how they ended, attempt duration by task, model and architecture,
//    model cache hits and loads (from the task summary's "cache_hit" and
//    "load_seconds", when an executor reports them);
//  - read at scrape time from the agent: slots busy/idle, executor restarts and
//    crashes per slot, each device's memory as last probed and whether it is runnable
//    (with a bounded reason label), and, when the NVIDIA driver's libnvidia-ml.so.1
//    can be loaded, live GPU utilization, temperature and memory (otherwise those
//    series are simply absent).
// Metric names and meanings: docs/monitoring.md.
//
// Use: Create() before the agent (observer() goes into WorkerAgentOptions), Attach()
// once the agent exists, StopServing() before the agent goes. Owns the Exposer, the
// registry and the NVML handle; borrows the agent. Threads: the observer runs on slot
// threads, scrapes on civetweb's threads.
#ifndef KILN_WORKER_METRICS_WORKER_METRICS_H_
#define KILN_WORKER_METRICS_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/agent/attempt_observer.h"
#include "worker/agent/worker_agent.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace kiln::worker_metrics {

class Nvml;

struct WorkerMetricsOptions {
  // host:port for /metrics (port 0: any free one, see port()).
  std::string listen;
  // Exported in kiln_worker_info.
  std::string worker_id;
  std::string version;
  // NVML library to dlopen; empty: no GPU utilization/temperature series.
  std::string nvml_library = "libnvidia-ml.so.1";
};

class WorkerMetrics {
 public:
  // Unavailable when `listen` cannot be bound. A missing NVML is not an error.
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Create(const WorkerMetricsOptions& options);
  ~WorkerMetrics();

  // For WorkerAgentOptions::observer; lives as long as this object.
  agent::AttemptObserver* observer();
  // Starts exporting the scrape-time series of `agent`. Call once.
  void Attach(const agent::WorkerAgent* agent);
  // Closes the endpoint; afterwards the agent may go before this object.
  void StopServing();
  // The port actually bound; 0 after StopServing().
  int port() const;
  // Whether NVML was loaded (GPU utilization and temperature are exported).
  bool has_nvml() const { return nvml_ != nullptr; }

 private:
  class Events;
  class Collector;
  WorkerMetrics() = default;
  WorkerMetricsOptions options_;
  std::shared_ptr<Nvml> nvml_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Events> events_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace kiln::worker_metrics

#endif  // KILN_WORKER_METRICS_WORKER_METRICS_H_
