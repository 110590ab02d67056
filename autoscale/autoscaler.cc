#include "autoscale/autoscaler.h"

#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autoscale/http_get.h"
#include "autoscale/queue_demand.h"
#include "common/log.h"

namespace kiln::autoscale {

Autoscaler::Autoscaler(const AutoscalerOptions& options)
    : options_(options),
      slurm_(options.slurm),
      registry_(std::make_shared<prometheus::Registry>()),
      demand_(&prometheus::BuildGauge()
                   .Name("kiln_autoscale_demand")
                   .Help("Ready queued jobs the pool serves (sum of the scheduler's "
                         "kiln_queue_jobs its class selectors match)")
                   .Register(*registry_)),
      jobs_(&prometheus::BuildGauge()
                 .Name("kiln_autoscale_worker_jobs")
                 .Help("Slurm worker jobs of the pool, by state (pending, running)")
                 .Register(*registry_)),
      submitted_(&prometheus::BuildCounter()
                      .Name("kiln_autoscale_submitted_total")
                      .Help("Worker jobs submitted with sbatch")
                      .Register(*registry_)),
      cancelled_(&prometheus::BuildCounter()
                      .Name("kiln_autoscale_cancelled_total")
                      .Help("Worker jobs cancelled with scancel")
                      .Register(*registry_)),
      errors_(&prometheus::BuildCounter()
                   .Name("kiln_autoscale_errors_total")
                   .Help("Failed squeue/sbatch/scancel calls")
                   .Register(*registry_)),
      scrape_ok_(&prometheus::BuildGauge()
                      .Name("kiln_autoscale_scrape_ok")
                      .Help("1 when the last read of the scheduler's metrics worked")
                      .Register(*registry_)
                      .Add({})) {}

absl::StatusOr<std::unique_ptr<Autoscaler>> Autoscaler::Create(const AutoscalerOptions& options) {
  if (options.config.pools.empty()) return absl::InvalidArgumentError("no pools configured");
  if (options.scheduler_metrics.empty()) {
    return absl::InvalidArgumentError("scheduler_metrics (host:port) is empty");
  }
  std::unique_ptr<Autoscaler> autoscaler(new Autoscaler(options));
  if (!options.scheduler_address.empty()) {
    ClientOptions client;
    client.address = options.scheduler_address;
    client.default_deadline = options.scrape_timeout;
    absl::StatusOr<std::unique_ptr<Client>> created = Client::Create(client);
    if (!created.ok()) return created.status();
    autoscaler->scheduler_ = *std::move(created);
  }
  return autoscaler;
}

absl::Status Autoscaler::PollOnce() {
  absl::StatusOr<std::string> page =
      HttpGet(options_.scheduler_metrics, "/metrics", options_.scrape_timeout);
  absl::StatusOr<std::vector<Sample>> samples =
      page.ok() ? ParseMetricSamples(*page, "kiln_queue_jobs")
                : absl::StatusOr<std::vector<Sample>>(page.status());
  if (!samples.ok()) {
    scrape_ok_->Set(0);
    KILN_LOG(WARNING) << "cannot read the queue demand: " << samples.status()
                      << "; no change this poll";
    return samples.status();
  }
  scrape_ok_->Set(1);
  // Which Slurm jobs' workers hold leases now; unknown (failed call): all count busy.
  std::optional<absl::flat_hash_set<std::string>> busy_jobs;
  bool busy_unknown = false;
  if (scheduler_ != nullptr) {
    absl::StatusOr<std::vector<kiln::v1::WorkerInfo>> workers = scheduler_->ListWorkers();
    if (workers.ok()) {
      busy_jobs.emplace();
      for (const kiln::v1::WorkerInfo& worker : *workers) {
        const std::string job = SlurmJobIdOfWorker(worker.id());
        if (!job.empty() && worker.job_ids_size() > 0) busy_jobs->insert(job);
      }
    } else {
      busy_unknown = true;
      KILN_LOG(WARNING) << "cannot list the workers: " << workers.status()
                        << "; no worker counts as idle this poll";
    }
  }
  absl::Status first_error;
  const auto failed = [&](const PoolConfig& pool, const absl::Status& status) {
    errors_->Add({{"pool", pool.name}}).Increment();
    KILN_LOG(WARNING) << "pool " << pool.name << ": " << status;
    if (first_error.ok()) first_error = status;
  };
  for (const PoolConfig& pool : options_.config.pools) {
    const int64_t demand = PoolDemand(pool, *samples);
    demand_->Add({{"pool", pool.name}}).Set(static_cast<double>(demand));
    absl::StatusOr<std::vector<WorkerJob>> jobs = slurm_.List(pool);
    if (!jobs.ok()) {
      failed(pool, jobs.status());
      continue;
    }
    int pending = 0;
    for (WorkerJob& job : *jobs) {
      pending += job.pending ? 1 : 0;
      job.busy = !job.pending && (busy_unknown || (busy_jobs && busy_jobs->contains(job.id)));
    }
    jobs_->Add({{"pool", pool.name}, {"state", "pending"}}).Set(pending);
    jobs_->Add({{"pool", pool.name}, {"state", "running"}})
        .Set(static_cast<double>(jobs->size() - pending));

    const Decision decision = DecideScaling(pool.policy, demand, *jobs, memory_[pool.name]);
    memory_[pool.name] = decision.memory;
    if (decision.submit == 0 && decision.cancel.empty()) continue;
    KILN_LOG(INFO) << "pool " << pool.name << ": " << decision.why << ": "
                   << (decision.submit > 0
                           ? absl::StrCat("submitting ", decision.submit)
                           : absl::StrCat("cancelling ", absl::StrJoin(decision.cancel, ",")))
                   << (options_.dry_run ? " (dry run)" : "");
    if (options_.dry_run) continue;
    for (int i = 0; i < decision.submit; ++i) {
      absl::StatusOr<std::string> id = slurm_.Submit(pool);
      if (!id.ok()) {
        failed(pool, id.status());
        break;
      }
      submitted_->Add({{"pool", pool.name}}).Increment();
      KILN_LOG(INFO) << "pool " << pool.name << ": submitted Slurm job " << *id;
    }
    if (!decision.cancel.empty()) {
      std::vector<WorkerJob> stopping;
      for (const std::string& id : decision.cancel) {
        for (const WorkerJob& job : *jobs) {
          if (job.id == id) stopping.push_back(job);
        }
      }
      const absl::Status status = slurm_.Stop(stopping);
      if (!status.ok()) {
        failed(pool, status);
      } else {
        cancelled_->Add({{"pool", pool.name}})
            .Increment(static_cast<double>(decision.cancel.size()));
      }
    }
  }
  return first_error;
}

}  // namespace kiln::autoscale
