#include "worker/agent/worker_agent.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/blob_transfer.h"
#include "client/channel_credentials.h"
#include "client/grpc_status.h"
#include "common/attempt_log.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "worker/agent/child_jobs.h"
#include "worker/agent/exec_probe.h"
#include "worker/agent/host_info.h"
#include "worker/agent/live_log_forwarder.h"
#include "worker/device/device_probe.h"

namespace kiln::agent {
namespace {

namespace fs = std::filesystem;
using kiln::v1::Assignment;
using kiln::v1::BlobRef;
using kiln::v1::ExitReason;

// Every call to the scheduler: a deadline, and the worker's bearer token when it has one.
void PrepareCall(grpc::ClientContext& context, const std::string& token, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// The scheduler no longer wants this attempt (cancelled, reassigned, stale).
bool IsRejectedAttempt(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) || absl::IsNotFound(status);
}

// Adds the models the slot's executor can run to the slot, and to the worker's
// catalogue once each (with the first reason a slot gave for not running one).
void AdvertiseModels(const kiln::v1::ExecReady& ready, kiln::v1::Slot* slot,
                     kiln::v1::WorkerCapabilities* caps) {
  for (const kiln::v1::ModelAvailability& model : ready.models()) {
    const std::string key = absl::StrCat(model.name(), "@", model.version());
    if (model.unavailable_reason().empty()) slot->add_models(key);
    kiln::v1::ModelAvailability* listed = nullptr;
    for (kiln::v1::ModelAvailability& m : *caps->mutable_models()) {
      if (m.name() == model.name() && m.version() == model.version()) listed = &m;
    }
    if (listed == nullptr) {
      *caps->add_models() = model;
    } else if (listed->unavailable_reason().empty() && !model.unavailable_reason().empty()) {
      listed->set_unavailable_reason(
          absl::StrCat("slot ", slot->index(), ": ", model.unavailable_reason()));
    }
  }
}

}  // namespace

// One execution slot. The slot thread owns the executor calls; mu guards what the
// heartbeat thread and Shutdown() look at.
struct WorkerAgent::Slot {
  int index = 0;
  // Host index of the slot's GPU; -1 for a CPU slot.
  int gpu = -1;
  // Device id advertised for the slot: "cpu" or "cuda:<gpu>".
  std::string device_id;
  std::unique_ptr<ExecutorSupervisor> executor;

  absl::Mutex mu;
  // The attempt this slot holds, from assignment until its report is done.
  std::optional<Lease> lease ABSL_GUARDED_BY(mu);
  // Set when the scheduler told us to abandon the attempt: do not report it.
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  // True while the executor runs the lease's task (so a kill reaches only that task).
  bool running ABSL_GUARDED_BY(mu) = false;
  // The slot's in-flight long call (acquire, blob transfer), cancelled by Shutdown().
  grpc::ClientContext* active_call ABSL_GUARDED_BY(mu) = nullptr;
  // Last progress forwarded, for rate limiting (slot thread only).
  absl::Time last_progress = absl::InfinitePast();
  // The executor's log file, and the running attempt's part of it (slot thread only,
  // lent to the slot's log thread while the task runs).
  std::string log_path;
  std::optional<AttemptLogCapture> capture;
  // When the slot's executor last probed its device (slot thread only).
  absl::Time last_probe = absl::Now();
  // Models the executor reported resident after its last task, and that executor's
  // pid: a restarted executor has nothing loaded (slot thread only).
  std::vector<std::string> loaded_models;
  int loaded_models_pid = 0;

  // Makes `context` the call that Shutdown() and abandonment cancel (nullptr: none).
  void SetActiveCall(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu);
    active_call = context;
  }
};

struct WorkerAgent::Outcome {
  enum Kind { kComplete, kFail, kDrop } kind = kDrop;
  // kFail:
  ExitReason reason = kiln::v1::EXIT_REASON_UNSPECIFIED;
  std::string message;
  bool permanent = false;
  // kComplete:
  std::vector<BlobRef> outputs;
  google::protobuf::Struct result;
  // The device could not run the task: probe it again once reported.
  bool reprobe = false;

  static Outcome Fail(ExitReason reason, std::string message, bool permanent = false) {
    Outcome o;
    o.kind = kFail;
    o.reason = reason;
    o.message = std::move(message);
    o.permanent = permanent;
    return o;
  }
  static Outcome Drop(std::string why) {
    Outcome o;
    o.message = std::move(why);
    return o;
  }
};

bool IsSafeName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string DefaultWorkerId(std::string_view absolute_work_dir) {
  std::string host = HostName().substr(0, 100);
  for (char& c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      c = '-';
    }
  }
  return absl::StrCat(
      host, "-",
      Sha256Hex(absl::string_view(absolute_work_dir.data(), absolute_work_dir.size()))
          .substr(0, 8));
}

absl::StatusOr<std::optional<std::vector<int>>> ParseGpuSelection(std::string_view text) {
  if (text == "auto") return std::optional<std::vector<int>>();
  std::vector<int> gpus;
  if (text == "none") return std::optional<std::vector<int>>(gpus);
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("--gpus=\"", std::string(text),
                                                   "\": expected auto, none or indices like 0,2"));
  };
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, end - start);
    if (item.empty() || item.size() > 4 ||
        !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad();
    }
    const int index = std::stoi(std::string(item));
    if (std::find(gpus.begin(), gpus.end(), index) != gpus.end()) return bad();
    gpus.push_back(index);
    if (end == text.size()) break;
    start = end + 1;
  }
  return std::optional<std::vector<int>>(gpus);
}

std::string DefaultExecPath() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "kiln-exec";
  return (self.parent_path() / "kiln-exec").string();
}

std::string DefaultModelRepository() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path repo = self.parent_path().parent_path() / "models";
  return fs::is_directory(repo, ec) ? repo.string() : "";
}

WorkerAgent::WorkerAgent(const WorkerAgentOptions& options)
    : options_(options), heartbeat_interval_(options.heartbeat_interval) {}

absl::StatusOr<std::unique_ptr<WorkerAgent>> WorkerAgent::Create(
    const WorkerAgentOptions& options) {
  if (options.scheduler_address.empty()) {
    return absl::InvalidArgumentError("scheduler_address is empty");
  }
  if (options.work_dir.empty()) return absl::InvalidArgumentError("work_dir is empty");
  if (!IsSafeName(options.worker_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker id \"", options.worker_id, "\" is not [A-Za-z0-9._-]{1,128}"));
  }
  if (options.slots < 0 || options.slots > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("slots must be 0..1024, not ", options.slots));
  }
  for (const char c : options.token) {
    // gRPC refuses such metadata at call time; say so at once, and by name.
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("token: only printable ASCII characters are allowed");
    }
  }
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                        SchedulerChannelCredentials(options.tls));
  std::error_code ec;
  const fs::path jobs_dir = fs::path(options.work_dir) / "jobs";
  fs::create_directories(jobs_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", jobs_dir.string(), ": ", ec.message()));
  }
  // Leftovers of attempts a previous run did not finish; their leases are gone.
  for (const auto& entry : fs::directory_iterator(jobs_dir, ec)) fs::remove_all(entry.path(), ec);

  std::unique_ptr<WorkerAgent> agent(new WorkerAgent(options));

  // Which GPUs get a slot: the probe lists them as this process sees them.
  std::vector<int> gpus;
  if (!options.gpus.has_value() || !options.gpus->empty()) {
    ExecProbeOptions probe;
    probe.exec_path = options.exec_path;
    probe.fake_devices = options.fake_devices;
    probe.log_path = (fs::path(options.work_dir) / "probe.log").string();
    probe.timeout = options.probe_timeout;
    absl::StatusOr<kiln::v1::ExecReady> ready = RunExecProbe(probe);
    if (absl::IsInvalidArgument(ready.status())) return ready.status();
    if (!ready.ok() && options.gpus.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot list the GPUs: ", ready.status().message()));
    }
    if (!ready.ok()) {
      KILN_LOG(WARNING) << "cannot list the GPUs, running without: " << ready.status();
    } else {
      agent->listed_gpus_.assign(ready->devices().begin(), ready->devices().end());
    }
    const int listed = static_cast<int>(agent->listed_gpus_.size());
    if (options.gpus.has_value()) {
      for (int index : *options.gpus) {
        if (index >= listed) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--gpus: no GPU ", index, "; kiln-exec --probe lists ", listed, " GPU(s)"));
        }
      }
      gpus = *options.gpus;
    } else {
      for (int i = 0; i < listed; ++i) gpus.push_back(i);
    }
  }
  if (options.slots == 0 && gpus.empty()) {
    return absl::InvalidArgumentError("no slots: 0 CPU slots and no GPU selected");
  }
  agent->gpu_slots_ = static_cast<int>(gpus.size());

  kiln::v1::WorkerCapabilities caps;
  *caps.add_devices() = ProbeCpuDevice();
  caps.set_hostname(HostName());
  caps.set_version(options.version);
  // GPU slots first, then CPU slots. Each executor sees only its slot's device; the CPU
  // slots' see none.
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const int total_slots = static_cast<int>(gpus.size()) + options.slots;
  for (int i = 0; i < total_slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    const bool gpu_slot = i < static_cast<int>(gpus.size());
    slot->gpu = gpu_slot ? gpus[i] : -1;
    slot->device_id = gpu_slot ? absl::StrCat("cuda:", slot->gpu) : "cpu";
    ExecutorSupervisorOptions exec_options;
    exec_options.exec_path = options.exec_path;
    exec_options.slot = i;
    exec_options.log_path =
        (fs::path(options.work_dir) / absl::StrCat("slot-", i, ".log")).string();
    slot->log_path = exec_options.log_path;
    exec_options.env = {{"CUDA_VISIBLE_DEVICES",
                         gpu_slot ? device::CudaVisibleDevicesForOrdinal(visible, slot->gpu) : ""}};
    if (!options.fake_devices.empty()) {
      exec_options.args.push_back(absl::StrCat("--fake-devices=", options.fake_devices));
    }
    if (!options.model_repo.empty()) {
      exec_options.args.push_back(absl::StrCat("--model-repo=", options.model_repo));
    }
    exec_options.ready_timeout = options.executor_ready_timeout;
    KILN_ASSIGN_OR_RETURN(slot->executor, ExecutorSupervisor::Create(exec_options));
    if (gpu_slot) {
      // The verdict of the process that will run the jobs, not of the probe.
      const kiln::v1::ExecReady ready = slot->executor->ready();
      *caps.add_devices() = AdvertisedGpuDevice(
          slot->gpu, ready.devices_size() > 0 ? &ready.devices(0) : nullptr,
          &agent->listed_gpus_[slot->gpu],
          absl::StrCat("the slot's executor sees no CUDA device (CUDA_VISIBLE_DEVICES=\"",
                       exec_options.env[0].second, "\")"));
    }
    kiln::v1::Slot* advertised = caps.add_slots();
    advertised->set_index(i);
    advertised->set_device_id(slot->device_id);
    for (const std::string& task : slot->executor->tasks()) advertised->add_tasks(task);
    AdvertiseModels(slot->executor->ready(), advertised, &caps);
    agent->slots_.push_back(std::move(slot));
  }
  {
    absl::MutexLock lock(&agent->mu_);
    agent->capabilities_ = std::move(caps);
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // gRPC's own reconnect backoff grows to 120 s; a restarted scheduler must see its
  // workers again within seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  AddTlsChannelArguments(options.tls, args);
  agent->channel_ = grpc::CreateCustomChannel(options.scheduler_address, credentials, args);
  agent->workers_ = kiln::v1::WorkerService::NewStub(agent->channel_);
  agent->jobs_ = kiln::v1::JobService::NewStub(agent->channel_);
  return agent;
}

WorkerAgent::~WorkerAgent() {
  Shutdown();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool WorkerAgent::ShuttingDown() const {
  absl::MutexLock lock(&mu_);
  return shutdown_;
}

bool WorkerAgent::StopAcquiring() const {
  absl::MutexLock lock(&mu_);
  return shutdown_ || draining_;
}

void WorkerAgent::Drain(absl::Duration grace) {
  if (grace <= absl::ZeroDuration()) {
    Shutdown();
    return;
  }
  bool registered;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_ || draining_) return;
    registered = running_;
  }
  // Not registered yet: nothing runs, nothing to wait for.
  if (!registered) {
    Shutdown();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_ || draining_) return;
    draining_ = true;
    drain_deadline_ = absl::Now() + grace;
    KILN_LOG(INFO) << "worker " << options_.worker_id << " draining: no new jobs; running ones "
                   << "may finish within " << absl::FormatDuration(grace);
  }
  // Idle slots wait in AcquireJob: end those calls. A slot holding a lease keeps its
  // blob transfers going.
  for (auto& slot : slots_) {
    absl::MutexLock lock(&slot->mu);
    if (!slot->lease.has_value() && slot->active_call != nullptr) slot->active_call->TryCancel();
  }
}

bool WorkerAgent::SleepUnlessShutdown(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&shutdown_), d);
  return !shutdown_;
}

void WorkerAgent::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    if (running_) KILN_LOG(INFO) << "worker " << options_.worker_id << " shutting down";
  }
  for (auto& slot : slots_) {
    absl::MutexLock lock(&slot->mu);
    if (slot->active_call != nullptr) slot->active_call->TryCancel();
    if (slot->running) slot->executor->Kill();
  }
}

kiln::v1::WorkerCapabilities WorkerAgent::capabilities() const {
  absl::MutexLock lock(&mu_);
  return capabilities_;
}

std::vector<SlotStatus> WorkerAgent::SlotStatuses() const {
  std::vector<SlotStatus> statuses;
  for (const auto& slot : slots_) {
    SlotStatus status;
    status.index = slot->index;
    status.device_id = slot->device_id;
    status.executor_restarts = slot->executor->restarts();
    status.executor_crashes = slot->executor->crashes();
    absl::MutexLock lock(&slot->mu);
    status.busy = slot->lease.has_value();
    statuses.push_back(std::move(status));
  }
  return statuses;
}

absl::Status WorkerAgent::RegisterOnce() {
  absl::MutexLock register_lock(&register_mu_);
  kiln::v1::RegisterWorkerRequest request;
  request.set_worker_id(options_.worker_id);
  *request.mutable_capabilities() = capabilities();
  kiln::v1::RegisterWorkerResponse response;
  grpc::ClientContext context;
  PrepareCall(context, options_.token, options_.rpc_timeout);
  KILN_RETURN_IF_ERROR(FromGrpcStatus(workers_->RegisterWorker(&context, request, &response),
                                      "RegisterWorker", options_.scheduler_address));
  absl::MutexLock lock(&mu_);
  if (response.has_heartbeat_interval()) {
    const absl::Duration interval = FromProtoDuration(response.heartbeat_interval());
    if (interval > absl::ZeroDuration()) heartbeat_interval_ = interval;
  }
  need_register_ = false;
  return absl::OkStatus();
}

absl::Status WorkerAgent::Run() {
  absl::Duration backoff = options_.register_backoff_initial;
  for (;;) {
    if (ShuttingDown()) return absl::OkStatus();
    const absl::Status status = RegisterOnce();
    if (status.ok()) break;
    KILN_LOG(WARNING) << "cannot register with " << options_.scheduler_address << ": " << status
                      << "; retrying in " << absl::FormatDuration(backoff);
    if (!SleepUnlessShutdown(backoff)) return absl::OkStatus();
    backoff = std::min(backoff * 2, options_.register_backoff_max);
  }
  KILN_LOG(INFO) << "kiln-worker " << options_.worker_id << " registered with "
                 << options_.scheduler_address << ", " << gpu_slots_ << " GPU slots, "
                 << options_.slots << " CPU slots";
  {
    absl::MutexLock lock(&mu_);
    running_ = true;
  }

  threads_.emplace_back([this] { HeartbeatLoop(); });
  {
    absl::MutexLock lock(&mu_);
    serving_slots_ = static_cast<int>(slots_.size());
  }
  for (auto& slot : slots_) {
    threads_.emplace_back([this, s = slot.get()] {
      SlotLoop(*s);
      absl::MutexLock lock(&mu_);
      --serving_slots_;
    });
  }
  {
    absl::MutexLock lock(&mu_);
    const auto stop_or_drain = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || draining_;
    };
    mu_.Await(absl::Condition(&stop_or_drain));
    if (!shutdown_) {
      // Draining: wait for the slots to go idle (each leaves SlotLoop() after its
      // attempt), the grace deadline, or a Shutdown().
      const auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || serving_slots_ == 0;
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&drained), drain_deadline_)) {
        KILN_LOG(INFO) << "drain grace period over: handing back the jobs still running";
      } else if (serving_slots_ == 0) {
        KILN_LOG(INFO) << "drained: every slot is idle";
      }
    }
  }
  Shutdown();  // Ends the heartbeat thread and, after a drain deadline, running attempts.
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  KILN_LOG(INFO) << "worker " << options_.worker_id << " stopped";
  return absl::OkStatus();
}

void WorkerAgent::HeartbeatLoop() {
  NameThisThread("heartbeat");
  for (;;) {
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      interval = heartbeat_interval_;
    }
    if (!SleepUnlessShutdown(interval)) return;
    HeartbeatOnce();
  }
}

bool WorkerAgent::UpdateDevice(const kiln::v1::Device& device, bool compare_memory) {
  absl::MutexLock lock(&mu_);
  for (kiln::v1::Device& advertised : *capabilities_.mutable_devices()) {
    if (advertised.id() != device.id()) continue;
    const bool changed = AdvertisedDeviceChanged(advertised, device, compare_memory);
    if (changed) {
      KILN_LOG(INFO) << "device " << device.id() << " is now "
                     << (device.runnable() ? "runnable"
                                           : "not runnable: " + device.unrunnable_reason())
                     << " (was "
                     << (advertised.runnable() ? "runnable"
                                               : "not runnable: " + advertised.unrunnable_reason())
                     << ")";
      advertised = device;
    }
    return changed;
  }
  return false;
}

void WorkerAgent::RegisterAfterChange(std::string_view why) {
  const absl::Status status = RegisterOnce();
  if (status.ok()) {
    KILN_LOG(INFO) << "re-registered with " << options_.scheduler_address << " (" << why << ")";
    return;
  }
  KILN_LOG(WARNING) << "re-register after " << why << " failed: " << status
                    << "; the heartbeat retries";
  absl::MutexLock lock(&mu_);
  need_register_ = true;
}

void WorkerAgent::ReprobeSlot(Slot& slot, absl::string_view why) {
  slot.last_probe = absl::Now();
  KILN_LOG(INFO) << "slot " << slot.index << ": restarting its executor to probe " << slot.device_id
                 << " again";
  const absl::Status status = slot.executor->Restart();
  if (!status.ok()) {
    // SlotLoop's EnsureRunning() keeps trying; the old verdict stays advertised.
    KILN_LOG(WARNING) << "slot " << slot.index << ": executor restart: " << status;
    return;
  }
  if (slot.gpu < 0) return;
  const kiln::v1::ExecReady ready = slot.executor->ready();
  const kiln::v1::Device device = AdvertisedGpuDevice(
      slot.gpu, ready.devices_size() > 0 ? &ready.devices(0) : nullptr, &listed_gpus_[slot.gpu],
      "the slot's executor no longer sees its CUDA device");
  if (UpdateDevice(device, /*compare_memory=*/true)) {
    RegisterAfterChange(absl::StrCat(slot.device_id, " changed at ", why));
  }
}

void WorkerAgent::HeartbeatOnce() {
  bool need_register;
  {
    absl::MutexLock lock(&mu_);
    need_register = need_register_;
  }
  if (need_register) {
    const absl::Status status = RegisterOnce();
    if (!status.ok()) {
      KILN_LOG(WARNING) << "re-register failed: " << status;
      return;
    }
    KILN_LOG(INFO) << "re-registered with " << options_.scheduler_address;
  }

  kiln::v1::HeartbeatRequest request;
  request.set_worker_id(options_.worker_id);
  for (auto& slot : slots_) {
    absl::MutexLock lock(&slot->mu);
    if (slot->lease && !slot->abandoned) {
      kiln::v1::HeldLease* held = request.add_leases();
      held->set_job_id(slot->lease->job_id);
      held->set_attempt(slot->lease->attempt);
    }
  }
  kiln::v1::HeartbeatResponse response;
  grpc::ClientContext context;
  PrepareCall(context, options_.token, options_.rpc_timeout);
  const absl::Status status = FromGrpcStatus(workers_->Heartbeat(&context, request, &response),
                                             "Heartbeat", options_.scheduler_address);
  if (!status.ok()) {
    KILN_LOG(WARNING) << "heartbeat failed: " << status;
    return;
  }
  for (const kiln::v1::HeldLease& abandon : response.abandon()) {
    for (auto& slot : slots_) {
      absl::MutexLock lock(&slot->mu);
      if (!slot->lease || slot->lease->job_id != abandon.job_id() ||
          slot->lease->attempt != abandon.attempt()) {
        continue;
      }
      KILN_LOG(INFO) << "slot " << slot->index << ": abandoning job " << abandon.job_id()
                     << " attempt " << abandon.attempt();
      slot->abandoned = true;
      if (slot->active_call != nullptr) slot->active_call->TryCancel();
      if (slot->running) slot->executor->Kill();
    }
  }
  if (response.reregister()) {
    absl::MutexLock lock(&mu_);
    need_register_ = true;
  }
}

void WorkerAgent::SlotLoop(Slot& slot) {
  NameThisThread(absl::StrCat("slot-", slot.index));
  absl::Duration backoff = absl::Milliseconds(200);
  std::string last_error;
  while (!StopAcquiring()) {
    // Re-probe on the slot's own thread while it is idle: the pinned executor
    // restarts and probes its device again, so no second process competes for
    // a GPU that runs jobs (exclusive-process mode, or memory held by a job).
    if (ReprobeDue(slot)) ReprobeSlot(slot, "the periodic re-probe");
    absl::Status status = slot.executor->EnsureRunning();
    if (absl::IsCancelled(status)) break;
    if (status.ok()) {
      kiln::v1::AcquireJobRequest request;
      request.set_worker_id(options_.worker_id);
      request.set_slot(slot.index);
      *request.mutable_wait() = ToProtoDuration(options_.acquire_wait);
      for (std::string& model : LoadedModels(slot)) request.add_loaded_models(std::move(model));
      kiln::v1::AcquireJobResponse response;
      grpc::ClientContext context;
      PrepareCall(context, options_.token, options_.acquire_wait + absl::Seconds(5));
      slot.SetActiveCall(&context);
      if (StopAcquiring()) context.TryCancel();  // Shutdown()/Drain() may have missed it.
      status = FromGrpcStatus(workers_->AcquireJob(&context, request, &response), "AcquireJob",
                              options_.scheduler_address);
      slot.SetActiveCall(nullptr);
      if (status.ok()) {
        backoff = absl::Milliseconds(200);
        last_error.clear();
        if (response.has_assignment()) {
          // A completion may bring the slot's next job along (acquire_next).
          std::optional<Assignment> next = RunAssignment(slot, response.assignment());
          while (next.has_value()) next = RunAssignment(slot, *next);
        }
        continue;
      }
      if (StopAcquiring()) break;
      if (IsRejectedAttempt(status)) {
        // The scheduler does not know this worker (e.g. it lost its state).
        absl::MutexLock lock(&mu_);
        need_register_ = true;
      }
    }
    // Log a repeated error once, not every retry.
    if (status.ToString() != last_error) {
      KILN_LOG(WARNING) << "slot " << slot.index << ": " << status << "; retrying";
      last_error = status.ToString();
    }
    {
      // Like SleepUnlessShutdown(), but a drain ends the wait too.
      absl::MutexLock lock(&mu_);
      const auto stop = [this]()
                            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutdown_ || draining_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) break;
    }
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

bool WorkerAgent::ReprobeDue(const Slot& slot) const {
  return slot.gpu >= 0 && options_.reprobe_interval > absl::ZeroDuration() &&
         absl::Now() - slot.last_probe >= options_.reprobe_interval;
}

std::vector<std::string> WorkerAgent::LoadedModels(const Slot& slot) const {
  // Only while the executor that loaded them is the one running.
  if (slot.loaded_models_pid == 0 || slot.loaded_models_pid != slot.executor->pid()) return {};
  return slot.loaded_models;
}

std::optional<Assignment> WorkerAgent::RunAssignment(Slot& slot, const Assignment& assignment) {
  const absl::Time attempt_start = absl::Now();
  const kiln::v1::Job& job = assignment.job();
  const Lease lease{job.id(), assignment.attempt()};
  {
    absl::MutexLock lock(&slot.mu);
    slot.lease = lease;
    slot.abandoned = false;
  }
  KILN_LOG(INFO) << "slot " << slot.index << " (" << slot.device_id << "): job " << lease.job_id
                 << " attempt " << lease.attempt << ": task " << job.spec().task() << ", tier "
                 << assignment.tier_index();

  Outcome outcome;
  std::string dir;
  if (!IsSafeName(lease.job_id)) {
    outcome = Outcome::Fail(kiln::v1::EXIT_REASON_WORKER_ERROR,
                            absl::StrCat("job id \"", lease.job_id, "\" is not a safe file name"));
  } else {
    dir = (fs::path(options_.work_dir) / "jobs" / absl::StrCat(lease.job_id, "-", lease.attempt))
              .string();
    outcome = Execute(slot, assignment, dir);
  }
  const bool reprobe = outcome.reprobe;  // Even when abandoned: the device failed.
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.abandoned) outcome = Outcome::Drop("abandoned by the scheduler");
  }
  std::optional<BlobRef> log;
  if (outcome.kind != Outcome::kDrop) log = UploadAttemptLog(slot, lease, dir);
  slot.capture.reset();
  if (options_.observer != nullptr) {
    AttemptReport report;
    report.task = job.spec().task();
    report.model = assignment.model().empty() ? job.spec().model() : assignment.model();
    report.device_id = slot.device_id;
    report.slot = slot.index;
    report.reason = outcome.kind == Outcome::kComplete ? kiln::v1::EXIT_REASON_SUCCEEDED
                    : outcome.kind == Outcome::kFail   ? outcome.reason
                                                       : kiln::v1::EXIT_REASON_UNSPECIFIED;
    report.duration = absl::Now() - attempt_start;
    report.summary = outcome.kind == Outcome::kComplete ? &outcome.result : nullptr;
    options_.observer->AttemptEnded(report);
  }

  absl::Status status;
  std::optional<Assignment> next;
  if (outcome.kind == Outcome::kComplete) {
    kiln::v1::CompleteJobRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_job_id(lease.job_id);
    request.set_attempt(lease.attempt);
    for (BlobRef& ref : outcome.outputs) *request.add_outputs() = std::move(ref);
    *request.mutable_result() = std::move(outcome.result);
    if (log.has_value()) *request.mutable_log() = *log;
    // The slot's next job in the same call, unless the slot must idle first (a
    // re-probe) or the worker stops taking work.
    if (!reprobe && !StopAcquiring() && !ReprobeDue(slot)) {
      request.set_acquire_next(true);
      for (std::string& model : LoadedModels(slot)) request.add_loaded_models(std::move(model));
    }
    kiln::v1::CompleteJobResponse response;
    status = Report("CompleteJob", request, &response, &kiln::v1::WorkerService::Stub::CompleteJob);
    if (status.ok()) {
      KILN_LOG(INFO) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                     << lease.attempt << " succeeded";
      if (response.has_next()) next = std::move(*response.mutable_next());
    }
  } else if (outcome.kind == Outcome::kFail) {
    KILN_LOG(INFO) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                   << lease.attempt << " failed (" << ExitReason_Name(outcome.reason)
                   << (outcome.permanent ? ", permanent" : "") << "): " << outcome.message;
    kiln::v1::FailJobRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_job_id(lease.job_id);
    request.set_attempt(lease.attempt);
    request.set_reason(outcome.reason);
    request.set_message(outcome.message);
    request.set_permanent(outcome.permanent);
    if (log.has_value()) *request.mutable_log() = *log;
    kiln::v1::FailJobResponse response;
    status = Report("FailJob", request, &response, &kiln::v1::WorkerService::Stub::FailJob);
  } else {
    KILN_LOG(INFO) << "slot " << slot.index << ": dropping job " << lease.job_id << " attempt "
                   << lease.attempt << ": " << outcome.message;
  }
  if (IsRejectedAttempt(status)) {
    KILN_LOG(INFO) << "slot " << slot.index << ": scheduler rejected the report for job "
                   << lease.job_id << " attempt " << lease.attempt << " (" << status
                   << "); dropped";
  } else if (!status.ok()) {
    // The lease lapses and the scheduler requeues the job.
    KILN_LOG(ERROR) << "slot " << slot.index << ": could not report job " << lease.job_id
                    << " attempt " << lease.attempt << ": " << status;
  }

  if (!dir.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) KILN_LOG(WARNING) << "cannot remove " << dir << ": " << ec.message();
  }
  {
    absl::MutexLock lock(&slot.mu);
    slot.lease.reset();
    slot.abandoned = false;
  }
  // Before the slot asks for more work, so that a device that turned out unusable is
  // advertised as such first.
  if (reprobe && !ShuttingDown()) ReprobeSlot(slot, "a device-cannot-run failure");
  return next;
}

WorkerAgent::Outcome WorkerAgent::Execute(Slot& slot, const Assignment& assignment,
                                          const std::string& dir) {
  const kiln::v1::Job& job = assignment.job();
  const Lease lease{job.id(), assignment.attempt()};
  const auto worker_error = [](std::string message) {
    return Outcome::Fail(kiln::v1::EXIT_REASON_WORKER_ERROR, std::move(message));
  };
  // Not the job's fault: the scheduler requeues it without using up an attempt.
  const auto handed_back = [] {
    return Outcome::Fail(kiln::v1::EXIT_REASON_WORKER_STOPPING, "worker shutting down");
  };
  const fs::path in_dir = fs::path(dir) / "in";
  const fs::path out_dir = fs::path(dir) / "out";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(in_dir, ec);
  if (!ec) fs::create_directories(out_dir, ec);
  if (ec) return worker_error(absl::StrCat("cannot create ", dir, ": ", ec.message()));

  // Stage inputs.
  kiln::v1::RunTaskRequest run;
  run.set_job_id(lease.job_id);
  run.set_attempt(lease.attempt);
  run.set_task(job.spec().task());
  // What to run is the chosen tier's model and merged parameters; an assignment without
  // them (an older scheduler) means the job's own.
  const bool tiered = assignment.has_parameters() || !assignment.model().empty();
  run.set_model(tiered ? assignment.model() : job.spec().model());
  *run.mutable_parameters() = tiered ? assignment.parameters() : job.spec().parameters();
  run.set_output_dir(out_dir.string());
  for (const BlobRef& ref : job.spec().inputs()) {
    if (!IsSafeName(ref.name())) {
      return worker_error(absl::StrCat("input name \"", ref.name(), "\" is not a safe file name"));
    }
    const std::string path = (in_dir / ref.name()).string();
    if (fs::exists(path)) return worker_error(absl::StrCat("duplicate input name ", ref.name()));
    const absl::Status status = DownloadBlob(slot, ref, path);
    if (!status.ok()) {
      if (ShuttingDown()) return handed_back();
      return worker_error(absl::StrCat("staging input ", ref.name(), ": ", status.ToString()));
    }
    kiln::v1::LocalFile* file = run.add_inputs();
    file->set_name(ref.name());
    file->set_path(path);
  }

  // Tell the scheduler the attempt started: this moves the job to RUNNING.
  {
    kiln::v1::ReportProgressRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_job_id(lease.job_id);
    request.set_attempt(lease.attempt);
    request.set_progress(0);
    request.set_message("started");
    kiln::v1::ReportProgressResponse response;
    const absl::Status status = Report("ReportProgress", request, &response,
                                       &kiln::v1::WorkerService::Stub::ReportProgress);
    if (IsRejectedAttempt(status)) return Outcome::Drop(status.ToString());
    // Otherwise run anyway: heartbeats keep the lease, and the end report decides.
    if (!status.ok()) KILN_LOG(WARNING) << "start report failed: " << status;
  }

  {
    absl::MutexLock lock(&slot.mu);
    if (slot.abandoned) return Outcome::Drop("abandoned by the scheduler");
    if (ShuttingDown()) return handed_back();
    slot.running = true;
  }
  const absl::Time deadline =
      job.spec().has_timeout() && FromProtoDuration(job.spec().timeout()) > absl::ZeroDuration()
          ? absl::Now() + FromProtoDuration(job.spec().timeout())
          : absl::InfiniteFuture();
  slot.last_progress = absl::InfinitePast();
  // From here on, what the executor writes to its log is this attempt's output.
  slot.capture.emplace(slot.log_path);
  std::optional<LiveLogForwarder> live_log;
  if (options_.log_interval > absl::ZeroDuration()) {
    LiveLogForwarderOptions live;
    live.interval = options_.log_interval;
    live.max_chunk_bytes = options_.log_chunk_bytes;
    live.skip_after_bytes = std::max<int64_t>(options_.log_chunk_bytes, 1 << 20);
    live.thread_name = absl::StrCat("log-", slot.index);
    live_log.emplace(live, &*slot.capture, [this, &slot, lease](const AttemptLogCapture::Chunk& c) {
      ForwardLog(slot, lease, c);
    });
  }
  absl::StatusOr<kiln::v1::ExecResult> result = slot.executor->Run(
      run, [&](const kiln::v1::ExecProgress& progress) { ForwardProgress(slot, lease, progress); },
      deadline,
      [&](const kiln::v1::ExecSubmitChildren& submit) {
        return SubmitChildren(slot, lease, dir, submit);
      });
  if (live_log.has_value()) live_log->Stop();
  if (result.ok()) {
    slot.loaded_models.assign(result->loaded_models().begin(), result->loaded_models().end());
    slot.loaded_models_pid = slot.executor->pid();
  }
  {
    absl::MutexLock lock(&slot.mu);
    slot.running = false;
    if (slot.abandoned) return Outcome::Drop("abandoned by the scheduler");
  }
  if (!result.ok()) {
    if (ShuttingDown()) return handed_back();
    if (absl::IsDeadlineExceeded(result.status())) {
      return Outcome::Fail(
          kiln::v1::EXIT_REASON_TIMEOUT,
          absl::StrCat("job ran past its timeout of ",
                       absl::FormatDuration(FromProtoDuration(job.spec().timeout())),
                       "; executor killed"));
    }
    if (absl::IsAborted(result.status())) {
      // An illegal instruction says the device cannot run the code (wrong
      // architecture), not that the job is bad.
      if (absl::StrContains(result.status().message(), "(SIGILL)")) {
        Outcome outcome = Outcome::Fail(kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN,
                                        std::string(result.status().message()));
        outcome.reprobe = true;
        return outcome;
      }
      return Outcome::Fail(kiln::v1::EXIT_REASON_EXECUTOR_CRASH,
                           std::string(result.status().message()));
    }
    return worker_error(absl::StrCat("executor: ", result.status().message()));
  }
  if (!result->ok() && result->device_cannot_run()) {
    // Not the job's fault: the scheduler sends it elsewhere without using an attempt.
    Outcome outcome = Outcome::Fail(kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN, result->error());
    outcome.reprobe = true;
    return outcome;
  }
  if (!result->ok()) {
    return Outcome::Fail(kiln::v1::EXIT_REASON_TASK_ERROR, result->error(), result->permanent());
  }

  // Upload outputs; they must lie inside the output directory.
  if (ShuttingDown()) return handed_back();
  Outcome outcome;
  outcome.kind = Outcome::kComplete;
  const fs::path out_root = fs::weakly_canonical(out_dir, ec);
  for (const kiln::v1::LocalFile& file : result->outputs()) {
    if (!IsSafeName(file.name())) {
      return worker_error(absl::StrCat("output name \"", file.name(), "\" is not a safe name"));
    }
    const fs::path path = fs::weakly_canonical(out_dir / file.path(), ec);
    const auto [root_end, unused] =
        std::mismatch(out_root.begin(), out_root.end(), path.begin(), path.end());
    if (ec || root_end != out_root.end()) {
      return worker_error(absl::StrCat("output ", file.name(), " (", file.path(),
                                       ") is not inside the output directory"));
    }
    absl::StatusOr<BlobRef> ref = UploadBlob(slot, file.name(), path.string());
    if (!ref.ok()) {
      if (ShuttingDown()) return handed_back();
      return worker_error(
          absl::StrCat("uploading output ", file.name(), ": ", ref.status().ToString()));
    }
    outcome.outputs.push_back(*std::move(ref));
  }
  outcome.result = std::move(*result->mutable_summary());
  return outcome;
}

void WorkerAgent::ForwardProgress(Slot& slot, const Lease& lease,
                                  const kiln::v1::ExecProgress& progress) {
  const absl::Time now = absl::Now();
  if (now - slot.last_progress < options_.progress_interval) return;
  slot.last_progress = now;
  kiln::v1::ReportProgressRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_job_id(lease.job_id);
  request.set_attempt(lease.attempt);
  request.set_progress(std::clamp(progress.fraction(), 0.0, 1.0));
  request.set_message(progress.message());
  kiln::v1::ReportProgressResponse response;
  grpc::ClientContext context;  // Best effort: one try, short deadline.
  PrepareCall(context, options_.token, std::min(options_.rpc_timeout, absl::Seconds(5)));
  const absl::Status status = FromGrpcStatus(workers_->ReportProgress(&context, request, &response),
                                             "ReportProgress", options_.scheduler_address);
  if (IsRejectedAttempt(status)) {
    // Cancelled or reassigned: stop the task now rather than at the next heartbeat.
    KILN_LOG(INFO) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                   << lease.attempt << " rejected by the scheduler (" << status << ")";
    absl::MutexLock lock(&slot.mu);
    slot.abandoned = true;
    slot.executor->Kill();
  } else if (!status.ok()) {
    KILN_LOG(WARNING) << "slot " << slot.index << ": progress report failed: " << status;
  }
}

kiln::v1::ExecChildrenResult WorkerAgent::SubmitChildren(
    Slot& slot, const Lease& lease, const std::string& dir,
    const kiln::v1::ExecSubmitChildren& submit) {
  kiln::v1::SubmitChildJobsRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_job_id(lease.job_id);
  request.set_attempt(lease.attempt);
  request.set_call_id(submit.call_id());
  for (int i = 0; i < submit.children_size(); ++i) {
    const kiln::v1::ExecChildSpec& child = submit.children(i);
    kiln::v1::JobSpec& spec = *request.add_specs() = child.spec();
    for (int f = 0; f < child.files_size(); ++f) {
      absl::StatusOr<std::string> path = ResolveChildFile(dir, child.files(f), i, f);
      if (!path.ok()) return ChildrenFailure(submit.call_id(), path.status());
      absl::StatusOr<BlobRef> ref = UploadBlob(slot, child.files(f).name(), *path);
      if (!ref.ok()) {
        return ChildrenFailure(
            submit.call_id(),
            absl::Status(ref.status().code(), absl::StrCat("uploading children[", i, "].files[", f,
                                                           "]: ", ref.status().message())));
      }
      *spec.add_inputs() = *std::move(ref);
    }
  }
  kiln::v1::SubmitChildJobsResponse response;
  // Retrying is safe: the same call_id gives the same children.
  const absl::Status status = Report("SubmitChildJobs", request, &response,
                                     &kiln::v1::WorkerService::Stub::SubmitChildJobs);
  if (!status.ok()) {
    KILN_LOG(WARNING) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                      << lease.attempt << ": SubmitChildJobs " << submit.call_id() << ": "
                      << status;
    return ChildrenFailure(submit.call_id(), status);
  }
  kiln::v1::ExecChildrenResult result;
  result.set_call_id(submit.call_id());
  result.set_ok(true);
  for (const kiln::v1::SubmitJobResponse& child : response.results()) {
    result.add_job_ids(child.job().id());
  }
  KILN_LOG(INFO) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                 << lease.attempt << " submitted " << result.job_ids_size() << " children ("
                 << submit.call_id() << ")";
  return result;
}

void WorkerAgent::ForwardLog(Slot& slot, const Lease& lease,
                             const AttemptLogCapture::Chunk& chunk) {
  kiln::v1::ReportProgressRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_job_id(lease.job_id);
  request.set_attempt(lease.attempt);
  request.set_log_only(true);
  request.set_log_offset(chunk.offset);
  request.set_log_chunk(chunk.bytes);
  kiln::v1::ReportProgressResponse response;
  grpc::ClientContext context;  // Best effort: one try, short deadline.
  PrepareCall(context, options_.token, std::min(options_.rpc_timeout, absl::Seconds(5)));
  const absl::Status status = FromGrpcStatus(workers_->ReportProgress(&context, request, &response),
                                             "ReportProgress", options_.scheduler_address);
  if (!status.ok()) {
    // Stale attempts are the heartbeat's and the progress reports' business.
    KILN_LOG(WARNING) << "slot " << slot.index << ": live log for job " << lease.job_id
                      << " not sent: " << status;
  }
}

std::optional<BlobRef> WorkerAgent::UploadAttemptLog(Slot& slot, const Lease& lease,
                                                     const std::string& dir) {
  if (!slot.capture.has_value() || dir.empty()) return std::nullopt;
  const std::string name = AttemptLogName(lease.attempt);
  const std::string path = (fs::path(dir) / name).string();
  absl::StatusOr<int64_t> size = slot.capture->WriteLog(path, options_.max_attempt_log_bytes);
  absl::StatusOr<BlobRef> ref =
      size.ok() ? UploadBlob(slot, name, path) : absl::StatusOr<BlobRef>(size.status());
  if (!ref.ok()) {
    KILN_LOG(WARNING) << "slot " << slot.index << ": job " << lease.job_id << " attempt "
                      << lease.attempt << ": log not kept: " << ref.status();
    return std::nullopt;
  }
  return *std::move(ref);
}

template <typename Request, typename Response>
absl::Status WorkerAgent::Report(std::string_view what, const Request& request, Response* response,
                                 grpc::Status (kiln::v1::WorkerService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*)) {
  // When shutting down, one try: the scheduler requeues on lease expiry anyway.
  const int attempts = ShuttingDown() ? 1 : std::max(1, options_.report_attempts);
  absl::Duration backoff = options_.report_backoff_initial;
  absl::Status status;
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) {
      KILN_LOG(WARNING) << what << " for job " << request.job_id() << ": " << status
                        << "; retrying in " << absl::FormatDuration(backoff);
      if (!SleepUnlessShutdown(backoff)) break;
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    grpc::ClientContext context;
    PrepareCall(context, options_.token, options_.rpc_timeout);
    status =
        FromGrpcStatus((workers_.get()->*method)(&context, request, response),
                       absl::string_view(what.data(), what.size()), options_.scheduler_address);
    if (!absl::IsUnavailable(status) && !absl::IsDeadlineExceeded(status)) return status;
  }
  return status;
}

absl::Status WorkerAgent::DownloadBlob(Slot& slot, const BlobRef& ref, const std::string& path) {
  grpc::ClientContext context;
  PrepareCall(context, options_.token, options_.blob_timeout);
  slot.SetActiveCall(&context);
  if (ShuttingDown()) context.TryCancel();
  const absl::Status status =
      DownloadBlobToFile(*jobs_, context, options_.scheduler_address, ref.sha256(), path);
  slot.SetActiveCall(nullptr);
  return status;
}

absl::StatusOr<BlobRef> WorkerAgent::UploadBlob(Slot& slot, const std::string& name,
                                                const std::string& path) {
  grpc::ClientContext context;
  PrepareCall(context, options_.token, options_.blob_timeout);
  slot.SetActiveCall(&context);
  if (ShuttingDown()) context.TryCancel();
  absl::StatusOr<BlobRef> ref =
      UploadFileAsBlob(*jobs_, context, options_.scheduler_address, path, name);
  slot.SetActiveCall(nullptr);
  return ref;
}

}  // namespace kiln::agent
