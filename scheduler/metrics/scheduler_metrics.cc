#include "scheduler/metrics/scheduler_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/capability_match.h"
#include "common/metric_labels.h"
#include "common/proto_time.h"

namespace kiln::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Distinct (task, model, architecture) series kept; later combinations are counted
// under model="other", so that clients naming made-up models cannot grow the
// series without bound.
constexpr size_t kMaxJobSeries = 2000;

const prometheus::Histogram::BucketBoundaries& WaitBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400};
  return *buckets;
}

const prometheus::Histogram::BucketBoundaries& RunBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400, 86400};
  return *buckets;
}

const prometheus::Histogram::BucketBoundaries& StoreWriteBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  return *buckets;
}

std::string ModelOf(const kiln::v1::Job& job) {
  const std::string& model = job.attempts().empty()
                                 ? job.spec().model()
                                 : TierModel(job.spec(), job.attempts().rbegin()->tier_index());
  return model.empty() ? "none" : model;
}

std::string ArchOf(const kiln::v1::Device* device) {
  return device == nullptr ? "none" : ArchLabel(device->compute_capability());
}

std::string StateLabel(kiln::v1::JobState state) {
  switch (state) {
    case kiln::v1::JOB_STATE_SUCCEEDED:
      return "succeeded";
    case kiln::v1::JOB_STATE_FAILED:
      return "failed";
    case kiln::v1::JOB_STATE_CANCELLED:
      return "cancelled";
    default:
      return "other";
  }
}

absl::string_view PlacementLabel(core::ClassPlacement placement) {
  switch (placement) {
    case core::ClassPlacement::kNoWorkerAlive:
      return "no_worker_alive";
    case core::ClassPlacement::kNoCapableWorker:
      return "no_capable_worker";
    case core::ClassPlacement::kSlotsBusy:
      return "slots_busy";
    case core::ClassPlacement::kSlotsFree:
      return "slots_free";
    default:
      return "unknown";
  }
}

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

MetricFamily Single(const std::string& name, const std::string& help, MetricType type,
                    double value) {
  MetricFamily family = NewFamily(name, help, type);
  AddSample(family, value);
  return family;
}

uint64_t DirectoryBytes(const std::string& path) {
  namespace fs = std::filesystem;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

}  // namespace

// The event half: histograms and counters updated at job transitions.
class SchedulerMetrics::Events : public core::SchedulerObserver {
 public:
  explicit Events(prometheus::Registry& registry)
      : wait_(prometheus::BuildHistogram()
                  .Name("kiln_job_wait_seconds")
                  .Help("Time from a job becoming ready (submit or end of retry backoff) to its "
                        "assignment, by task, model and device architecture.")
                  .Register(registry)),
        run_(prometheus::BuildHistogram()
                 .Name("kiln_job_run_seconds")
                 .Help("Run time of attempts that started (first progress report to their end), "
                       "by task, model and device architecture.")
                 .Register(registry)),
        end_to_end_(prometheus::BuildHistogram()
                        .Name("kiln_job_end_to_end_seconds")
                        .Help("Time from submit to a terminal state, by task, model, device "
                              "architecture of the last attempt and final state.")
                        .Register(registry)),
        attempts_(prometheus::BuildCounter()
                      .Name("kiln_attempts_total")
                      .Help("Attempts that ended, by exit reason.")
                      .Register(registry)),
        cannot_run_(prometheus::BuildCounter()
                        .Name("kiln_device_cannot_run_failures_total")
                        .Help("Attempts that failed because the device could not run the code "
                              "(no kernel image, illegal instruction, out of memory on load), by "
                              "device architecture.")
                        .Register(registry)),
        store_write_(prometheus::BuildHistogram()
                         .Name("kiln_store_write_seconds")
                         .Help("Duration of one synced RocksDB write (a group commit).")
                         .Register(registry)
                         .Add({}, StoreWriteBuckets())),
        store_written_(prometheus::BuildCounter()
                           .Name("kiln_store_written_bytes_total")
                           .Help("Bytes of job, lease, worker and blob records written to the "
                                 "store.")
                           .Register(registry)
                           .Add({})) {}

  void JobAssigned(const kiln::v1::Job& job, const kiln::v1::Device* device,
                   absl::Duration waited) override {
    Series(job, device).wait->Observe(absl::ToDoubleSeconds(waited));
  }

  void AttemptEnded(const kiln::v1::Job& job, const kiln::v1::Device* device) override {
    if (job.attempts().empty()) return;
    const kiln::v1::Attempt& attempt = *job.attempts().rbegin();
    const kiln::v1::ExitReason reason = attempt.exit_reason();
    Counter(attempt_counters_, attempts_, ExitReasonLabel(reason), "reason").Increment();
    if (reason == kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN) {
      Counter(cannot_run_counters_, cannot_run_, ArchOf(device), "arch").Increment();
    }
    if (attempt.has_started_at() && attempt.has_ended_at()) {
      const absl::Duration ran =
          FromProtoTime(attempt.ended_at()) - FromProtoTime(attempt.started_at());
      Series(job, device).run->Observe(absl::ToDoubleSeconds(std::max(ran, absl::ZeroDuration())));
    }
  }

  void JobFinished(const kiln::v1::Job& job, const kiln::v1::Device* device) override {
    const absl::Duration took = FromProtoTime(job.finished_at()) - FromProtoTime(job.created_at());
    const std::string state = StateLabel(job.state());
    std::string model = ModelOf(job);
    const std::string arch = ArchOf(device);
    std::string key = absl::StrCat(job.spec().task(), "\x1f", model, "\x1f", arch, "\x1f", state);
    prometheus::Histogram* histogram;
    {
      absl::MutexLock lock(&mu_);
      auto it = end_to_end_series_.find(key);
      if (it == end_to_end_series_.end()) {
        if (end_to_end_series_.size() >= kMaxJobSeries) model = "other";
        histogram = &end_to_end_.Add(
            {{"task", job.spec().task()}, {"model", model}, {"arch", arch}, {"state", state}},
            RunBuckets());
        end_to_end_series_.emplace(std::move(key), histogram);
      } else {
        histogram = it->second;
      }
    }
    histogram->Observe(absl::ToDoubleSeconds(std::max(took, absl::ZeroDuration())));
  }

  void StoreWritten(absl::Duration took, size_t bytes) {
    store_write_.Observe(absl::ToDoubleSeconds(took));
    store_written_.Increment(static_cast<double>(bytes));
  }

 private:
  struct JobSeries {
    prometheus::Histogram* wait = nullptr;
    prometheus::Histogram* run = nullptr;
  };

  // The (task, model, architecture) histograms of `job` on `device`, made on first use.
  JobSeries Series(const kiln::v1::Job& job, const kiln::v1::Device* device) {
    std::string model = ModelOf(job);
    const std::string arch = ArchOf(device);
    std::string key = absl::StrCat(job.spec().task(), "\x1f", model, "\x1f", arch);
    absl::MutexLock lock(&mu_);
    auto it = job_series_.find(key);
    if (it != job_series_.end()) return it->second;
    if (job_series_.size() >= kMaxJobSeries) {
      model = "other";
      auto other = job_series_.find(absl::StrCat(job.spec().task(), "\x1f", model, "\x1f", arch));
      if (other != job_series_.end()) return other->second;
      key = absl::StrCat(job.spec().task(), "\x1f", model, "\x1f", arch);
    }
    const std::map<std::string, std::string> labels = {
        {"task", job.spec().task()}, {"model", model}, {"arch", arch}};
    JobSeries series{&wait_.Add(labels, WaitBuckets()), &run_.Add(labels, RunBuckets())};
    job_series_.emplace(std::move(key), series);
    return series;
  }

  prometheus::Counter& Counter(absl::flat_hash_map<std::string, prometheus::Counter*>& cache,
                               prometheus::Family<prometheus::Counter>& family,
                               const std::string& value, const std::string& label) {
    absl::MutexLock lock(&mu_);
    auto it = cache.find(value);
    if (it != cache.end()) return *it->second;
    prometheus::Counter* counter = &family.Add({{label, value}});
    cache.emplace(value, counter);
    return *counter;
  }

  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Histogram>& run_;
  prometheus::Family<prometheus::Histogram>& end_to_end_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& cannot_run_;
  prometheus::Histogram& store_write_;
  prometheus::Counter& store_written_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, JobSeries> job_series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> end_to_end_series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> attempt_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> cannot_run_counters_ ABSL_GUARDED_BY(mu_);
};

// The scrape-time half: counters and gauges read from the scheduler and the store.
class SchedulerMetrics::Collector : public prometheus::Collectable {
 public:
  Collector(core::Scheduler* scheduler, store::Store* store, const SchedulerMetricsOptions& options)
      : scheduler_(scheduler), store_(store), options_(options) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    CollectJobs(out);
    CollectQueue(out);
    CollectFleet(out);
    CollectStore(out);
    return out;
  }

 private:
  void CollectJobs(std::vector<MetricFamily>& out) const {
    const core::SchedulerStats stats = scheduler_->Stats();
    out.push_back(Single("kiln_jobs_submitted_total", "Jobs accepted (durably).",
                         MetricType::Counter, static_cast<double>(stats.jobs_submitted)));
    MetricFamily finished =
        NewFamily("kiln_jobs_finished_total", "Jobs that reached a terminal state, by state.",
                  MetricType::Counter);
    AddSample(finished, static_cast<double>(stats.jobs_succeeded), {{"state", "succeeded"}});
    AddSample(finished, static_cast<double>(stats.jobs_failed), {{"state", "failed"}});
    AddSample(finished, static_cast<double>(stats.jobs_cancelled), {{"state", "cancelled"}});
    out.push_back(std::move(finished));
    out.push_back(Single("kiln_job_retries_total",
                         "Attempts that failed and were requeued (counted or not).",
                         MetricType::Counter, static_cast<double>(stats.attempts_retried)));
    out.push_back(Single("kiln_leases_expired_total",
                         "Leases that lapsed without a heartbeat (the job was requeued or failed).",
                         MetricType::Counter, static_cast<double>(stats.leases_expired)));
    out.push_back(Single("kiln_preemptions_total",
                         "Attempts ended to give their slot to higher-priority work that waited "
                         "past --preempt-after (the job was requeued, the attempt not counted).",
                         MetricType::Counter, static_cast<double>(stats.preemptions)));
    out.push_back(Single("kiln_assignments_with_completion_total",
                         "Jobs handed to a slot in the answer of its CompleteJob (acquire_next), "
                         "without an AcquireJob call.",
                         MetricType::Counter, static_cast<double>(stats.assigned_with_completion)));
    out.push_back(Single("kiln_assignments_undelivered_total",
                         "Assignments whose answer did not reach the worker (its long-poll ended "
                         "first), requeued at once without using up an attempt.",
                         MetricType::Counter, static_cast<double>(stats.assignments_undelivered)));
    MetricFamily placement = NewFamily(
        "kiln_placement_failures_total",
        "Times a requirement class of ready jobs started waiting, by reason: no live worker, no "
        "worker that can run it, or every fitting slot busy.",
        MetricType::Counter);
    for (core::ClassPlacement reason :
         {core::ClassPlacement::kNoWorkerAlive, core::ClassPlacement::kNoCapableWorker,
          core::ClassPlacement::kSlotsBusy}) {
      AddSample(placement, static_cast<double>(stats.placement_failures[static_cast<int>(reason)]),
                {{"reason", std::string(PlacementLabel(reason))}});
    }
    out.push_back(std::move(placement));
    out.push_back(Single("kiln_queue_depth", "Jobs queued (ready or in retry backoff).",
                         MetricType::Gauge, static_cast<double>(stats.queued)));
    out.push_back(Single("kiln_jobs_waiting", "Jobs WAITING for their dependencies to finish.",
                         MetricType::Gauge, static_cast<double>(stats.waiting)));
    out.push_back(Single("kiln_jobs_leased", "Jobs assigned to or running on workers.",
                         MetricType::Gauge, static_cast<double>(stats.leased)));
    out.push_back(Single("kiln_acquires_parked", "Worker long-polls waiting for a job.",
                         MetricType::Gauge, static_cast<double>(stats.parked_acquires)));
    MetricFamily tenant_running =
        NewFamily("kiln_tenant_running_jobs",
                  "Jobs assigned to or running on workers, by tenant (the fair share and "
                  "max_running of the sharing policy act on this count).",
                  MetricType::Gauge);
    for (const auto& [tenant, running] : scheduler_->RunningByTenant()) {
      AddSample(tenant_running, static_cast<double>(running), {{"tenant", tenant}});
    }
    out.push_back(std::move(tenant_running));
  }

  void CollectQueue(std::vector<MetricFamily>& out) const {
    const absl::Time now = options_.clock->Now();
    // Classes that differ in what the labels do not show (model, architectures,
    // tiers) are added up; the oldest wait is the largest of them.
    using ClassLabels = std::tuple<std::string, std::string, std::string, std::string>;
    std::map<std::pair<ClassLabels, std::string>, double> jobs;
    std::map<ClassLabels, double> oldest;
    for (const core::QueueClassInfo& info : scheduler_->QueueClasses()) {
      const kiln::v1::Requirements& req = TierRequirements(info.representative, 0);
      ClassLabels labels{info.representative.task(),
                         std::string(AcceleratorLabel(req.accelerator())),
                         MinComputeCapabilityLabel(req.min_compute_capability()),
                         std::string(MemoryBandLabel(req.min_device_memory_bytes()))};
      jobs[{labels, std::string(PlacementLabel(info.placement))}] += static_cast<double>(info.jobs);
      const double waited = info.oldest_ready == absl::InfiniteFuture()
                                ? 0
                                : std::max(0.0, absl::ToDoubleSeconds(now - info.oldest_ready));
      double& slot = oldest[labels];
      slot = std::max(slot, waited);
    }
    MetricFamily depth = NewFamily(
        "kiln_queue_jobs",
        "Ready queued jobs by requirement class (task, accelerator, minimum compute capability, "
        "device memory band of the first tier) and why they wait (placement).",
        MetricType::Gauge);
    for (const auto& [key, value] : jobs) {
      const auto& [labels, placement] = key;
      AddSample(depth, value,
                {{"task", std::get<0>(labels)},
                 {"accelerator", std::get<1>(labels)},
                 {"min_cc", std::get<2>(labels)},
                 {"memory", std::get<3>(labels)},
                 {"placement", placement}});
    }
    out.push_back(std::move(depth));
    MetricFamily wait =
        NewFamily("kiln_queue_oldest_wait_seconds",
                  "How long the longest-waiting ready job of each requirement class has waited.",
                  MetricType::Gauge);
    for (const auto& [labels, value] : oldest) {
      AddSample(wait, value,
                {{"task", std::get<0>(labels)},
                 {"accelerator", std::get<1>(labels)},
                 {"min_cc", std::get<2>(labels)},
                 {"memory", std::get<3>(labels)}});
    }
    out.push_back(std::move(wait));
  }

  void CollectFleet(std::vector<MetricFamily>& out) const {
    std::map<std::string, double> workers = {{"alive", 0}, {"lost", 0}};
    std::map<std::tuple<std::string, std::string, std::string>, double> devices;
    std::map<std::string, double> slots;
    for (const kiln::v1::WorkerInfo& worker : scheduler_->ListWorkers()) {
      workers[worker.lost() ? "lost" : "alive"] += 1;
      if (worker.lost()) continue;
      for (const kiln::v1::Device& device : worker.capabilities().devices()) {
        // A worker always lists its host CPU; it counts as a device only with a slot.
        bool has_slot = false;
        for (const kiln::v1::Slot& slot : worker.capabilities().slots()) {
          if (slot.device_id() != device.id()) continue;
          has_slot = true;
          slots[ArchLabel(device.compute_capability())] += 1;
        }
        if (!has_slot) continue;
        devices[{ArchLabel(device.compute_capability()), device.runnable() ? "true" : "false",
                 std::string(UnrunnableReasonLabel(device))}] += 1;
      }
    }
    MetricFamily worker_family =
        NewFamily("kiln_workers", "Registered workers, alive or lost (not heard from lately).",
                  MetricType::Gauge);
    for (const auto& [state, value] : workers) AddSample(worker_family, value, {{"state", state}});
    out.push_back(std::move(worker_family));
    MetricFamily device_family =
        NewFamily("kiln_devices",
                  "Devices with a slot on live workers, by architecture, whether they passed their "
                  "self-test (runnable) and, if not, why (reason).",
                  MetricType::Gauge);
    for (const auto& [key, value] : devices) {
      AddSample(device_family, value,
                {{"arch", std::get<0>(key)},
                 {"runnable", std::get<1>(key)},
                 {"reason", std::get<2>(key)}});
    }
    out.push_back(std::move(device_family));
    MetricFamily slot_family =
        NewFamily("kiln_slots", "Execution slots of live workers, by device architecture.",
                  MetricType::Gauge);
    for (const auto& [arch, value] : slots) AddSample(slot_family, value, {{"arch", arch}});
    out.push_back(std::move(slot_family));
  }

  void CollectStore(std::vector<MetricFamily>& out) const {
    out.push_back(Single("kiln_store_jobs_sst_bytes", "Size of the jobs' SST files.",
                         MetricType::Gauge, static_cast<double>(store_->ApproximateSizeBytes())));
    if (options_.store_size_limit_bytes > 0) {
      out.push_back(Single("kiln_store_size_limit_bytes",
                           "The size the store should stay under (--store-size-limit).",
                           MetricType::Gauge,
                           static_cast<double>(options_.store_size_limit_bytes)));
    }
    if (options_.data_dir.empty()) return;
    out.push_back(Single(
        "kiln_store_size_bytes", "Bytes on disk of the scheduler's RocksDB store (data dir db/).",
        MetricType::Gauge, static_cast<double>(DirectoryBytes(options_.data_dir + "/db"))));
    struct statvfs fs;
    if (::statvfs(options_.data_dir.c_str(), &fs) == 0) {
      out.push_back(Single("kiln_store_filesystem_free_bytes",
                           "Free bytes (for unprivileged users) of the data dir's file system.",
                           MetricType::Gauge,
                           static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize)));
      out.push_back(Single("kiln_store_filesystem_size_bytes",
                           "Size in bytes of the data dir's file system.", MetricType::Gauge,
                           static_cast<double>(fs.f_blocks) * static_cast<double>(fs.f_frsize)));
    }
  }

  core::Scheduler* const scheduler_;
  store::Store* const store_;
  const SchedulerMetricsOptions options_;
};

absl::StatusOr<std::unique_ptr<SchedulerMetrics>> SchedulerMetrics::Create(
    const SchedulerMetricsOptions& options) {
  std::unique_ptr<SchedulerMetrics> metrics(new SchedulerMetrics());
  metrics->options_ = options;
  try {
    // civetweb throws when it cannot bind; this is the boundary that catches it.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(options.listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_listen ", options.listen, ": ", e.what()));
  }
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  metrics->events_ = std::make_unique<Events>(*metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

SchedulerMetrics::~SchedulerMetrics() {
  // Stop serving before the collector and the registry go.
  exposer_.reset();
}

core::SchedulerObserver* SchedulerMetrics::observer() { return events_.get(); }

std::function<void(absl::Duration, size_t)> SchedulerMetrics::store_write_observer() {
  Events* events = events_.get();
  return [events](absl::Duration took, size_t bytes) { events->StoreWritten(took, bytes); };
}

void SchedulerMetrics::Attach(core::Scheduler* scheduler, store::Store* store) {
  if (exposer_ == nullptr) return;
  collector_ = std::make_shared<Collector>(scheduler, store, options_);
  exposer_->RegisterCollectable(collector_);
}

void SchedulerMetrics::StopServing() { exposer_.reset(); }

int SchedulerMetrics::port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace kiln::metrics
