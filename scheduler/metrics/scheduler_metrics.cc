#include "scheduler/metrics/scheduler_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace kiln::metrics {
namespace {

prometheus::MetricFamily Family(const std::string& name, const std::string& help,
                                prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

class SchedulerMetrics::Collector : public prometheus::Collectable {
 public:
  Collector(core::Scheduler* scheduler, store::Store* store)
      : scheduler_(scheduler), store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const core::SchedulerStats stats = scheduler_->Stats();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(Family("kiln_jobs_submitted_total", "Jobs accepted (durably).",
                         MetricType::Counter, static_cast<double>(stats.jobs_submitted)));
    prometheus::MetricFamily finished;
    finished.name = "kiln_jobs_finished_total";
    finished.help = "Jobs that reached a terminal state, by state.";
    finished.type = MetricType::Counter;
    for (auto [state, value] :
         {std::pair{"succeeded", stats.jobs_succeeded}, std::pair{"failed", stats.jobs_failed},
          std::pair{"cancelled", stats.jobs_cancelled}}) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"state", state});
      metric.counter.value = static_cast<double>(value);
      finished.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(finished));
    out.push_back(Family("kiln_job_retries_total", "Attempts that failed and were requeued.",
                         MetricType::Counter, static_cast<double>(stats.attempts_retried)));
    out.push_back(Family("kiln_leases_expired_total", "Leases that lapsed without a heartbeat.",
                         MetricType::Counter, static_cast<double>(stats.leases_expired)));
    out.push_back(Family("kiln_queue_depth", "Jobs queued (ready or in retry backoff).",
                         MetricType::Gauge, static_cast<double>(stats.queued)));
    out.push_back(Family("kiln_jobs_leased", "Jobs assigned to or running on workers.",
                         MetricType::Gauge, static_cast<double>(stats.leased)));
    out.push_back(Family("kiln_workers", "Registered workers.", MetricType::Gauge,
                         static_cast<double>(stats.workers)));
    out.push_back(Family("kiln_acquires_parked", "Worker long-polls waiting for a job.",
                         MetricType::Gauge, static_cast<double>(stats.parked_acquires)));
    out.push_back(Family("kiln_store_jobs_sst_bytes", "Size of the jobs' SST files.",
                         MetricType::Gauge, static_cast<double>(store_->ApproximateSizeBytes())));
    return out;
  }

 private:
  core::Scheduler* const scheduler_;
  store::Store* const store_;
};

absl::StatusOr<std::unique_ptr<SchedulerMetrics>> SchedulerMetrics::Create(
    const std::string& listen, core::Scheduler* scheduler, store::Store* store) {
  std::unique_ptr<SchedulerMetrics> metrics(new SchedulerMetrics());
  try {
    // civetweb throws when it cannot bind; this is the boundary that catches it.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_listen ", listen, ": ", e.what()));
  }
  metrics->collector_ = std::make_shared<Collector>(scheduler, store);
  metrics->exposer_->RegisterCollectable(metrics->collector_);
  return metrics;
}

SchedulerMetrics::~SchedulerMetrics() = default;

int SchedulerMetrics::port() const {
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace kiln::metrics
