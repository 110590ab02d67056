#include "worker/metrics/worker_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/metric_labels.h"
#include "worker/metrics/nvml.h"

namespace kiln::worker_metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Distinct label combinations kept per family; later ones are counted under
// model="other" (a worker runs the models of its own repository, but be safe).
constexpr size_t kMaxSeries = 1000;

MetricFamily NewFamily(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

void AddSample(MetricFamily& family, double value,
               std::vector<std::pair<std::string, std::string>> labels = {}) {
  std::sort(labels.begin(), labels.end());  // as prometheus-cpp's own series
  ClientMetric metric;
  for (auto& [name, label_value] : labels) {
    metric.label.push_back({std::move(name), std::move(label_value)});
  }
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

// A summary field as a bool/number if present with that type.
std::optional<bool> BoolField(const google::protobuf::Struct& summary, const char* name) {
  auto it = summary.fields().find(name);
  if (it == summary.fields().end() || !it->second.has_bool_value()) return std::nullopt;
  return it->second.bool_value();
}
std::optional<double> NumberField(const google::protobuf::Struct& summary, const char* name) {
  auto it = summary.fields().find(name);
  if (it == summary.fields().end() || !it->second.has_number_value()) return std::nullopt;
  return it->second.number_value();
}

}  // namespace

// Attempt events: counters and histograms with cached handles.
class WorkerMetrics::Events : public agent::AttemptObserver {
 public:
  explicit Events(prometheus::Registry& registry)
      : attempts_(prometheus::BuildCounter()
                      .Name("kiln_worker_attempts_total")
                      .Help("Attempts this worker ended, by task and how they ended (reason: "
                            "succeeded, task_error, executor_crash, ..., dropped when the "
                            "scheduler took the job back).")
                      .Register(registry)),
        duration_(prometheus::BuildHistogram()
                      .Name("kiln_worker_attempt_seconds")
                      .Help("Time the worker spent on an attempt (staging, run, upload), by "
                            "task, model and device architecture.")
                      .Register(registry)),
        cache_hits_(prometheus::BuildCounter()
                        .Name("kiln_worker_model_cache_hits_total")
                        .Help("Attempts whose model was already loaded in the executor.")
                        .Register(registry)),
        loads_(prometheus::BuildCounter()
                   .Name("kiln_worker_model_loads_total")
                   .Help("Model loads into an executor.")
                   .Register(registry)),
        load_seconds_(prometheus::BuildHistogram()
                          .Name("kiln_worker_model_load_seconds")
                          .Help("Time to load a model into an executor.")
                          .Register(registry)) {}

  void Attach(const agent::WorkerAgent* agent) {
    absl::MutexLock lock(&mu_);
    agent_ = agent;
  }

  void AttemptEnded(const agent::AttemptReport& report) override {
    const std::string model = report.model.empty() ? "none" : report.model;
    const std::string outcome = report.reason == kiln::v1::EXIT_REASON_UNSPECIFIED
                                    ? "dropped"
                                    : ExitReasonLabel(report.reason);
    absl::MutexLock lock(&mu_);
    Get(attempt_counters_, attempts_, {{"task", report.task}, {"reason", outcome}}).Increment();
    const std::string arch = ArchOfLocked(report.device_id);
    HistogramFor(duration_series_, duration_,
                 {{"task", report.task}, {"model", model}, {"arch", arch}},
                 {0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400})
        .Observe(absl::ToDoubleSeconds(report.duration));
    if (report.summary == nullptr || report.model.empty()) return;
    const std::optional<bool> hit = BoolField(*report.summary, "cache_hit");
    const std::optional<double> load = NumberField(*report.summary, "load_seconds");
    if (hit.value_or(false)) {
      Get(hit_counters_, cache_hits_, {{"model", model}}).Increment();
    } else if (hit.has_value() || load.has_value()) {
      Get(load_counters_, loads_, {{"model", model}}).Increment();
      if (load.has_value() && *load >= 0) {
        HistogramFor(load_series_, load_seconds_, {{"model", model}},
                     {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600})
            .Observe(*load);
      }
    }
  }

 private:
  using Labels = std::map<std::string, std::string>;

  static std::string Key(const Labels& labels) {
    std::string key;
    for (const auto& [name, value] : labels) absl::StrAppend(&key, name, "=", value, "\x1f");
    return key;
  }

  // A capped cache: past kMaxSeries, a model label becomes "other".
  static Labels Capped(size_t size, Labels labels) {
    if (size >= kMaxSeries && labels.count("model")) labels["model"] = "other";
    return labels;
  }

  prometheus::Counter& Get(absl::flat_hash_map<std::string, prometheus::Counter*>& cache,
                           prometheus::Family<prometheus::Counter>& family, Labels labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string key = Key(labels);
    if (auto it = cache.find(key); it != cache.end()) return *it->second;
    labels = Capped(cache.size(), std::move(labels));
    prometheus::Counter* counter = &family.Add(labels);
    cache.emplace(std::move(key), counter);
    return *counter;
  }

  prometheus::Histogram& HistogramFor(
      absl::flat_hash_map<std::string, prometheus::Histogram*>& cache,
      prometheus::Family<prometheus::Histogram>& family, Labels labels,
      const prometheus::Histogram::BucketBoundaries& buckets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string key = Key(labels);
    if (auto it = cache.find(key); it != cache.end()) return *it->second;
    labels = Capped(cache.size(), std::move(labels));
    prometheus::Histogram* histogram = &family.Add(labels, buckets);
    cache.emplace(std::move(key), histogram);
    return *histogram;
  }

  std::string ArchOfLocked(const std::string& device_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (agent_ == nullptr) return "none";
    const kiln::v1::WorkerCapabilities caps = agent_->capabilities();
    for (const kiln::v1::Device& device : caps.devices()) {
      if (device.id() == device_id) return ArchLabel(device.compute_capability());
    }
    return "none";
  }

  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& cache_hits_;
  prometheus::Family<prometheus::Counter>& loads_;
  prometheus::Family<prometheus::Histogram>& load_seconds_;

  absl::Mutex mu_;
  const agent::WorkerAgent* agent_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<std::string, prometheus::Counter*> attempt_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> hit_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> load_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> duration_series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> load_series_ ABSL_GUARDED_BY(mu_);
};

// Scrape-time series read from the agent and NVML.
class WorkerMetrics::Collector : public prometheus::Collectable {
 public:
  Collector(const agent::WorkerAgent* agent, std::shared_ptr<Nvml> nvml,
            const WorkerMetricsOptions& options)
      : agent_(agent), nvml_(std::move(nvml)), options_(options) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    const kiln::v1::WorkerCapabilities caps = agent_->capabilities();
    MetricFamily info = NewFamily("kiln_worker_info",
                                  "Constant 1, labelled with the worker's id, host and version.",
                                  MetricType::Gauge);
    AddSample(info, 1,
              {{"worker", options_.worker_id},
               {"hostname", caps.hostname()},
               {"version", options_.version}});
    out.push_back(std::move(info));

    std::map<std::string, std::string> arch_of;
    for (const kiln::v1::Device& device : caps.devices()) {
      arch_of[device.id()] = ArchLabel(device.compute_capability());
    }
    MetricFamily slots =
        NewFamily("kiln_worker_slots", "Execution slots, by state (busy: holds an attempt).",
                  MetricType::Gauge);
    MetricFamily restarts =
        NewFamily("kiln_worker_executor_restarts_total",
                  "Executor processes started after a slot's first (after a crash, or a re-probe).",
                  MetricType::Counter);
    MetricFamily crashes =
        NewFamily("kiln_worker_executor_crashes_total",
                  "Executor processes that died unasked (signal, exit) or could not start.",
                  MetricType::Counter);
    double busy = 0, idle = 0;
    for (const agent::SlotStatus& slot : agent_->SlotStatuses()) {
      (slot.busy ? busy : idle) += 1;
      const std::string index = absl::StrCat(slot.index);
      AddSample(restarts, static_cast<double>(slot.executor_restarts),
                {{"slot", index}, {"device", slot.device_id}});
      AddSample(crashes, static_cast<double>(slot.executor_crashes),
                {{"slot", index}, {"device", slot.device_id}});
    }
    AddSample(slots, busy, {{"state", "busy"}});
    AddSample(slots, idle, {{"state", "idle"}});
    out.push_back(std::move(slots));
    out.push_back(std::move(restarts));
    out.push_back(std::move(crashes));

    MetricFamily total = NewFamily("kiln_worker_device_memory_total_bytes",
                                   "Device memory (system memory for the CPU).", MetricType::Gauge);
    MetricFamily free =
        NewFamily("kiln_worker_device_memory_free_bytes",
                  "Free device memory at the slot executor's last probe.", MetricType::Gauge);
    MetricFamily used =
        NewFamily("kiln_worker_device_memory_used_bytes",
                  "Used device memory at the slot executor's last probe.", MetricType::Gauge);
    MetricFamily runnable = NewFamily(
        "kiln_worker_device_runnable",
        "1 when the device passed its self-test and the executor's kernels cover it; reason "
        "says why not.",
        MetricType::Gauge);
    for (const kiln::v1::Device& device : caps.devices()) {
      const std::string arch = arch_of[device.id()];
      AddSample(total, static_cast<double>(device.total_memory_bytes()),
                {{"device", device.id()}, {"arch", arch}});
      AddSample(free, static_cast<double>(device.free_memory_bytes()),
                {{"device", device.id()}, {"arch", arch}});
      AddSample(used,
                static_cast<double>(
                    std::max<int64_t>(0, device.total_memory_bytes() - device.free_memory_bytes())),
                {{"device", device.id()}, {"arch", arch}});
      AddSample(runnable, device.runnable() ? 1 : 0,
                {{"device", device.id()},
                 {"arch", arch},
                 {"reason", std::string(UnrunnableReasonLabel(device))}});
    }
    out.push_back(std::move(total));
    out.push_back(std::move(free));
    out.push_back(std::move(used));
    out.push_back(std::move(runnable));
    if (nvml_ != nullptr) CollectGpus(out);
    return out;
  }

 private:
  void CollectGpus(std::vector<MetricFamily>& out) const {
    MetricFamily utilization =
        NewFamily("kiln_worker_gpu_utilization_ratio",
                  "Fraction of NVML's last sample period in which a kernel ran on the GPU.",
                  MetricType::Gauge);
    MetricFamily temperature = NewFamily("kiln_worker_gpu_temperature_celsius",
                                         "GPU core temperature.", MetricType::Gauge);
    MetricFamily used =
        NewFamily("kiln_worker_gpu_memory_used_bytes",
                  "GPU memory in use now (NVML), by any process.", MetricType::Gauge);
    MetricFamily free = NewFamily("kiln_worker_gpu_memory_free_bytes",
                                  "GPU memory free now (NVML).", MetricType::Gauge);
    for (const GpuSample& gpu : nvml_->Sample()) {
      std::vector<std::pair<std::string, std::string>> labels = {
          {"gpu", absl::StrCat(gpu.index)}, {"uuid", gpu.uuid}, {"name", gpu.name}};
      if (gpu.utilization_ratio) AddSample(utilization, *gpu.utilization_ratio, labels);
      if (gpu.temperature_celsius) AddSample(temperature, *gpu.temperature_celsius, labels);
      if (gpu.memory_used_bytes)
        AddSample(used, static_cast<double>(*gpu.memory_used_bytes), labels);
      if (gpu.memory_free_bytes)
        AddSample(free, static_cast<double>(*gpu.memory_free_bytes), labels);
    }
    for (MetricFamily* family : {&utilization, &temperature, &used, &free}) {
      if (!family->metric.empty()) out.push_back(std::move(*family));
    }
  }

  const agent::WorkerAgent* const agent_;
  const std::shared_ptr<Nvml> nvml_;
  const WorkerMetricsOptions options_;
};

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Create(
    const WorkerMetricsOptions& options) {
  std::unique_ptr<WorkerMetrics> metrics(new WorkerMetrics());
  metrics->options_ = options;
  try {
    // civetweb throws when it cannot bind; this is the boundary that catches it.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(options.listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_listen ", options.listen, ": ", e.what()));
  }
  if (!options.nvml_library.empty()) {
    absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(options.nvml_library);
    if (nvml.ok()) {
      metrics->nvml_ = *std::move(nvml);
    } else {
      KILN_LOG(INFO) << "no GPU utilization or temperature metrics: " << nvml.status().message();
    }
  }
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  metrics->events_ = std::make_unique<Events>(*metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

WorkerMetrics::~WorkerMetrics() { exposer_.reset(); }

agent::AttemptObserver* WorkerMetrics::observer() { return events_.get(); }

void WorkerMetrics::Attach(const agent::WorkerAgent* agent) {
  events_->Attach(agent);
  if (exposer_ == nullptr) return;
  collector_ = std::make_shared<Collector>(agent, nvml_, options_);
  exposer_->RegisterCollectable(collector_);
}

void WorkerMetrics::StopServing() { exposer_.reset(); }

int WorkerMetrics::port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace kiln::worker_metrics
