#include "bench/sim_fleet.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/device_features.h"
#include "common/proto_time.h"

namespace kiln::bench {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// The fleet's GPU models, cycled by worker index; index 0 is a CPU-only host.
struct GpuModel {
  int cc;
  const char* name;
  int64_t memory;
};
constexpr GpuModel kFleet[] = {{0, "", 0},
                               {75, "Tesla T4", 15 * kGiB},
                               {86, "NVIDIA A10", 24 * kGiB},
                               {90, "NVIDIA H100 80GB HBM3", 80 * kGiB},
                               {120, "NVIDIA GeForce RTX 5090", 32 * kGiB}};

}  // namespace

kiln::v1::WorkerCapabilities SimulatedCapabilities(int index, int slots) {
  const GpuModel& model = kFleet[index % std::size(kFleet)];
  kiln::v1::WorkerCapabilities caps;
  caps.set_hostname(absl::StrCat("sim-host-", index));
  caps.set_version("kiln-load");
  kiln::v1::Device* cpu = caps.add_devices();
  cpu->set_id("cpu");
  cpu->set_name("Simulated CPU");
  cpu->set_total_memory_bytes(64 * kGiB);
  cpu->set_free_memory_bytes(60 * kGiB);
  cpu->set_runnable(true);
  std::string slot_device = "cpu";
  if (model.cc > 0) {
    kiln::v1::Device* gpu = caps.add_devices();
    gpu->set_id("cuda:0");
    gpu->set_name(model.name);
    gpu->set_compute_capability(model.cc);
    gpu->set_total_memory_bytes(model.memory);
    gpu->set_free_memory_bytes(model.memory - kGiB);
    gpu->set_runnable(true);
    for (const std::string& f : FeaturesForComputeCapability(model.cc)) gpu->add_features(f);
    for (const char* arch : {"sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120"}) {
      gpu->add_kernel_sass(arch);
    }
    gpu->add_kernel_ptx("compute_120");
    gpu->set_driver_version(13000);
    gpu->set_runtime_version(13000);
    slot_device = "cuda:0";
  }
  for (int s = 0; s < slots; ++s) {
    kiln::v1::Slot* slot = caps.add_slots();
    slot->set_index(s);
    slot->set_device_id(slot_device);
    slot->add_tasks("debug.sleep");
    slot->add_tasks("mesh.extract");
  }
  return caps;
}

WorkerFleet::WorkerFleet(FleetPlan plan) : plan_(std::move(plan)) {}

absl::Status WorkerFleet::Register() {
  for (int c = 0; c < plan_.channels; ++c) {
    stubs_.push_back(kiln::v1::WorkerService::NewStub(plan_.new_channel(c)));
  }
  for (int w = 0; w < plan_.workers; ++w) {
    auto worker = std::make_unique<Worker>();
    worker->id = absl::StrCat("sim-", w);
    worker->stub = stubs_[w % stubs_.size()].get();
    for (int s = 0; s < plan_.slots; ++s) {
      auto slot = std::make_unique<Slot>();
      slot->worker = worker.get();
      slot->acquire.set_worker_id(worker->id);
      slot->acquire.set_slot(s);
      *slot->acquire.mutable_wait() = ToProtoDuration(plan_.acquire_wait);
      slots_.push_back(std::move(slot));
    }
    workers_.push_back(std::move(worker));
  }
  struct Registration {
    grpc::ClientContext context;
    kiln::v1::RegisterWorkerRequest request;
    kiln::v1::RegisterWorkerResponse response;
  };
  std::vector<Registration> calls(workers_.size());
  absl::Mutex mu;
  int pending = static_cast<int>(workers_.size());
  std::string error;
  for (size_t w = 0; w < workers_.size(); ++w) {
    Registration& call = calls[w];
    call.context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    // A connection that is still being made (or refused once on a loaded machine) is
    // waited for, as a real worker retries its registration.
    call.context.set_wait_for_ready(true);
    call.request.set_worker_id(workers_[w]->id);
    *call.request.mutable_capabilities() = SimulatedCapabilities(static_cast<int>(w), plan_.slots);
    workers_[w]->stub->async()->RegisterWorker(
        &call.context, &call.request, &call.response, [&, w](grpc::Status s) {
          absl::MutexLock lock(&mu);
          if (!s.ok() && error.empty()) {
            error = absl::StrCat("register ", workers_[w]->id, ": ", s.error_message());
          }
          if (s.ok()) {
            workers_[w]->heartbeat_interval =
                FromProtoDuration(calls[w].response.heartbeat_interval());
          }
          --pending;
        });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* p) { return *p == 0; }, &pending));
  return error.empty() ? absl::OkStatus() : absl::UnavailableError(error);
}

void WorkerFleet::Start() {
  {
    absl::MutexLock lock(&mu_);
    active_ = static_cast<int>((plan_.acquire ? slots_.size() : 0) + workers_.size());
  }
  if (plan_.acquire) {
    for (auto& slot : slots_) Acquire(slot.get());
  }
  const absl::Time now = absl::Now();
  for (size_t w = 0; w < workers_.size(); ++w) {
    Worker* worker = workers_[w].get();
    const absl::Duration interval = worker->heartbeat_interval > absl::ZeroDuration()
                                        ? worker->heartbeat_interval
                                        : absl::Seconds(5);
    // Staggered over one interval, as real workers started at different times are.
    plan_.timer->At(now + interval * (static_cast<double>(w) / workers_.size()),
                    [this, worker] { Heartbeat(worker); });
  }
}

// Waits for the target number of completions or the deadline; returns the count.
int64_t WorkerFleet::WaitCompletions(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto reached = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return completed_ >= plan_.target_completions;
  };
  mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
  return completed_;
}

// Stops new calls and cancels those in flight (long-polls included).
void WorkerFleet::Stop() {
  stopping_ = true;
  for (auto& slot : slots_) {
    absl::MutexLock lock(&slot->mu);
    if (slot->context != nullptr) slot->context->TryCancel();
  }
  for (auto& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    if (worker->heartbeat_context != nullptr) worker->heartbeat_context->TryCancel();
  }
}

// After Stop (and the timer's Shutdown): waits until every chain has ended.
bool WorkerFleet::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* a) { return *a == 0; }, &active_),
                              timeout);
}

// A fresh context for the slot's next call; null once stopping.
grpc::ClientContext* WorkerFleet::NextContext(absl::Mutex& mu,
                                              std::unique_ptr<grpc::ClientContext>& current,
                                              std::unique_ptr<grpc::ClientContext>& previous,
                                              absl::Duration timeout) {
  absl::MutexLock lock(&mu);
  if (stopping_) return nullptr;
  previous = std::move(current);
  current = std::make_unique<grpc::ClientContext>();
  current->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return current.get();
}

void WorkerFleet::EndChain() {
  absl::MutexLock lock(&mu_);
  --active_;
}

void WorkerFleet::Error(const std::string& what, const grpc::Status& status) {
  if (stopping_) return;
  ++errors_;
  absl::MutexLock lock(&mu_);
  if (first_error_.empty()) {
    first_error_ = absl::StrCat(what, ": ", static_cast<int>(status.error_code()), " ",
                                status.error_message());
  }
}

void WorkerFleet::Acquire(Slot* slot) {
  grpc::ClientContext* context =
      NextContext(slot->mu, slot->context, slot->previous, plan_.acquire_wait + absl::Seconds(30));
  if (context == nullptr) return EndChain();
  slot->acquire_response.Clear();
  slot->worker->stub->async()->AcquireJob(context, &slot->acquire, &slot->acquire_response,
                                          [this, slot](grpc::Status s) { OnAcquired(slot, s); });
}

void WorkerFleet::OnAcquired(Slot* slot, const grpc::Status& status) {
  if (!status.ok()) {
    Error("AcquireJob", status);
    // Back off a little so a refusing scheduler does not spin the loop.
    plan_.timer->At(absl::Now() + absl::Milliseconds(100), [this, slot] { Acquire(slot); });
    return;
  }
  if (!slot->acquire_response.has_assignment()) return Acquire(slot);
  Run(slot, slot->acquire_response.assignment());
}

void WorkerFleet::Run(Slot* slot, const kiln::v1::Assignment& assignment) {
  const absl::Time now = absl::Now();
  const absl::Time created = FromProtoTime(assignment.job().created_at());
  if (absl::ToUnixNanos(created) >= measure_from_ns_.load(std::memory_order_relaxed)) {
    assign_latency_.Add(now - created);
    if (assignment.job().attempts_size() > 0) {
      // The two halves: waiting for a slot in memory, then the durable write and the answer.
      const absl::Time assigned =
          FromProtoTime(assignment.job().attempts().rbegin()->assigned_at());
      decide_latency_.Add(assigned - created);
      deliver_latency_.Add(now - assigned);
    }
  }
  const std::string& job_id = assignment.job().id();
  {
    absl::MutexLock lock(&slot->worker->mu);
    kiln::v1::HeldLease& lease = slot->worker->held.emplace_back();
    lease.set_job_id(job_id);
    lease.set_attempt(assignment.attempt());
  }
  slot->progress.set_worker_id(slot->worker->id);
  slot->progress.set_job_id(job_id);
  slot->progress.set_attempt(assignment.attempt());
  slot->progress.set_progress(0);
  slot->progress.set_message("started");
  slot->complete.set_worker_id(slot->worker->id);
  slot->complete.set_job_id(job_id);
  slot->complete.set_attempt(assignment.attempt());
  slot->complete.set_acquire_next(plan_.acquire_next);
  if (CompletionsWait()) *slot->complete.mutable_next_wait() = ToProtoDuration(plan_.next_wait);
  auto& result = *slot->complete.mutable_result()->mutable_fields();
  result["slept_seconds"].set_number_value(plan_.job_seconds);
  if (plan_.identify_results) {
    result["job_id"].set_string_value(job_id);
    result["attempt"].set_number_value(assignment.attempt());
    result["worker_id"].set_string_value(slot->worker->id);
  }
  grpc::ClientContext* context =
      NextContext(slot->mu, slot->context, slot->previous, absl::Seconds(30));
  if (context == nullptr) return EndChain();
  slot->worker->stub->async()->ReportProgress(context, &slot->progress, &slot->progress_response,
                                              [this, slot](grpc::Status s) { OnStarted(slot, s); });
}

void WorkerFleet::OnStarted(Slot* slot, const grpc::Status& status) {
  if (!status.ok()) Error("ReportProgress", status);
  if (plan_.job_seconds > 0) {
    plan_.timer->At(absl::Now() + absl::Seconds(plan_.job_seconds),
                    [this, slot] { Complete(slot); });
    return;
  }
  Complete(slot);
}

void WorkerFleet::Complete(Slot* slot) {
  grpc::ClientContext* context =
      NextContext(slot->mu, slot->context, slot->previous, plan_.next_wait + absl::Seconds(30));
  if (context == nullptr) return EndChain();
  {
    absl::MutexLock lock(&slot->mu);
    slot->complete_sent = absl::Now();
  }
  slot->complete_response.Clear();
  slot->worker->stub->async()->CompleteJob(context, &slot->complete, &slot->complete_response,
                                           [this, slot](grpc::Status s) { OnCompleted(slot, s); });
}

void WorkerFleet::OnCompleted(Slot* slot, const grpc::Status& status) {
  absl::Time completed_at = absl::Now();
  if (CompletionsWait()) {
    absl::MutexLock lock(&slot->mu);
    completed_at = slot->complete_sent;
  }
  {
    absl::MutexLock lock(&slot->worker->mu);
    auto& held = slot->worker->held;
    held.erase(std::remove_if(held.begin(), held.end(),
                              [&](const kiln::v1::HeldLease& l) {
                                return l.job_id() == slot->complete.job_id();
                              }),
               held.end());
  }
  if (status.ok()) {
    if (plan_.on_completed) {
      plan_.on_completed(slot->complete.job_id(), slot->complete.attempt(), slot->worker->id);
    }
    absl::MutexLock lock(&mu_);
    ++completed_;
    last_completion_ = std::max(last_completion_, completed_at);
  } else {
    Error("CompleteJob", status);
  }
  if (status.ok() && slot->complete_response.has_next()) {
    return Run(slot, slot->complete_response.next());
  }
  Acquire(slot);
}

void WorkerFleet::Heartbeat(Worker* worker) {
  grpc::ClientContext* context = NextContext(worker->mu, worker->heartbeat_context,
                                             worker->heartbeat_previous, absl::Seconds(30));
  if (context == nullptr) return EndChain();
  worker->heartbeat_request.set_worker_id(worker->id);
  {
    absl::MutexLock lock(&worker->mu);
    worker->heartbeat_request.mutable_leases()->Assign(worker->held.begin(), worker->held.end());
  }
  worker->stub->async()->Heartbeat(context, &worker->heartbeat_request, &worker->heartbeat_response,
                                   [this, worker](grpc::Status s) {
                                     if (s.ok()) {
                                       ++heartbeats_;
                                     } else {
                                       Error("Heartbeat", s);
                                     }
                                     plan_.timer->At(absl::Now() + worker->heartbeat_interval,
                                                     [this, worker] { Heartbeat(worker); });
                                   });
}

absl::Duration WorkerFleet::heartbeat_interval() const {
  return workers_.empty() || workers_[0]->heartbeat_interval <= absl::ZeroDuration()
             ? absl::Seconds(5)
             : workers_[0]->heartbeat_interval;
}

int64_t WorkerFleet::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

absl::Time WorkerFleet::last_completion() const {
  absl::MutexLock lock(&mu_);
  return last_completion_;
}

std::string WorkerFleet::first_error() const {
  absl::MutexLock lock(&mu_);
  return first_error_;
}

}  // namespace kiln::bench
