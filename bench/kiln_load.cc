// kiln-load: a load generator for a real kiln-scheduler process over real gRPC on
// loopback. It starts the scheduler itself (fresh data dir, port 0) unless --addr
// names one, and drives it with the callback (async) gRPC API so that thousands of
// simulated clients and workers need only gRPC's few threads.
//
//   --mode=submit     durable submits per second (SubmitJob, or SubmitJobs with --batch>1)
//   --mode=lifecycle  simulated workers (mixed fleet) acquire, start and complete jobs
//                     that clients submit: full lifecycle jobs per second and
//                     submit-to-assign latency
//   --mode=heartbeat  --workers simulated workers only heartbeat (at the scheduler's
//                     --heartbeat-interval) for --max-seconds: scheduler CPU per heartbeat
//   --mode=restart    fill a store with --jobs queued jobs, SIGTERM, restart on the same
//                     data dir, time exec to serving
//
// Every mode stops at its job count or --max-seconds, whichever comes first, and
// reports scheduler CPU seconds per 1,000 jobs and RSS from /proc/<pid>.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/kiln_load_support.h"
#include "bench/sim_fleet.h"
#include "client/channel_credentials.h"
#include "common/flag_names.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "kiln/v1/worker_service.grpc.pb.h"

ABSL_FLAG(std::string, mode, "submit", "submit | lifecycle | heartbeat | restart");
ABSL_FLAG(std::string, addr, "", "Use this running scheduler instead of starting one");
ABSL_FLAG(int, scheduler_pid, 0, "With --addr: the scheduler's pid, for CPU and RSS figures");
ABSL_FLAG(std::string, scheduler_bin, "", "kiln-scheduler binary (default: next to kiln-load)");
ABSL_FLAG(std::string, scheduler_flags, "", "Extra scheduler flags, comma-separated");
ABSL_FLAG(int, clients, 32, "Concurrent submitting clients (one channel each)");
ABSL_FLAG(int, inflight, 1, "Calls each client keeps in flight");
ABSL_FLAG(int, batch, 1, "Specs per submit: 1 = SubmitJob, more = SubmitJobs");
ABSL_FLAG(int64_t, jobs, 20000, "Jobs to submit (submit, restart) or complete (lifecycle)");
ABSL_FLAG(double, rate, 0, "Paced submits: total jobs per second (0 = closed loop)");
ABSL_FLAG(int, workers, 1000, "Simulated workers (lifecycle, heartbeat)");
ABSL_FLAG(int, slots, 1, "Slots per simulated worker (lifecycle)");
ABSL_FLAG(double, job_seconds, 0, "Simulated run time of a job (lifecycle)");
ABSL_FLAG(bool, acquire_next, true,
          "Simulated workers ask for the next job with CompleteJob, as kiln-worker does "
          "(lifecycle; false: a separate AcquireJob after each completion)");
ABSL_FLAG(absl::Duration, acquire_wait, absl::Seconds(5), "AcquireJob long-poll wait");
ABSL_FLAG(absl::Duration, next_wait, absl::ZeroDuration(),
          "With --acquire_next: how long CompleteJob waits for the slot's next job (0: answered "
          "at once, an AcquireJob long-poll follows). Such a completion counts from when it "
          "was sent; the measured phase ends up to one next_wait after the last job");
ABSL_FLAG(int, worker_channels, 8, "gRPC channels (connections) the workers share");
ABSL_FLAG(double, warmup_seconds, 0,
          "Lifecycle: jobs submitted in the first seconds count in throughput, not in the "
          "submit-to-assign latencies");
ABSL_FLAG(double, max_seconds, 60, "Time limit of the measured phase (heartbeat: its length)");
ABSL_FLAG(bool, json, false, "Print the report as one JSON object too");
ABSL_FLAG(bool, keep_data, false, "Keep the temp dir (data dir, scheduler log)");
ABSL_FLAG(std::string, tls_ca, "",
          "TLS to the scheduler: its CA (PEM). With a started scheduler, pass its --tls-cert "
          "and --tls-key in --scheduler-flags");
ABSL_FLAG(std::string, tls_cert, "", "TLS: client certificate (PEM), for mutual TLS");
ABSL_FLAG(std::string, tls_key, "", "TLS: private key of --tls-cert (PEM)");
ABSL_FLAG(std::string, tls_server_name, "", "TLS: name the scheduler's certificate carries");

namespace kiln::bench {
namespace {

using kiln::v1::JobService;
using kiln::v1::JobSpec;

constexpr int64_t kGiB = int64_t{1} << 30;

// --- Report ----------------------------------------------------------------------------

class Report {
 public:
  void Add(const std::string& key, double value, const std::string& unit = "") {
    rows_.push_back({key, value, unit});
  }
  void AddText(const std::string& key, const std::string& value) {
    rows_.push_back({key, value, ""});
  }
  void Print(bool json) const {
    for (const Row& row : rows_) {
      std::string value = std::holds_alternative<double>(row.value)
                              ? absl::StrFormat("%.6g", std::get<double>(row.value))
                              : std::get<std::string>(row.value);
      std::printf("  %-34s %14s %s\n", row.key.c_str(), value.c_str(), row.unit.c_str());
    }
    if (!json) return;
    std::string out = "{";
    for (size_t i = 0; i < rows_.size(); ++i) {
      const Row& row = rows_[i];
      absl::StrAppend(&out, i ? "," : "", "\"", row.key, "\":");
      if (std::holds_alternative<double>(row.value)) {
        absl::StrAppend(&out, absl::StrFormat("%.6g", std::get<double>(row.value)));
      } else {
        absl::StrAppend(&out, "\"", std::get<std::string>(row.value), "\"");
      }
    }
    std::printf("%s}\n", out.c_str());
  }

 private:
  struct Row {
    std::string key;
    std::variant<double, std::string> value;
    std::string unit;
  };
  std::vector<Row> rows_;
};

void AddLatency(Report& report, const std::string& name, const LatencyRecorder& latency) {
  report.Add(name + "_p50_ms", absl::ToDoubleMilliseconds(latency.Percentile(0.50)), "ms");
  report.Add(name + "_p99_ms", absl::ToDoubleMilliseconds(latency.Percentile(0.99)), "ms");
  report.Add(name + "_p999_ms", absl::ToDoubleMilliseconds(latency.Percentile(0.999)), "ms");
  report.Add(name + "_max_ms", absl::ToDoubleMilliseconds(latency.Percentile(1.0)), "ms");
}

// Scheduler CPU and RSS over a measured phase; no figures without a pid.
class ProcessMeter {
 public:
  explicit ProcessMeter(pid_t pid) : pid_(pid) {}
  void Begin() { before_ = Sample(); }
  void End() { after_ = Sample(); }
  double cpu_seconds() const { return after_.cpu_seconds - before_.cpu_seconds; }
  void AddTo(Report& report, int64_t jobs, bool per_queued_job) const {
    if (pid_ <= 0) return;
    const double cpu = after_.cpu_seconds - before_.cpu_seconds;
    report.Add("scheduler_cpu_s", cpu, "s");
    if (jobs > 0) report.Add("scheduler_cpu_s_per_1000_jobs", cpu / jobs * 1000, "s");
    report.Add("scheduler_rss_mib", after_.rss_bytes / 1048576.0, "MiB");
    if (per_queued_job && jobs > 0) {
      report.Add("scheduler_rss_bytes_per_queued_job",
                 static_cast<double>(after_.rss_bytes - before_.rss_bytes) / jobs, "B");
    }
  }

 private:
  ProcessSample Sample() const {
    if (pid_ <= 0) return {};
    absl::StatusOr<ProcessSample> s = SampleProcess(pid_);
    return s.ok() ? *s : ProcessSample{};
  }
  pid_t pid_;
  ProcessSample before_, after_;
};

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// --- Channels and jobs --------------------------------------------------------------------

kiln::ClientTlsOptions LoadTls() {
  kiln::ClientTlsOptions tls;
  tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  tls.key_file = absl::GetFlag(FLAGS_tls_key);
  tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  return tls;
}

// A distinct channel argument gives each channel its own connection (and TLS session).
// The TLS files were checked in main().
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("kiln.load.channel", index);
  args.SetMaxReceiveMessageSize(64 << 20);
  kiln::AddTlsChannelArguments(LoadTls(), args);
  return grpc::CreateCustomChannel(address, *kiln::SchedulerChannelCredentials(LoadTls()), args);
}

kiln::v1::Requirements Req(kiln::v1::Accelerator accelerator) {
  kiln::v1::Requirements r;
  r.set_accelerator(accelerator);
  return r;
}

// Requirement classes the simulated fleet can run, cycled in this pattern so every
// batch carries the same mix: generic work dominates, scarce classes are a tenth each.
std::vector<JobSpec> JobMix(double job_seconds) {
  JobSpec base;
  base.set_task("debug.sleep");
  (*base.mutable_parameters()->mutable_fields())["seconds"].set_number_value(job_seconds);
  (*base.mutable_labels())["bench"] = "kiln-load";

  JobSpec any = base;  // no requirements
  JobSpec gpu = base;
  *gpu.mutable_requirements() = Req(kiln::v1::ACCELERATOR_GPU);
  JobSpec cpu = base;
  *cpu.mutable_requirements() = Req(kiln::v1::ACCELERATOR_CPU);
  JobSpec ampere = base;  // cc >= 8.0 with 20 GiB
  *ampere.mutable_requirements() = Req(kiln::v1::ACCELERATOR_GPU);
  ampere.mutable_requirements()->set_min_compute_capability(80);
  ampere.mutable_requirements()->set_min_device_memory_bytes(20 * kGiB);
  JobSpec bf16 = base;
  bf16.mutable_requirements()->add_features("bf16");
  JobSpec hopper = base;
  hopper.mutable_requirements()->add_architectures("sm_90");
  JobSpec tiered = base;  // Blackwell fp4 first, anything else as the fallback
  kiln::v1::Tier* blackwell = tiered.add_tiers();
  blackwell->set_name("blackwell-fp4");
  blackwell->mutable_requirements()->add_architectures("sm_120");
  blackwell->mutable_requirements()->add_features("fp4");
  tiered.add_tiers()->set_name("fallback");
  return {any, gpu, cpu, any, ampere, bf16, any, gpu, hopper, tiered};
}

// --- Submitting clients ---------------------------------------------------------------------

struct SubmitPlan {
  std::string address;
  int clients = 1;
  int inflight = 1;
  int batch = 1;
  int64_t jobs = 0;
  double rate = 0;  // jobs per second; 0 = closed loop
  absl::Time deadline;
  TimerThread* timer = nullptr;
  std::vector<JobSpec> mix;
};

// Closed-loop (or paced) submitters: clients x inflight callers, each with one call
// in flight; a caller claims the next `batch` jobs of the budget when its call ends.
class SubmitDriver {
 public:
  explicit SubmitDriver(SubmitPlan plan) : plan_(std::move(plan)) {}

  void Start() {
    start_ = absl::Now();
    for (int c = 0; c < plan_.clients; ++c) {
      stubs_.push_back(JobService::NewStub(NewChannel(plan_.address, 1000 + c)));
    }
    for (int c = 0; c < plan_.clients; ++c) {
      for (int k = 0; k < plan_.inflight; ++k) {
        auto caller = std::make_unique<Caller>();
        caller->stub = stubs_[c].get();
        const int offset = static_cast<int>(callers_.size());
        for (size_t i = 0; i < plan_.mix.size(); ++i) {
          *caller->singles.emplace_back().mutable_spec() =
              plan_.mix[(offset + i) % plan_.mix.size()];
        }
        for (int i = 0; i < plan_.batch; ++i) {
          *caller->full.add_specs() = plan_.mix[(offset + i) % plan_.mix.size()];
        }
        callers_.push_back(std::move(caller));
      }
    }
    {
      absl::MutexLock lock(&mu_);
      active_ = static_cast<int>(callers_.size());
    }
    for (auto& caller : callers_) Claim(caller.get());
  }

  void Stop() { stop_ = true; }

  // Blocks until every caller has ended (budget spent, deadline, Stop or errors).
  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
  }

  int64_t accepted() const { return accepted_.load(); }
  int64_t failed_calls() const { return failed_calls_.load(); }
  absl::Time start() const { return start_; }
  absl::Time last_ack() const {
    absl::MutexLock lock(&mu_);
    return last_ack_;
  }
  std::string first_error() const {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }
  std::string some_job_id() const {
    absl::MutexLock lock(&mu_);
    return some_job_id_;
  }
  const LatencyRecorder& call_latency() const { return call_latency_; }

 private:
  struct Caller {
    JobService::Stub* stub = nullptr;
    // The previous call's context lives until the next call, never dying in its own callback.
    std::unique_ptr<grpc::ClientContext> context, previous;
    std::vector<kiln::v1::SubmitJobRequest> singles;
    size_t next_single = 0;
    kiln::v1::SubmitJobsRequest full, partial;
    kiln::v1::SubmitJobResponse single_response;
    kiln::v1::SubmitJobsResponse batch_response;
    int64_t claimed = 0;
    absl::Time sent;
  };

  void Claim(Caller* c) {
    const int64_t first = next_job_.fetch_add(plan_.batch);
    if (stop_ || first >= plan_.jobs || absl::Now() >= plan_.deadline) return End();
    c->claimed = std::min<int64_t>(plan_.batch, plan_.jobs - first);
    if (plan_.rate > 0) {
      const absl::Time due = start_ + absl::Seconds(first / plan_.rate);
      if (due >= plan_.deadline) return End();
      if (due > absl::Now() + absl::Microseconds(200)) {
        plan_.timer->At(due, [this, c] { Send(c); });
        return;
      }
    }
    Send(c);
  }

  void Send(Caller* c) {
    if (stop_ || absl::Now() >= plan_.deadline) return End();
    c->previous = std::move(c->context);
    c->context = std::make_unique<grpc::ClientContext>();
    c->context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    c->sent = absl::Now();
    if (plan_.batch == 1) {
      const kiln::v1::SubmitJobRequest& request = c->singles[c->next_single++ % c->singles.size()];
      c->stub->async()->SubmitJob(c->context.get(), &request, &c->single_response,
                                  [this, c](grpc::Status s) { Done(c, s); });
      return;
    }
    const kiln::v1::SubmitJobsRequest* request = &c->full;
    if (c->claimed < plan_.batch) {
      c->partial = c->full;
      c->partial.mutable_specs()->DeleteSubrange(
          c->claimed, c->partial.specs_size() - static_cast<int>(c->claimed));
      request = &c->partial;
    }
    c->stub->async()->SubmitJobs(c->context.get(), request, &c->batch_response,
                                 [this, c](grpc::Status s) { Done(c, s); });
  }

  void Done(Caller* c, const grpc::Status& status) {
    const absl::Time now = absl::Now();
    if (status.ok()) {
      accepted_ += c->claimed;
      call_latency_.Add(now - c->sent);
      absl::MutexLock lock(&mu_);
      last_ack_ = std::max(last_ack_, now);
      if (some_job_id_.empty()) {
        some_job_id_ = plan_.batch == 1 ? c->single_response.job().id()
                                        : c->batch_response.results(0).job().id();
      }
    } else {
      // Bounded: a scheduler that keeps refusing ends the run instead of spinning.
      if (++failed_calls_ >= 100) stop_ = true;
      absl::MutexLock lock(&mu_);
      if (first_error_.empty()) {
        first_error_ =
            absl::StrCat(static_cast<int>(status.error_code()), ": ", status.error_message());
      }
    }
    Claim(c);
  }

  void End() {
    absl::MutexLock lock(&mu_);
    --active_;
  }

  const SubmitPlan plan_;
  absl::Time start_;
  std::vector<std::unique_ptr<JobService::Stub>> stubs_;
  std::vector<std::unique_ptr<Caller>> callers_;
  std::atomic<int64_t> next_job_{0};
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> failed_calls_{0};
  std::atomic<bool> stop_{false};
  LatencyRecorder call_latency_;
  mutable absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_ack_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  std::string some_job_id_ ABSL_GUARDED_BY(mu_);
};

// --- Modes ----------------------------------------------------------------------------------

struct Target {
  std::string address;
  pid_t pid = 0;
};

SubmitPlan PlanFromFlags(const Target& target, TimerThread* timer, double job_seconds) {
  SubmitPlan plan;
  plan.address = target.address;
  plan.clients = std::max(1, absl::GetFlag(FLAGS_clients));
  plan.inflight = std::max(1, absl::GetFlag(FLAGS_inflight));
  plan.batch = std::clamp(absl::GetFlag(FLAGS_batch), 1, 1000);
  plan.jobs = absl::GetFlag(FLAGS_jobs);
  plan.rate = absl::GetFlag(FLAGS_rate);
  plan.deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_max_seconds));
  plan.timer = timer;
  plan.mix = JobMix(job_seconds);
  return plan;
}

void AddSubmitFigures(Report& report, const SubmitDriver& driver, absl::Time end) {
  const double seconds = absl::ToDoubleSeconds(end - driver.start());
  report.Add("jobs_accepted", driver.accepted());
  report.Add("submit_failed_calls", driver.failed_calls());
  report.Add("submit_seconds", seconds, "s");
  report.Add("submits_per_s", seconds > 0 ? driver.accepted() / seconds : 0, "jobs/s");
  AddLatency(report, "submit_call", driver.call_latency());
  if (!driver.first_error().empty()) report.AddText("submit_first_error", driver.first_error());
}

absl::Status RunSubmit(const Target& target, Report& report) {
  TimerThread timer;
  ProcessMeter meter(target.pid);
  const double self_cpu = SelfCpuSeconds();
  meter.Begin();
  SubmitDriver driver(PlanFromFlags(target, &timer, 0));
  driver.Start();
  driver.Wait();
  meter.End();
  timer.Shutdown();
  const absl::Time end = std::max(driver.last_ack(), driver.start());
  AddSubmitFigures(report, driver, end);
  meter.AddTo(report, driver.accepted(), /*per_queued_job=*/true);
  report.Add("loadgen_cpu_s", SelfCpuSeconds() - self_cpu, "s");
  return driver.accepted() > 0 ? absl::OkStatus() : absl::UnavailableError("no job was accepted");
}

// The simulated fleet's size and connections, from the flags.
FleetPlan FleetPlanFromFlags(const Target& target, TimerThread* timer) {
  FleetPlan plan;
  plan.new_channel = [address = target.address](int index) { return NewChannel(address, index); };
  plan.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  plan.slots = std::max(1, absl::GetFlag(FLAGS_slots));
  plan.channels = std::max(1, absl::GetFlag(FLAGS_worker_channels));
  plan.timer = timer;
  return plan;
}

// Registers every simulated worker, reporting how long it took.
absl::Status RegisterFleet(WorkerFleet& fleet, Report& report) {
  const absl::Time start = absl::Now();
  absl::Status registered = fleet.Register();
  report.Add("register_seconds", absl::ToDoubleSeconds(absl::Now() - start), "s");
  return registered;
}

absl::Status RunLifecycle(const Target& target, Report& report) {
  const double job_seconds = absl::GetFlag(FLAGS_job_seconds);
  TimerThread timer;
  FleetPlan fleet_plan = FleetPlanFromFlags(target, &timer);
  fleet_plan.job_seconds = job_seconds;
  fleet_plan.acquire_wait = absl::GetFlag(FLAGS_acquire_wait);
  fleet_plan.acquire_next = absl::GetFlag(FLAGS_acquire_next);
  fleet_plan.next_wait = absl::GetFlag(FLAGS_next_wait);
  fleet_plan.target_completions = absl::GetFlag(FLAGS_jobs);
  WorkerFleet fleet(fleet_plan);
  if (absl::Status registered = RegisterFleet(fleet, report); !registered.ok()) return registered;
  fleet.Start();
  // Let the long-polls reach the scheduler so the first jobs meet waiting slots.
  absl::SleepFor(absl::Milliseconds(500));

  ProcessMeter meter(target.pid);
  const double self_cpu = SelfCpuSeconds();
  meter.Begin();
  SubmitDriver driver(PlanFromFlags(target, &timer, job_seconds));
  driver.Start();
  const double warmup = absl::GetFlag(FLAGS_warmup_seconds);
  if (warmup > 0) fleet.MeasureLatencyFrom(driver.start() + absl::Seconds(warmup));
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_max_seconds));
  fleet.WaitCompletions(deadline);
  meter.End();
  const double loadgen_cpu = SelfCpuSeconds() - self_cpu;
  driver.Stop();
  fleet.Stop();
  timer.Shutdown();  // runs paced submits and simulated job ends now; they see the stop
  driver.Wait();
  const bool drained = fleet.Drain(absl::Seconds(60));

  const int64_t completed = fleet.completed();
  const double seconds = absl::ToDoubleSeconds(fleet.last_completion() - driver.start());
  report.Add("jobs_completed", completed);
  report.Add("lifecycle_seconds", seconds, "s");
  report.Add("lifecycle_jobs_per_s", seconds > 0 ? completed / seconds : 0, "jobs/s");
  if (warmup > 0) report.Add("latency_warmup_seconds", warmup, "s");
  report.Add("latency_samples", static_cast<int64_t>(fleet.assign_latency().count()));
  AddLatency(report, "submit_to_assign", fleet.assign_latency());
  AddLatency(report, "assign_decision", fleet.decide_latency());
  AddLatency(report, "assign_delivery", fleet.deliver_latency());
  AddSubmitFigures(report, driver, std::max(driver.last_ack(), driver.start()));
  report.Add("heartbeats", fleet.heartbeats());
  report.Add("worker_call_errors", fleet.errors());
  if (!fleet.first_error().empty()) report.AddText("worker_first_error", fleet.first_error());
  meter.AddTo(report, completed, /*per_queued_job=*/false);
  report.Add("loadgen_cpu_s", loadgen_cpu, "s");
  if (!drained) return absl::DeadlineExceededError("simulated workers did not drain");
  return completed > 0 ? absl::OkStatus() : absl::UnavailableError("no job completed");
}

absl::Status RunHeartbeat(const Target& target, Report& report) {
  TimerThread timer;
  FleetPlan fleet_plan = FleetPlanFromFlags(target, &timer);
  fleet_plan.acquire = false;
  WorkerFleet fleet(fleet_plan);
  if (absl::Status registered = RegisterFleet(fleet, report); !registered.ok()) return registered;
  fleet.Start();
  // One heartbeat interval first: the fleet's first beats are staggered over it.
  const absl::Duration interval = fleet.heartbeat_interval();
  absl::SleepFor(interval);
  ProcessMeter meter(target.pid);
  const double self_cpu = SelfCpuSeconds();
  const int64_t beats_before = fleet.heartbeats();
  meter.Begin();
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_max_seconds)));
  meter.End();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t beats = fleet.heartbeats() - beats_before;
  const double loadgen_cpu = SelfCpuSeconds() - self_cpu;
  fleet.Stop();
  timer.Shutdown();
  const bool drained = fleet.Drain(absl::Seconds(60));
  report.Add("workers", fleet_plan.workers);
  report.Add("heartbeat_interval_s", absl::ToDoubleSeconds(interval), "s");
  report.Add("heartbeats", beats);
  report.Add("heartbeats_per_s", seconds > 0 ? beats / seconds : 0, "1/s");
  report.Add("worker_call_errors", fleet.errors());
  if (!fleet.first_error().empty()) report.AddText("worker_first_error", fleet.first_error());
  meter.AddTo(report, 0, /*per_queued_job=*/false);
  const double cpu = meter.cpu_seconds();
  if (beats > 0 && target.pid > 0) {
    report.Add("scheduler_cpu_us_per_heartbeat", cpu / beats * 1e6, "us");
  }
  report.Add("loadgen_cpu_s", loadgen_cpu, "s");
  if (!drained) return absl::DeadlineExceededError("simulated workers did not drain");
  if (fleet.errors() > 0)
    return absl::UnavailableError("heartbeats failed: " + fleet.first_error());
  return beats > 0 ? absl::OkStatus() : absl::UnavailableError("no heartbeat was answered");
}

absl::Status RunRestart(SchedulerProcess::Options options, std::unique_ptr<SchedulerProcess>& sched,
                        Report& report) {
  TimerThread timer;
  Target target{sched->address(), sched->pid()};
  ProcessMeter meter(target.pid);
  meter.Begin();
  SubmitPlan plan = PlanFromFlags(target, &timer, 0);
  if (absl::GetFlag(FLAGS_batch) == 1) plan.batch = 1000;
  SubmitDriver driver(std::move(plan));
  driver.Start();
  driver.Wait();
  meter.End();
  timer.Shutdown();
  AddSubmitFigures(report, driver, std::max(driver.last_ack(), driver.start()));
  meter.AddTo(report, driver.accepted(), /*per_queued_job=*/true);
  if (driver.accepted() == 0) return absl::UnavailableError("no job was accepted");

  const absl::Time stop_start = absl::Now();
  absl::StatusOr<int> code = sched->Stop(SIGTERM, absl::Seconds(60));
  if (!code.ok()) return code.status();
  report.Add("stop_seconds", absl::ToDoubleSeconds(absl::Now() - stop_start), "s");
  report.Add("stop_exit_code", *code);

  options.probe_job_id = driver.some_job_id();
  absl::StatusOr<std::unique_ptr<SchedulerProcess>> restarted = SchedulerProcess::Start(options);
  if (!restarted.ok()) return restarted.status();
  sched = *std::move(restarted);
  report.Add("restart_to_port_file_s", absl::ToDoubleSeconds(sched->time_to_port_file()), "s");
  report.Add("restart_to_serving_s", absl::ToDoubleSeconds(sched->time_to_serving()), "s");
  absl::StatusOr<ProcessSample> after = SampleProcess(sched->pid());
  if (after.ok()) {
    report.Add("restart_cpu_s", after->cpu_seconds, "s");
    report.Add("restart_rss_mib", after->rss_bytes / 1048576.0, "MiB");
    report.Add("restart_rss_bytes_per_queued_job",
               static_cast<double>(after->rss_bytes) / driver.accepted(), "B");
  }
  return absl::OkStatus();
}

std::string DefaultSchedulerBinary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "kiln-scheduler" : (self.parent_path() / "kiln-scheduler").string();
}

int Main() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "submit" && mode != "lifecycle" && mode != "heartbeat" && mode != "restart") {
    std::fprintf(stderr, "kiln-load: --mode must be submit, lifecycle, heartbeat or restart\n");
    return 2;
  }
  if (absl::Status tls = kiln::SchedulerChannelCredentials(LoadTls()).status(); !tls.ok()) {
    std::fprintf(stderr, "kiln-load: %s\n", std::string(tls.message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_jobs) <= 0 || absl::GetFlag(FLAGS_max_seconds) <= 0) {
    std::fprintf(stderr, "kiln-load: --jobs and --max-seconds must be positive\n");
    return 2;
  }
  const std::string addr = absl::GetFlag(FLAGS_addr);
  if (!addr.empty() && mode == "restart") {
    std::fprintf(stderr, "kiln-load: --mode=restart starts its own scheduler; drop --addr\n");
    return 2;
  }

  std::string work_dir;
  std::unique_ptr<SchedulerProcess> sched;
  SchedulerProcess::Options options;
  Target target{addr, absl::GetFlag(FLAGS_scheduler_pid)};
  if (addr.empty()) {
    work_dir = MakeTempDir("kiln-load-");
    if (work_dir.empty()) {
      std::fprintf(stderr, "kiln-load: cannot create a temp dir\n");
      return 1;
    }
    options.binary = absl::GetFlag(FLAGS_scheduler_bin).empty()
                         ? DefaultSchedulerBinary()
                         : absl::GetFlag(FLAGS_scheduler_bin);
    options.data_dir = work_dir + "/data";
    options.work_dir = work_dir;
    options.tls = LoadTls();
    for (absl::string_view flag :
         absl::StrSplit(absl::GetFlag(FLAGS_scheduler_flags), ',', absl::SkipEmpty())) {
      options.extra_flags.emplace_back(flag);
    }
    absl::StatusOr<std::unique_ptr<SchedulerProcess>> started = SchedulerProcess::Start(options);
    if (!started.ok()) {
      std::fprintf(stderr, "kiln-load: %s\n", started.status().ToString().c_str());
      return 1;
    }
    sched = *std::move(started);
    target = {sched->address(), sched->pid()};
  }

  Report report;
  report.AddText("mode", mode);
  absl::Status status;
  if (mode == "submit") {
    status = RunSubmit(target, report);
  } else if (mode == "lifecycle") {
    status = RunLifecycle(target, report);
  } else if (mode == "heartbeat") {
    status = RunHeartbeat(target, report);
  } else {
    status = RunRestart(options, sched, report);
  }
  std::printf("kiln-load --mode=%s\n", mode.c_str());
  report.Print(absl::GetFlag(FLAGS_json));
  std::fflush(stdout);

  if (sched != nullptr) {
    absl::StatusOr<int> code = sched->Stop(SIGTERM, absl::Seconds(60));
    if (!code.ok() || *code != 0) {
      std::fprintf(stderr, "kiln-load: scheduler exit: %s\n",
                   code.ok() ? absl::StrCat(*code).c_str() : code.status().ToString().c_str());
    }
  }
  if (!status.ok()) std::fprintf(stderr, "kiln-load: %s\n", status.ToString().c_str());
  if (!work_dir.empty()) {
    if (absl::GetFlag(FLAGS_keep_data)) {
      std::fprintf(stderr, "kiln-load: kept %s\n", work_dir.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(work_dir, ec);
    }
  }
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "kiln-load --mode=submit|lifecycle|heartbeat|restart [--clients=M --batch=B --jobs=N ...]");
  // As in kiln-scheduler: Debian's Abseil checks lock order on every Mutex::Lock, and the
  // load generator shares the cores with the scheduler it measures (3% of them in a
  // paced profile).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  kiln::NormalizeFlagDashes(argc, argv);
  absl::ParseCommandLine(argc, argv);
  return kiln::bench::Main();
}
