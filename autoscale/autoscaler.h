// Autoscaler: the body of kiln-autoscale. Each poll it reads the queue demand from
// kiln-scheduler's /metrics (kiln_queue_jobs), and for every pool lists its Slurm jobs,
// decides (DecideScaling) and submits or cancels worker jobs. It also keeps Prometheus
// gauges of what it saw (per pool: demand, jobs pending/running) for dashboards, KEDA or
// an HPA. A failed scrape changes nothing (no scale-down on a blind poll).
// Ownership: owns its Slurm client, pool memories and the metric registry (borrowed by
// an Exposer in main). Threads: PollOnce() from one thread; the registry is thread-safe.
#ifndef KILN_AUTOSCALE_AUTOSCALER_H_
#define KILN_AUTOSCALE_AUTOSCALER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autoscale/pool_config.h"
#include "autoscale/scaling_policy.h"
#include "autoscale/slurm_pool_jobs.h"
#include "client/kiln_client.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace kiln::autoscale {

struct AutoscalerOptions {
  AutoscaleConfig config;
  // kiln-scheduler's --metrics-listen address, host:port.
  std::string scheduler_metrics;
  // kiln-scheduler's gRPC address: with it, scale-down cancels only workers that hold no
  // lease (ListWorkers); empty: every running worker counts as idle (drain protects).
  std::string scheduler_address;
  absl::Duration scrape_timeout = absl::Seconds(10);
  SlurmOptions slurm;
  // Log the decisions without running sbatch/scancel.
  bool dry_run = false;
};

class Autoscaler {
 public:
  static absl::StatusOr<std::unique_ptr<Autoscaler>> Create(const AutoscalerOptions& options);

  // One poll over every pool. Errors of one pool (squeue, sbatch) are logged and
  // counted and do not stop the others; the status is the first error.
  absl::Status PollOnce();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  explicit Autoscaler(const AutoscalerOptions& options);

  const AutoscalerOptions options_;
  SlurmPoolJobs slurm_;
  std::unique_ptr<Client> scheduler_;         // null without scheduler_address
  std::map<std::string, PoolMemory> memory_;  // by pool name
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* demand_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Family<prometheus::Counter>* submitted_;
  prometheus::Family<prometheus::Counter>* cancelled_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Gauge* scrape_ok_;
};

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_AUTOSCALER_H_
