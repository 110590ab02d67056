#include "scheduler/core/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/capability_match.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace kiln::core {
namespace {

using kiln::v1::Job;
using kiln::v1::JobState;

constexpr char kNextSeqKey[] = "next_job_seq";
// Attempts that do not count against max_attempts (device-cannot-run, lost
// assignments) may add at most this many more.
constexpr int kMaxUncountedAttempts = 10;
constexpr size_t kMaxListPageBytes = 2 << 20;
// Largest result summary a worker may record on a job.
constexpr size_t kMaxResultBytes = 64 << 10;
// Largest log_chunk of one ReportProgress (workers send at most 64 KiB).
constexpr size_t kMaxLogChunkBytes = 1 << 20;

std::string JobIdForSeq(uint64_t seq) { return absl::StrFormat("j-%016x", seq); }

bool SeqFromJobId(absl::string_view id, uint64_t* seq) {
  if (id.size() != 18 || id.substr(0, 2) != "j-") return false;
  for (char c : id.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return absl::SimpleHexAtoi(id.substr(2), seq);
}

bool IsTerminal(JobState state) {
  return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
         state == kiln::v1::JOB_STATE_CANCELLED;
}

bool IsLeased(JobState state) {
  return state == kiln::v1::JOB_STATE_ASSIGNED || state == kiln::v1::JOB_STATE_RUNNING;
}

std::string StateName(JobState state) {
  std::string name = kiln::v1::JobState_Name(state);
  return name.substr(std::string("JOB_STATE_").size());
}

absl::Status ValidJobId(const std::string& job_id, absl::string_view field) {
  uint64_t seq = 0;
  if (!SeqFromJobId(job_id, &seq)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", job_id.substr(0, 40), "\" is not a job id (j-<16 hex>)"));
  }
  return absl::OkStatus();
}

bool LabelsMatch(const Job& job, const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    auto it = job.spec().labels().find(key);
    if (it == job.spec().labels().end() || it->second != value) return false;
  }
  return true;
}

// What a queued job waits for, in words, for `kilnctl describe` and watchers.
std::string WaitingFor(const kiln::v1::JobSpec& spec) {
  const kiln::v1::Requirements& req = spec.requirements();
  std::string device = req.accelerator() == kiln::v1::ACCELERATOR_GPU   ? "a GPU"
                       : req.accelerator() == kiln::v1::ACCELERATOR_CPU ? "a CPU"
                                                                        : "any device";
  std::string out = absl::StrCat("waiting for a free slot running ", spec.task(), " on ", device);
  if (req.min_compute_capability() > 0) {
    absl::StrAppend(&out, ", compute capability >= ", req.min_compute_capability() / 10, ".",
                    req.min_compute_capability() % 10);
  }
  if (req.max_compute_capability() > 0) {
    absl::StrAppend(&out, ", compute capability <= ", req.max_compute_capability() / 10, ".",
                    req.max_compute_capability() % 10);
  }
  if (!req.architectures().empty()) {
    absl::StrAppend(&out, ", architecture ", absl::StrJoin(req.architectures(), " or "));
  }
  if (req.min_device_memory_bytes() > 0) {
    absl::StrAppend(&out, ", >= ", req.min_device_memory_bytes() >> 20, " MiB of memory");
  }
  return out;
}

// What a device-cannot-run failure marks: this device with this task and model
// (tasks without a model are told apart by their kind).
std::string IncapableKey(const std::string& worker_id, const std::string& device_id,
                         const kiln::v1::JobSpec& spec, int tier) {
  return absl::StrCat(worker_id, "/", device_id, "/", spec.task(), "/", TierModel(spec, tier));
}

// A commit callback that answers `done` with `value` once the write is durable,
// or with the write's error.
template <typename T>
std::function<void(absl::Status)> AnswerWhenDurable(T value,
                                                    std::function<void(absl::StatusOr<T>)> done) {
  return [value = std::move(value), done = std::move(done)](absl::Status status) mutable {
    if (status.ok()) {
      done(std::move(value));
    } else {
      done(status);
    }
  };
}

// The answer of a CompleteJob: it goes out when the completion and, with acquire_next,
// the next assignment are durable, whichever is last, and never from under the
// scheduler's lock (the caller holds the answer until it has unlocked).
class CompletionAnswer {
 public:
  explicit CompletionAnswer(Scheduler::Callback<kiln::v1::CompleteJobResponse> done)
      : done_(std::move(done)) {}
  // One more result to wait for.
  void Expect() {
    absl::MutexLock lock(&mu_);
    ++pending_;
  }
  void CompletionStored(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      completion_ = std::move(status);
    }
    Release();
  }
  void NextStored(absl::StatusOr<kiln::v1::AcquireJobResponse> assigned) {
    {
      absl::MutexLock lock(&mu_);
      // A next assignment that was not stored is no assignment: memory is reloaded
      // from the store, where the job is still queued.
      if (assigned.ok() && assigned->has_assignment()) {
        *response_.mutable_next() = std::move(*assigned->mutable_assignment());
      }
    }
    Release();
  }
  // The completion was refused before anything was written.
  void Refused(absl::Status status) {
    absl::MutexLock lock(&mu_);
    completion_ = std::move(status);
  }
  // Drops one expected result (the caller's own hold: it starts at one).
  void Release() {
    absl::Status status;
    kiln::v1::CompleteJobResponse response;
    {
      absl::MutexLock lock(&mu_);
      if (--pending_ > 0) return;
      status = completion_;
      response = std::move(response_);
    }
    if (status.ok()) {
      done_(std::move(response));
    } else {
      // The completion failed: a next job assigned with it lapses and is requeued.
      done_(status);
    }
  }

 private:
  absl::Mutex mu_;
  int pending_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status completion_ ABSL_GUARDED_BY(mu_);
  kiln::v1::CompleteJobResponse response_ ABSL_GUARDED_BY(mu_);
  Scheduler::Callback<kiln::v1::CompleteJobResponse> done_;
};

// The log blob an attempt's end report names (field `field`), with its stored size; an
// empty reference means none.
absl::StatusOr<kiln::v1::BlobRef> CheckLogRef(const Scheduler& scheduler,
                                              const kiln::v1::BlobRef& log,
                                              absl::string_view field) {
  if (log.sha256().empty() && log.name().empty()) return log;
  if (!IsSafeName(log.name(), 128)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".name: must be 1..128 characters of [A-Za-z0-9._-]"));
  }
  absl::StatusOr<kiln::v1::StoredBlob> blob = scheduler.GetBlob(log.sha256());
  if (!blob.ok()) {
    return absl::Status(blob.status().code() == absl::StatusCode::kNotFound
                            ? absl::StatusCode::kFailedPrecondition
                            : blob.status().code(),
                        absl::StrCat(field, ".sha256: ", blob.status().message()));
  }
  kiln::v1::BlobRef checked = log;
  checked.set_size_bytes(blob->size_bytes());
  return checked;
}

// Which attempt a GetJobLog request means (1-based).
absl::StatusOr<int> ResolveLogAttempt(const Job& job, int requested) {
  if (job.attempts().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id(), " is ", StateName(job.state()), " and has no attempt yet: no log yet"));
  }
  if (requested > job.attempts_size()) {
    return absl::OutOfRangeError(absl::StrCat("attempt: job ", job.id(), " has ",
                                              job.attempts_size(), " attempt(s), not ", requested));
  }
  return requested == 0 ? job.attempts_size() : requested;
}

bool AttemptEnded(const kiln::v1::Attempt& attempt) {
  return attempt.exit_reason() != kiln::v1::EXIT_REASON_UNSPECIFIED || attempt.has_ended_at();
}

// The store key of a client request id: request ids are per tenant (the default
// tenant keeps the bare id, as before tenants existed).
std::string RequestKey(absl::string_view tenant, const std::string& request_id) {
  const std::string effective = auth::EffectiveTenant(tenant);
  if (effective == auth::kDefaultTenant) return request_id;
  return absl::StrCat(effective, "/", request_id);
}

std::string RequestKeyOf(const Job& job) {
  return RequestKey(job.tenant(), job.spec().client_request_id());
}

// The GetJobLog answer for an attempt that ended (or one that can no longer report).
kiln::v1::GetJobLogResponse EndedLogResponse(const Job& job, int attempt_number, int64_t offset) {
  const kiln::v1::Attempt& attempt = job.attempts(attempt_number - 1);
  kiln::v1::GetJobLogResponse response;
  response.set_attempt(attempt_number);
  response.set_offset(offset);
  response.set_next_offset(offset);
  response.set_ended(true);
  if (attempt.has_log()) *response.mutable_log() = attempt.log();
  response.set_exit_reason(attempt.exit_reason());
  response.set_job_state(job.state());
  return response;
}

}  // namespace

Scheduler::Scheduler(const SchedulerOptions& options, store::Store* store,
                     store::GroupCommitter* committer)
    : options_(options),
      clock_(options.clock),
      store_(store),
      committer_(committer),
      log_tails_(options.log_tails) {
  absl::MutexLock lock(&mu_);
  fair_share_.SetPolicy(options.sharing);
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerOptions& options,
                                                             store::Store* store,
                                                             store::GroupCommitter* committer) {
  std::unique_ptr<Scheduler> scheduler(new Scheduler(options, store, committer));
  {
    absl::MutexLock lock(&scheduler->mu_);
    KILN_RETURN_IF_ERROR(scheduler->RecoverLocked());
  }
  if (options.run_ticker) {
    Scheduler* self = scheduler.get();
    scheduler->ticker_ = std::thread([self] {
      pthread_setname_np(pthread_self(), "kiln-tick");
      self->RunTicker();
    });
  }
  return scheduler;
}

Scheduler::~Scheduler() {
  stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  // Commit callbacks call into this object: let the ones in flight finish first.
  committer_->Drain();
  std::vector<Callback<kiln::v1::AcquireJobResponse>> parked;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, waiter] : waiters_) parked.push_back(std::move(waiter.done));
    waiters_.clear();
    waiter_order_.clear();
  }
  for (auto& done : parked) done(absl::UnavailableError("scheduler shutting down"));
  for (auto& [done, answer] : log_tails_.Shutdown()) done(std::move(answer));
}

absl::Status Scheduler::RecoverLocked() {
  const absl::Time now = clock_->Now();
  jobs_.clear();
  queue_ = JobQueue();
  delayed_.clear();
  leases_.clear();
  reserved_.clear();
  fair_share_.Clear();
  class_reasons_.clear();
  class_placement_.clear();
  pending_requests_.clear();
  workers_.clear();
  active_per_tenant_.clear();
  waiting_.clear();
  dependents_.clear();
  children_.clear();
  slot_reservations_.clear();
  to_pack_.clear();

  KILN_ASSIGN_OR_RETURN(std::optional<std::string> next, store_->GetMeta(kNextSeqKey));
  next_seq_ = 1;
  if (next.has_value() && !absl::SimpleAtoi(*next, &next_seq_)) {
    return absl::DataLossError(absl::StrCat("corrupt ", kNextSeqKey, ": ", *next));
  }
  // Every record is parsed into this one message; a queued job keeps its record as read
  // (packed), so a million queued jobs cost neither a parsed copy each nor a serialization.
  Job parsed;
  // Reads the record of `job_id` into `parsed`; nullopt when there is none.
  auto read = [&](const std::string& job_id) -> absl::StatusOr<std::optional<std::string>> {
    KILN_ASSIGN_OR_RETURN(std::optional<std::string> record, store_->GetJobRecord(job_id));
    if (!record.has_value()) return std::nullopt;
    if (!parsed.ParseFromString(*record)) return absl::DataLossError("corrupt record in jobs");
    // Memory indexes jobs by the record's id; a record stored under another key would
    // be queued or leased under an id that is not in jobs_ (found by fuzz_store_record).
    if (parsed.id() != job_id) {
      return absl::DataLossError(
          absl::StrCat("corrupt record in jobs: key \"", absl::CHexEscape(job_id.substr(0, 40)),
                       "\" holds job id \"", absl::CHexEscape(parsed.id().substr(0, 40)), "\""));
    }
    return record;
  };
  // Adds the job just read (`parsed`), unpacked unless a record to keep packed is given.
  auto keep = [&](const std::string& job_id, std::string* packed_record) -> ActiveJob& {
    ActiveJob& active = jobs_[job_id];
    SeqFromJobId(job_id, &active.seq);
    if (packed_record != nullptr) {
      active.SetPacked(std::move(*packed_record), parsed);
    } else {
      active.job() = parsed;
    }
    ++active_per_tenant_[auth::EffectiveTenant(parsed.tenant())];
    if (!parsed.parent_job_id().empty()) children_[parsed.parent_job_id()].insert(job_id);
    return active;
  };
  absl::Status status;
  KILN_RETURN_IF_ERROR(store_->ForEachQueued([&](const std::string& job_id) {
    absl::StatusOr<std::optional<std::string>> record = read(job_id);
    if (!record.ok()) {
      status = record.status();
      return false;
    }
    // A stale index entry is skipped: the job record is the truth.
    if (!record->has_value() || parsed.state() != kiln::v1::JOB_STATE_QUEUED) return true;
    EnqueueLocked(keep(job_id, &**record), parsed);
    return true;
  }));
  KILN_RETURN_IF_ERROR(status);
  KILN_RETURN_IF_ERROR(store_->ForEachLease([&](const kiln::v1::StoredLease& lease) {
    if (jobs_.contains(lease.job_id())) return true;  // queued: the job record decided
    absl::StatusOr<std::optional<std::string>> record = read(lease.job_id());
    if (!record.ok()) {
      status = record.status();
      return false;
    }
    if (!record->has_value() || !IsLeased(parsed.state())) return true;
    // A lease is held by the job's last attempt on one of its tiers; a record without
    // one would be read out of bounds below (found by fuzz_store_record).
    if (parsed.attempts().empty() || parsed.attempts().rbegin()->tier_index() < 0 ||
        parsed.attempts().rbegin()->tier_index() >= TierCount(parsed.spec())) {
      status = absl::DataLossError(absl::StrCat("corrupt record in jobs: leased job \"",
                                                absl::CHexEscape(lease.job_id().substr(0, 40)),
                                                "\" has no attempt on one of its tiers"));
      return false;
    }
    ActiveJob& active = keep(lease.job_id(), nullptr);
    // Lease deadlines are not stored: every lease gets a full period after a
    // restart, so live workers keep their jobs and dead ones lose them.
    SetLeaseLocked(active, now + options_.lease_duration);
    ReserveLocked(active, +1);
    return true;
  }));
  KILN_RETURN_IF_ERROR(status);
  std::vector<std::string> waiting_ids;
  KILN_RETURN_IF_ERROR(store_->ForEachWaiting([&](const std::string& job_id) {
    if (jobs_.contains(job_id)) return true;  // queued or leased: the job record decided
    absl::StatusOr<std::optional<std::string>> record = read(job_id);
    if (!record.ok()) {
      status = record.status();
      return false;
    }
    if (!record->has_value() || parsed.state() != kiln::v1::JOB_STATE_WAITING) return true;
    keep(job_id, nullptr);
    waiting_ids.push_back(job_id);
    return true;
  }));
  KILN_RETURN_IF_ERROR(status);
  KILN_RETURN_IF_ERROR(store_->ForEachWorker([&](const kiln::v1::WorkerInfo& info) {
    workers_[info.id()] = WorkerState{info, now, {}};
    return true;
  }));
  reload_needed_ = false;
  KILN_RETURN_IF_ERROR(RecoverPipelinesLocked(waiting_ids));
  return absl::OkStatus();
}

void Scheduler::CommitLocked(store::WriteSet writes, std::vector<std::string> job_ids,
                             std::function<void(absl::Status)> then,
                             std::vector<std::string> blob_shas) {
  std::vector<Job> snapshots;
  for (const std::string& id : job_ids) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    ++it->second.commits_in_flight;
    // Copies only for watchers: one who subscribes later reads the change in GetJob.
    if (watch_hub_.Watched(id)) snapshots.push_back(it->second.Copy());
  }
  ++commits_in_flight_;
  // The bookkeeping runs under mu_, which the committer takes once for the whole
  // group; the answers run after it, unlocked.
  store::GroupCommitter::Settle settle{
      &mu_,
      [this, job_ids = std::move(job_ids), blob_shas = std::move(blob_shas)](absl::Status status) {
        mu_.AssertHeld();
        --commits_in_flight_;
        if (!status.ok()) reload_needed_ = true;
        for (const std::string& id : job_ids) {
          auto it = jobs_.find(id);
          if (it == jobs_.end()) continue;
          ActiveJob& active = it->second;
          --active.commits_in_flight;
          if (active.commits_in_flight == 0 && IsTerminal(active.state())) {
            if (!active.job().spec().client_request_id().empty()) {
              pending_requests_.erase(RequestKeyOf(active.job()));
            }
            jobs_.erase(it);
          }
        }
        // Once the write ended, later grants of these blobs read the store again.
        for (const std::string& sha : blob_shas) {
          auto blob = pending_blobs_.find(sha);
          if (blob != pending_blobs_.end() && --blob->second.writes == 0) {
            pending_blobs_.erase(blob);
          }
        }
      }};
  committer_->Commit(
      std::move(writes),
      [this, snapshots = std::move(snapshots), then = std::move(then)](absl::Status status) {
        if (status.ok()) {
          for (const Job& job : snapshots) watch_hub_.Publish(job);
        }
        then(status);
      },
      std::move(settle));
}

absl::Status Scheduler::WritableLocked() const {
  if (!reload_needed_) return absl::OkStatus();
  return absl::UnavailableError("the scheduler is recovering from a failed store write; retry");
}

void Scheduler::TouchLocked(ActiveJob& active) {
  *active.job().mutable_updated_at() = ToProtoTime(clock_->Now());
  active.job().set_revision(active.job().revision() + 1);
}

void Scheduler::EnqueueLocked(ActiveJob& active) { EnqueueLocked(active, active.job()); }

void Scheduler::EnqueueLocked(ActiveJob& active, const Job& job) {
  const absl::Time not_before =
      job.has_not_before() ? FromProtoTime(job.not_before()) : absl::InfinitePast();
  if (not_before > clock_->Now()) {
    delayed_.emplace(not_before, job.id());
  } else {
    QueueLocked(active, job);
    dispatch_needed_ = true;
  }
}

void Scheduler::QueueLocked(const ActiveJob& active, const Job& job) {
  queue_.Push(job.spec(), active.seq, job.id(), fair_share_.ShareOf(job));
  if (!active.packed()) to_pack_.push_back(job.id());
}

void Scheduler::PackQueuedLocked() {
  for (const std::string& id : to_pack_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && it->second.state() == kiln::v1::JOB_STATE_QUEUED) {
      it->second.Pack();
    }
  }
  to_pack_.clear();
}

void Scheduler::SetLeaseLocked(ActiveJob& active, absl::Time deadline) {
  leases_.erase({active.lease_deadline, active.job().id()});
  active.lease_deadline = deadline;
  leases_.emplace(deadline, active.job().id());
}

void Scheduler::ClearLeaseLocked(ActiveJob& active) {
  ReserveLocked(active, -1);
  dispatch_needed_ = true;  // the slot's memory (and the slot) may fit other work now
  leases_.erase({active.lease_deadline, active.job().id()});
  active.lease_deadline = absl::InfinitePast();
}

// ---------------------------------------------------------------------------
// JobService

void Scheduler::Submit(std::vector<kiln::v1::JobSpec> specs, bool batch, const SubmitOrigin& origin,
                       Callback<std::vector<kiln::v1::SubmitJobResponse>> done) {
  SubmitImpl(std::move(specs), batch, origin, /*parent=*/nullptr, std::move(done));
}

void Scheduler::SubmitImpl(std::vector<kiln::v1::JobSpec> specs, bool batch,
                           const SubmitOrigin& origin,
                           const kiln::v1::SubmitChildJobsRequest* parent,
                           Callback<std::vector<kiln::v1::SubmitJobResponse>> done) {
  const std::string tenant = auth::EffectiveTenant(origin.tenant);
  auto field_of = [batch](size_t i) {
    return batch ? absl::StrCat("specs[", i, "]") : std::string("spec");
  };
  if (batch && static_cast<int>(specs.size()) > options_.limits.max_batch_size) {
    done(absl::InvalidArgumentError(absl::StrCat("specs: ", specs.size(),
                                                 " jobs exceed the batch limit of ",
                                                 options_.limits.max_batch_size)));
    return;
  }
  if (batch && specs.empty()) {
    done(absl::InvalidArgumentError("specs: empty batch"));
    return;
  }
  // Validation and blob look-ups happen before the lock: they touch no shared state.
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string field = field_of(i);
    if (absl::Status s = ValidateJobSpec(specs[i], options_.limits, field); !s.ok()) {
      done(s);
      return;
    }
    for (int j = 0; j < specs[i].inputs_size(); ++j) {
      kiln::v1::BlobRef* input = specs[i].mutable_inputs(j);
      absl::StatusOr<std::optional<kiln::v1::StoredBlob>> blob = store_->GetBlob(input->sha256());
      if (!blob.ok()) {
        done(blob.status());
        return;
      }
      // A blob the tenant may not read answers as a missing one: nothing is given away.
      if (!blob->has_value() ||
          (!origin.any_input_blob && !auth::TenantMayReadBlob(**blob, tenant))) {
        done(absl::FailedPreconditionError(
            absl::StrCat(field, ".inputs[", j, "].sha256: blob ", input->sha256(),
                         " not found; upload it with PutBlob first")));
        return;
      }
      input->set_size_bytes((*blob)->size_bytes());
    }
    if (specs[i].max_attempts() == 0) specs[i].set_max_attempts(options_.default_max_attempts);
  }

  std::vector<kiln::v1::SubmitJobResponse> results(specs.size());
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    error = WritableLocked();
    // Children: the parent's attempt must hold the lease (scheduler_dependencies.cc).
    if (error.ok() && parent != nullptr) error = CheckParentLocked(*parent);
    const std::string parent_id = parent != nullptr ? parent->job_id() : "";
    const absl::Time now = clock_->Now();
    store::WriteSet writes;
    std::vector<std::string> new_ids;
    std::vector<std::string> request_ids;
    for (size_t i = 0; i < specs.size() && error.ok(); ++i) {
      kiln::v1::JobSpec& spec = specs[i];
      const std::string request_id =
          spec.client_request_id().empty() ? "" : RequestKey(tenant, spec.client_request_id());
      if (!request_id.empty()) {
        absl::StatusOr<std::optional<std::string>> existing_id = std::nullopt;
        if (auto it = pending_requests_.find(request_id); it != pending_requests_.end()) {
          // Only a duplicate within this very batch can be answered now; the
          // original of an earlier call is not durable yet.
          if (std::find(request_ids.begin(), request_ids.end(), request_id) == request_ids.end()) {
            error = absl::UnavailableError(
                absl::StrCat("client_request_id \"", spec.client_request_id(),
                             "\": the first submit is still being stored; retry"));
            break;
          }
          existing_id = it->second;
        } else {
          existing_id = store_->GetRequestJobId(request_id);
        }
        if (!existing_id.ok()) {
          error = existing_id.status();
          break;
        }
        if (existing_id->has_value()) {
          results[i].set_deduplicated(true);
          if (auto it = jobs_.find(**existing_id); it != jobs_.end()) {
            *results[i].mutable_job() = it->second.job();
          } else if (absl::StatusOr<std::optional<Job>> job = store_->GetJob(**existing_id);
                     job.ok() && job->has_value()) {
            *results[i].mutable_job() = **job;
          } else {
            error = job.ok() ? absl::DataLossError(
                                   absl::StrCat("request id ", request_id, " names a missing job"))
                             : job.status();
          }
          if (error.ok() && auth::EffectiveTenant(results[i].job().tenant()) != tenant) {
            // Only a tenant-prefixed key of another tenant can collide like this.
            error = absl::FailedPreconditionError(
                absl::StrCat(field_of(i), ".client_request_id: already used; choose another"));
            results[i].clear_job();
          }
          continue;
        }
      }
      if (active_per_tenant_[tenant] + static_cast<int64_t>(new_ids.size()) >=
          options_.max_queued_per_tenant) {
        error = absl::ResourceExhaustedError(
            absl::StrCat("tenant ", tenant, " has ", active_per_tenant_[tenant] + new_ids.size(),
                         " queued or running jobs", batch ? " (with this batch)" : "",
                         ", the limit of max_queued_per_tenant (", options_.max_queued_per_tenant,
                         "); wait for some to finish"));
        break;
      }
      absl::StatusOr<DependencyCheck> deps = CheckDependenciesLocked(spec, i, results, field_of(i));
      if (!deps.ok()) {
        error = deps.status();
        break;
      }
      const uint64_t seq = next_seq_++;
      ActiveJob& active = jobs_[JobIdForSeq(seq)];
      active.seq = seq;
      Job& job = active.job();
      job.set_id(JobIdForSeq(seq));
      job.set_tenant(tenant);
      *job.mutable_spec() = std::move(spec);
      job.set_state(kiln::v1::JOB_STATE_QUEUED);
      *job.mutable_created_at() = ToProtoTime(now);
      *job.mutable_updated_at() = ToProtoTime(now);
      job.set_revision(1);
      job.set_status_message(WaitingFor(job.spec()));
      // WAITING, or resolved at once by dependencies that already finished.
      ApplyDependencyCheckLocked(*std::move(deps), parent_id, active, writes);
      writes.PutJob(job);
      if (job.state() == kiln::v1::JOB_STATE_QUEUED) writes.MarkQueued(job.id());
      if (!request_id.empty()) {
        writes.PutRequestId(request_id, job.id());
        // Until the commit is durable the store cannot answer for this id.
        pending_requests_[request_id] = job.id();
        request_ids.push_back(request_id);
      }
      if (job.state() == kiln::v1::JOB_STATE_QUEUED) {
        QueueLocked(active, job);
      }
      *results[i].mutable_job() = job;
      new_ids.push_back(job.id());
    }
    if (!error.ok()) {
      // Undo the in-memory jobs of this request; nothing was written.
      for (const std::string& id : new_ids) {
        queue_.Remove(id);
        jobs_.erase(id);
      }
      for (const std::string& id : request_ids) pending_requests_.erase(id);
    } else if (!new_ids.empty()) {
      stats_.jobs_submitted += new_ids.size();
      // Jobs finished at birth (a dependency failed) are counted off again by
      // LinkNewJobsLocked's ObserveEndLocked.
      active_per_tenant_[tenant] += new_ids.size();
      writes.PutMeta(kNextSeqKey, absl::StrCat(next_seq_));
      std::vector<std::string> changed = new_ids;
      LinkNewJobsLocked(new_ids, parent_id, writes, changed);
      CommitLocked(std::move(writes), std::move(changed),
                   [this, results = std::move(results), request_ids = std::move(request_ids),
                    done = std::move(done)](absl::Status status) mutable {
                     {
                       absl::MutexLock lock(&mu_);
                       for (const std::string& id : request_ids) pending_requests_.erase(id);
                     }
                     if (!status.ok()) {
                       done(status);
                     } else {
                       done(std::move(results));
                     }
                   });
      // Parked slots have no fitting work (every dispatch leaves them so), so only
      // the new jobs need a slot, unless something else changed meanwhile.
      if (dispatch_needed_) {
        DispatchLocked();
      } else {
        DispatchNewJobsLocked(new_ids);
      }
      return;
    }
  }
  if (!error.ok()) {
    done(error);
  } else {
    done(std::move(results));  // Every spec was a resubmit of a known request id.
  }
}

absl::StatusOr<Job> Scheduler::GetJob(const std::string& job_id) const {
  KILN_RETURN_IF_ERROR(ValidJobId(job_id, "job_id"));
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return WithPendingReasonLocked(it->second.Copy());
  }
  KILN_ASSIGN_OR_RETURN(std::optional<Job> job, store_->GetJob(job_id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  return *std::move(job);
}

absl::StatusOr<kiln::v1::ListJobsResponse> Scheduler::ListJobs(
    const kiln::v1::ListJobsRequest& request) const {
  return ListJobs(request, nullptr);
}

absl::StatusOr<kiln::v1::ListJobsResponse> Scheduler::ListJobs(
    const kiln::v1::ListJobsRequest& request,
    const std::function<bool(const kiln::v1::Job&)>& also) const {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError("page_size: must be 0..1000");
  }
  if (!request.page_token().empty())
    KILN_RETURN_IF_ERROR(ValidJobId(request.page_token(), "page_token"));
  if (!kiln::v1::JobState_IsValid(request.state())) {
    return absl::InvalidArgumentError("state: unknown value");
  }
  const int page_size = request.page_size() == 0 ? 100 : request.page_size();
  kiln::v1::ListJobsResponse response;
  int scanned = 0;
  std::string last_id;
  bool more = false;
  KILN_RETURN_IF_ERROR(store_->ForEachJobNewestFirst(request.page_token(), [&](const Job& stored) {
    // Pages stay well below gRPC's default 4 MiB receive limit of clients.
    if (response.jobs_size() == page_size || scanned == options_.max_list_scan ||
        response.ByteSizeLong() > kMaxListPageBytes) {
      more = true;
      return false;
    }
    ++scanned;
    last_id = stored.id();
    Job job = stored;
    {
      // The in-memory job is newer (progress, uncommitted transitions).
      absl::MutexLock lock(&mu_);
      if (auto it = jobs_.find(stored.id()); it != jobs_.end()) {
        job = WithPendingReasonLocked(it->second.Copy());
      }
    }
    if (request.state() != kiln::v1::JOB_STATE_UNSPECIFIED && job.state() != request.state()) {
      return true;
    }
    if (!LabelsMatch(job, request.labels())) return true;
    if (!request.tenant().empty() && auth::EffectiveTenant(job.tenant()) != request.tenant()) {
      return true;
    }
    if (also != nullptr && !also(job)) return true;
    *response.add_jobs() = std::move(job);
    return true;
  }));
  if (more) response.set_next_page_token(last_id);
  return response;
}

void Scheduler::Cancel(const std::string& job_id, const std::string& reason, Callback<Job> done) {
  if (absl::Status s = ValidJobId(job_id, "job_id"); !s.ok()) {
    done(s);
    return;
  }
  if (reason.size() > 1024) {
    done(absl::InvalidArgumentError("reason: longer than 1024 characters"));
    return;
  }
  absl::StatusOr<Job> result;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (absl::Status writable = WritableLocked(); !writable.ok()) {
      result = writable;
    } else if (it == jobs_.end() || IsTerminal(it->second.state())) {
      // Terminal or unknown: report what is stored.
      absl::StatusOr<Job> job = it != jobs_.end() ? absl::StatusOr<Job>(it->second.job())
                                                  : absl::StatusOr<Job>(absl::NotFoundError(""));
      if (it == jobs_.end()) {
        absl::StatusOr<std::optional<Job>> stored = store_->GetJob(job_id);
        if (!stored.ok()) {
          job = stored.status();
        } else if (!stored->has_value()) {
          job = absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
        } else {
          job = **stored;
        }
      }
      if (job.ok() && job->state() != kiln::v1::JOB_STATE_CANCELLED) {
        job = absl::FailedPreconditionError(
            absl::StrCat("job ", job_id, " already finished as ", StateName(job->state())));
      }
      result = std::move(job);
    } else {
      store::WriteSet writes;
      CancelJobLocked(it->second,
                      reason.empty() ? "cancelled by client" : absl::StrCat("cancelled: ", reason),
                      writes);
      Job snapshot = it->second.job();
      // Its dependents and children follow, in the same write.
      std::vector<std::string> changed = {job_id};
      PropagateFinishLocked(job_id, writes, changed);
      CommitLocked(std::move(writes), std::move(changed),
                   AnswerWhenDurable(std::move(snapshot), std::move(done)));
      if (dispatch_needed_) DispatchLocked();
      return;
    }
  }
  done(std::move(result));
}

void Scheduler::CancelJobLocked(ActiveJob& active, const std::string& message,
                                store::WriteSet& writes) {
  const absl::Time now = clock_->Now();
  const std::string& job_id = active.job().id();
  if (active.state() == kiln::v1::JOB_STATE_QUEUED) {
    queue_.Remove(job_id);
    if (active.job().has_not_before()) {
      delayed_.erase({FromProtoTime(active.job().not_before()), job_id});
    }
    writes.UnmarkQueued(job_id);
  } else if (active.state() == kiln::v1::JOB_STATE_WAITING) {
    // Its entries in dependents_ are skipped (no longer WAITING) when those finish.
    waiting_.erase(job_id);
    active.waiting_on.clear();
    writes.UnmarkWaiting(job_id);
  } else {
    kiln::v1::Attempt* attempt = active.job().mutable_attempts(active.job().attempts_size() - 1);
    *attempt->mutable_ended_at() = ToProtoTime(now);
    attempt->set_exit_reason(kiln::v1::EXIT_REASON_CANCELLED);
    attempt->set_message(message);
    ClearLeaseLocked(active);
    writes.DeleteLease(job_id);
  }
  active.job().set_state(kiln::v1::JOB_STATE_CANCELLED);
  active.job().set_status_message(message);
  *active.job().mutable_finished_at() = ToProtoTime(now);
  TouchLocked(active);
  writes.PutJob(active.job());
  ++stats_.jobs_cancelled;
  ObserveEndLocked(active, /*attempt_ended=*/!active.job().attempts().empty() &&
                               active.job().attempts().rbegin()->exit_reason() ==
                                   kiln::v1::EXIT_REASON_CANCELLED);
}

absl::StatusOr<std::optional<kiln::v1::StoredBlob>> Scheduler::GrantedBlobLocked(
    const std::string& sha256, const BlobGrant& grant, const kiln::v1::StoredBlob* fresh) const {
  kiln::v1::StoredBlob record;
  bool legacy = false;
  bool changed = false;  // a new record, or new readers
  if (auto it = pending_blobs_.find(sha256); it != pending_blobs_.end()) {
    record = it->second.blob;
    // Written again so that this caller, too, is answered only once it is durable.
    changed = true;
  } else {
    KILN_ASSIGN_OR_RETURN(std::optional<kiln::v1::StoredBlob> stored, store_->GetBlob(sha256));
    if (stored.has_value()) {
      record = *std::move(stored);
      // Stored before tenants existed: the default tenant's, which it must stay.
      legacy = record.tenants().empty() && record.worker_uploaders().empty();
    } else if (fresh != nullptr) {
      record = *fresh;
      record.clear_tenants();
      record.clear_worker_uploaders();
      changed = true;
    } else {
      return absl::NotFoundError(absl::StrCat("blob ", sha256, " not found"));
    }
  }
  auto add = [&changed](google::protobuf::RepeatedPtrField<std::string>* list,
                        const std::string& value) {
    if (value.empty() || std::find(list->begin(), list->end(), value) != list->end()) return;
    *list->Add() = value;
    changed = true;
  };
  if (legacy && !grant.tenant.empty() && grant.tenant != auth::kDefaultTenant) {
    add(record.mutable_tenants(), auth::kDefaultTenant);
  }
  add(record.mutable_tenants(), grant.tenant);
  add(record.mutable_worker_uploaders(), grant.worker);
  if (!changed) return std::nullopt;
  return record;
}

absl::StatusOr<std::vector<kiln::v1::StoredBlob>> Scheduler::GrantedToJobLocked(
    const Job& job, const std::vector<kiln::v1::BlobRef>& outputs, const kiln::v1::BlobRef& log) {
  const BlobGrant grant{auth::EffectiveTenant(job.tenant()), ""};
  std::vector<kiln::v1::StoredBlob> granted;
  std::vector<std::string> shas;
  for (const kiln::v1::BlobRef& output : outputs) shas.push_back(output.sha256());
  if (!log.sha256().empty()) shas.push_back(log.sha256());
  for (const std::string& sha : shas) {
    KILN_ASSIGN_OR_RETURN(std::optional<kiln::v1::StoredBlob> blob,
                          GrantedBlobLocked(sha, grant, nullptr));
    if (blob.has_value()) granted.push_back(*std::move(blob));
  }
  return granted;
}

void Scheduler::RecordBlobLocked(const kiln::v1::StoredBlob& blob, store::WriteSet& writes,
                                 std::vector<std::string>& pending) {
  writes.PutBlob(blob);
  PendingBlob& entry = pending_blobs_[blob.sha256()];
  entry.blob = blob;
  ++entry.writes;
  pending.push_back(blob.sha256());
}

void Scheduler::PutBlob(const kiln::v1::StoredBlob& blob, const BlobGrant& grant,
                        std::function<void(absl::Status)> done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = WritableLocked();
    absl::StatusOr<std::optional<kiln::v1::StoredBlob>> record = std::nullopt;
    if (status.ok()) record = GrantedBlobLocked(blob.sha256(), grant, &blob);
    if (!record.ok()) status = record.status();
    if (status.ok() && record->has_value()) {
      store::WriteSet writes;
      std::vector<std::string> pending;
      RecordBlobLocked(**record, writes, pending);
      CommitLocked(std::move(writes), {}, std::move(done), std::move(pending));
      return;
    }
  }
  // Nothing new to record (the blob and its readers are stored), or an error.
  done(status);
}

bool Scheduler::IsInputOfLeasedJob(
    const std::string& sha256,
    const std::function<bool(const std::string&)>& worker_allowed) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [deadline, job_id] : leases_) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || it->second.job().attempts().empty()) continue;
    const Job& job = it->second.job();
    if (!worker_allowed(job.attempts().rbegin()->worker_id())) continue;
    for (const kiln::v1::BlobRef& input : job.spec().inputs()) {
      if (input.sha256() == sha256) return true;
    }
  }
  return false;
}

absl::StatusOr<kiln::v1::StoredBlob> Scheduler::GetBlob(const std::string& sha256) const {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError("sha256: must be 64 lower-case hex digits");
  }
  KILN_ASSIGN_OR_RETURN(std::optional<kiln::v1::StoredBlob> blob, store_->GetBlob(sha256));
  if (!blob.has_value()) return absl::NotFoundError(absl::StrCat("blob ", sha256, " not found"));
  return *std::move(blob);
}

std::vector<kiln::v1::WorkerInfo> Scheduler::ListWorkers() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  std::vector<kiln::v1::WorkerInfo> workers;
  for (const auto& [id, state] : workers_) {
    kiln::v1::WorkerInfo info = state.info;
    *info.mutable_last_seen_at() = ToProtoTime(state.last_seen);
    info.set_lost(now - state.last_seen > options_.worker_lost_after);
    workers.push_back(std::move(info));
  }
  for (const auto& [id, active] : jobs_) {
    if (!IsLeased(active.state())) continue;
    const std::string& worker = active.job().attempts().rbegin()->worker_id();
    for (auto& info : workers) {
      if (info.id() == worker) info.add_job_ids(id);
    }
  }
  std::sort(workers.begin(), workers.end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  return workers;
}

void Scheduler::DrainWorker(const std::string& worker_id, bool draining,
                            Callback<kiln::v1::WorkerInfo> done) {
  if (!IsSafeName(worker_id, 128)) {
    done(absl::InvalidArgumentError("worker_id: must be 1..128 characters of [A-Za-z0-9._-]"));
    return;
  }
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    auto worker = workers_.find(worker_id);
    if (error = WritableLocked(); !error.ok()) {
    } else if (worker == workers_.end()) {
      error = absl::NotFoundError(absl::StrCat("worker ", worker_id, " not found"));
    } else {
      WorkerState& state = worker->second;
      state.info.set_draining(draining);
      store::WriteSet writes;
      writes.PutWorker(state.info);
      kiln::v1::WorkerInfo answer = state.info;
      *answer.mutable_last_seen_at() = ToProtoTime(state.last_seen);
      answer.set_lost(clock_->Now() - state.last_seen > options_.worker_lost_after);
      for (const auto& [id, active] : jobs_) {
        if (IsLeased(active.state()) &&
            active.job().attempts().rbegin()->worker_id() == worker_id) {
          answer.add_job_ids(id);
        }
      }
      CommitLocked(std::move(writes), {}, AnswerWhenDurable(std::move(answer), std::move(done)));
      if (!draining) {
        dispatch_needed_ = true;  // its parked slots may take queued work now
        DispatchLocked();
      }
      return;
    }
  }
  done(error);
}

// ---------------------------------------------------------------------------
// WorkerService

void Scheduler::RegisterWorker(const kiln::v1::RegisterWorkerRequest& request,
                               Callback<kiln::v1::RegisterWorkerResponse> done) {
  auto invalid = [&](std::string message) { done(absl::InvalidArgumentError(std::move(message))); };
  if (!IsSafeName(request.worker_id(), 128)) {
    return invalid("worker_id: must be 1..128 characters of [A-Za-z0-9._-]");
  }
  const kiln::v1::WorkerCapabilities& caps = request.capabilities();
  if (caps.slots_size() == 0)
    return invalid("capabilities.slots: a worker needs at least one slot");
  if (caps.slots_size() > options_.max_slots_per_worker) {
    return invalid(
        absl::StrCat("capabilities.slots: more than the limit of ", options_.max_slots_per_worker));
  }
  for (int i = 0; i < caps.slots_size(); ++i) {
    const kiln::v1::Slot& slot = caps.slots(i);
    if (slot.index() != i) {
      return invalid(absl::StrCat("capabilities.slots[", i, "].index: must be ", i));
    }
    bool found = false;
    for (const auto& device : caps.devices()) found |= device.id() == slot.device_id();
    if (!found) {
      return invalid(absl::StrCat("capabilities.slots[", i, "].device_id: no device \"",
                                  slot.device_id(), "\" in capabilities.devices"));
    }
    if (slot.models_size() > options_.max_models_per_slot) {
      return invalid(absl::StrCat("capabilities.slots[", i, "].models: more than the limit of ",
                                  options_.max_models_per_slot));
    }
  }
  absl::Status writable;
  {
    absl::MutexLock lock(&mu_);
    writable = WritableLocked();
    if (writable.ok()) {
      const absl::Time now = clock_->Now();
      WorkerState& state = workers_[request.worker_id()];
      state.info.set_id(request.worker_id());
      *state.info.mutable_capabilities() = caps;
      state.loaded_models.assign(caps.slots_size(), {});
      *state.info.mutable_registered_at() = ToProtoTime(now);
      state.last_seen = now;
      dispatch_needed_ = true;  // parked slots of this worker may fit other work now
      store::WriteSet writes;
      writes.PutWorker(state.info);
      kiln::v1::RegisterWorkerResponse response;
      *response.mutable_heartbeat_interval() = ToProtoDuration(options_.heartbeat_interval);
      *response.mutable_lease_duration() = ToProtoDuration(options_.lease_duration);
      CommitLocked(std::move(writes), {}, AnswerWhenDurable(std::move(response), std::move(done)));
      return;
    }
  }
  done(writable);
}

const kiln::v1::Device* Scheduler::SlotDeviceLocked(const std::string& worker_id, int slot_index,
                                                    const kiln::v1::Slot** slot) const {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return nullptr;
  const kiln::v1::WorkerCapabilities& caps = worker->second.info.capabilities();
  if (slot_index < 0 || slot_index >= caps.slots_size()) return nullptr;
  *slot = &caps.slots(slot_index);
  for (const auto& device : caps.devices()) {
    if (device.id() == (*slot)->device_id()) return &device;
  }
  return nullptr;
}

int64_t Scheduler::ReservedLocked(const std::string& worker_id,
                                  const std::string& device_id) const {
  auto it = reserved_.find(absl::StrCat(worker_id, "/", device_id));
  return it == reserved_.end() ? 0 : it->second;
}

void Scheduler::ReserveLocked(const ActiveJob& active, int sign) {
  fair_share_.CountRunning(active.job(), sign);
  const kiln::v1::Attempt& attempt = *active.job().attempts().rbegin();
  const int64_t bytes =
      TierRequirements(active.job().spec(), attempt.tier_index()).min_device_memory_bytes();
  if (bytes == 0) return;
  const std::string key = absl::StrCat(attempt.worker_id(), "/", attempt.device());
  reserved_[key] += sign * bytes;
  if (reserved_[key] <= 0) reserved_.erase(key);
}

bool Scheduler::HasLoadedModelsLocked(const std::string& worker_id, int slot_index) const {
  auto worker = workers_.find(worker_id);
  return worker != workers_.end() && slot_index >= 0 &&
         slot_index < static_cast<int>(worker->second.loaded_models.size()) &&
         !worker->second.loaded_models[slot_index].empty();
}

bool Scheduler::WarmLocked(const std::string& worker_id, int slot_index,
                           const kiln::v1::JobSpec& spec, int tier) const {
  const std::string& model = TierModel(spec, tier);
  if (model.empty()) return false;
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end() || slot_index < 0 ||
      slot_index >= static_cast<int>(worker->second.loaded_models.size())) {
    return false;
  }
  return AnyModelMatches(model, worker->second.loaded_models[slot_index]);
}

bool Scheduler::IncapableLocked(const std::string& worker_id, const std::string& device_id,
                                const kiln::v1::JobSpec& spec, int tier, absl::Time now) const {
  if (incapable_.empty()) return false;
  auto it = incapable_.find(IncapableKey(worker_id, device_id, spec, tier));
  return it != incapable_.end() && it->second > now;
}

std::optional<int> Scheduler::FittingTierLocked(const std::string& worker_id,
                                                const kiln::v1::Device& device,
                                                const kiln::v1::Slot& slot,
                                                const kiln::v1::JobSpec& spec,
                                                int64_t reserved_bytes, absl::Time now) const {
  for (int tier = 0; tier < TierCount(spec); ++tier) {
    if (!Fits(device, slot, spec, tier, reserved_bytes)) continue;
    if (IncapableLocked(worker_id, device.id(), spec, tier, now)) continue;
    return tier;
  }
  return std::nullopt;
}

bool Scheduler::TryAssignLocked(const std::string& worker_id, int slot_index,
                                Callback<kiln::v1::AcquireJobResponse>& done, int only_tier,
                                std::optional<JobQueue::Pick> only, bool only_warm) {
  // A drained worker keeps what it holds and gets nothing new (DrainWorker).
  if (auto worker = workers_.find(worker_id);
      worker != workers_.end() && worker->second.info.draining()) {
    return false;
  }
  const kiln::v1::Slot* slot = nullptr;
  const kiln::v1::Device* device = SlotDeviceLocked(worker_id, slot_index, &slot);
  if (device == nullptr) return false;
  const absl::Time now = clock_->Now();
  const int64_t reserved = ReservedLocked(worker_id, device->id());
  // Rank: the earliest tier this slot runs first, and within it the most
  // specific work, so a capable device takes what only it can run first.
  // (Lower ranks win.)
  std::optional<std::string> job_id = queue_.PopBest(
      [&](const kiln::v1::JobSpec& spec) -> std::optional<int64_t> {
        std::optional<int> tier = FittingTierLocked(worker_id, *device, *slot, spec, reserved, now);
        if (!tier.has_value() || (only_tier >= 0 && *tier != only_tier)) return std::nullopt;
        // Then work whose model this slot has loaded (no load time).
        const bool warm = WarmLocked(worker_id, slot_index, spec, *tier);
        if (only_warm && !warm) return std::nullopt;
        return (int64_t{*tier} * 1000 - Specificity(TierRequirements(spec, *tier))) * 2 -
               (warm ? 1 : 0);
      },
      std::move(only), &fair_share_);
  if (!job_id.has_value()) return false;

  ActiveJob& active = jobs_.at(*job_id);
  const int tier =
      FittingTierLocked(worker_id, *device, *slot, active.job().spec(), reserved, now).value_or(0);
  AssignLocked(active, worker_id, slot_index, *device, tier, done);
  return true;
}

void Scheduler::AssignLocked(ActiveJob& active, const std::string& worker_id, int slot_index,
                             const kiln::v1::Device& device, int tier,
                             Callback<kiln::v1::AcquireJobResponse>& done) {
  const absl::Time now = clock_->Now();
  const kiln::v1::JobSpec& spec = active.job().spec();
  kiln::v1::Attempt* attempt = active.job().add_attempts();
  attempt->set_number(active.job().attempts_size());
  attempt->set_worker_id(worker_id);
  attempt->set_slot(slot_index);
  attempt->set_device(device.id());
  attempt->set_tier_index(tier);
  attempt->set_tier(TierName(spec, tier));
  *attempt->mutable_assigned_at() = ToProtoTime(now);
  if (options_.observer != nullptr) {
    // Ready since its submit, or since its retry backoff ended.
    const absl::Time ready = active.job().has_not_before()
                                 ? FromProtoTime(active.job().not_before())
                                 : FromProtoTime(active.job().created_at());
    options_.observer->JobAssigned(active.job(), &device,
                                   std::max(now - ready, absl::ZeroDuration()));
  }
  active.job().set_state(kiln::v1::JOB_STATE_ASSIGNED);
  active.job().set_progress(0);
  active.job().clear_progress_message();
  active.job().clear_not_before();
  active.job().set_status_message(absl::StrCat("assigned to ", worker_id, " slot ", slot_index,
                                               " (", device.id(), ", tier ", attempt->tier(), ")"));
  TouchLocked(active);
  SetLeaseLocked(active, now + options_.lease_duration);
  ReserveLocked(active, +1);

  store::WriteSet writes;
  writes.PutJob(active.job());
  writes.UnmarkQueued(active.job().id());
  kiln::v1::StoredLease lease;
  lease.set_job_id(active.job().id());
  lease.set_attempt(attempt->number());
  lease.set_worker_id(worker_id);
  lease.set_slot(slot_index);
  writes.PutLease(lease);

  kiln::v1::AcquireJobResponse response;
  kiln::v1::Assignment* assignment = response.mutable_assignment();
  *assignment->mutable_job() = active.job();
  assignment->set_attempt(attempt->number());
  *assignment->mutable_lease_deadline() = ToProtoTime(active.lease_deadline);
  assignment->set_tier_index(tier);
  assignment->set_model(TierModel(spec, tier));
  *assignment->mutable_parameters() = TierParameters(spec, tier);
  CommitLocked(std::move(writes), {active.job().id()},
               AnswerWhenDurable(std::move(response), std::move(done)));
}

uint64_t Scheduler::AcquireJob(const kiln::v1::AcquireJobRequest& request,
                               Callback<kiln::v1::AcquireJobResponse> done) {
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    auto worker = workers_.find(request.worker_id());
    if (worker == workers_.end()) {
      error = absl::FailedPreconditionError(
          absl::StrCat("worker_id: worker \"", request.worker_id().substr(0, 128),
                       "\" is not registered; call RegisterWorker first"));
    } else if (request.slot() < 0 ||
               request.slot() >= worker->second.info.capabilities().slots_size()) {
      error = absl::InvalidArgumentError(
          absl::StrCat("slot: ", request.slot(), " is not a slot of worker ", request.worker_id()));
    } else if (request.loaded_models_size() > options_.max_models_per_slot) {
      error = absl::InvalidArgumentError(
          absl::StrCat("loaded_models: more than the limit of ", options_.max_models_per_slot));
    } else if (error = WritableLocked(); !error.ok()) {
    } else if (AssignToAskingSlotLocked(request.worker_id(), request.slot(),
                                        request.loaded_models(), done)) {
      return 0;
    } else if (const uint64_t id =
                   ParkLocked(request.worker_id(), request.slot(), request.wait(), done);
               id != 0) {
      return id;
    }
  }
  if (error.ok()) {
    done(kiln::v1::AcquireJobResponse());
  } else {
    done(error);
  }
  return 0;
}

uint64_t Scheduler::ParkLocked(const std::string& worker_id, int slot_index,
                               const google::protobuf::Duration& requested_wait,
                               Callback<kiln::v1::AcquireJobResponse>& done) {
  const absl::Duration wait = std::clamp(FromProtoDuration(requested_wait), absl::ZeroDuration(),
                                         options_.max_acquire_wait);
  if (wait <= absl::ZeroDuration()) return 0;
  const uint64_t id = next_waiter_id_++;
  const kiln::v1::Slot* slot = nullptr;
  const kiln::v1::Device* device = SlotDeviceLocked(worker_id, slot_index, &slot);
  Waiter waiter{
      worker_id,
      slot_index,
      clock_->Now() + wait,
      std::move(done),
      {device ? device->compute_capability() : 0, device ? device->total_memory_bytes() : 0,
       device ? feature_sets_.IdOf(*device) : FeatureSetIds::kUnknown, id}};
  waiter_order_.insert(waiter.order);
  waiters_.emplace(id, std::move(waiter));
  return id;
}

bool Scheduler::AssignToAskingSlotLocked(
    const std::string& worker_id, int slot_index,
    const google::protobuf::RepeatedPtrField<std::string>& loaded_models,
    Callback<kiln::v1::AcquireJobResponse>& done) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end() || slot_index < 0 ||
      slot_index >= worker->second.info.capabilities().slots_size()) {
    return false;
  }
  worker->second.last_seen = clock_->Now();
  // Sized here too: workers recovered from the store have no entries yet.
  worker->second.loaded_models.resize(worker->second.info.capabilities().slots_size());
  worker->second.loaded_models[slot_index].assign(loaded_models.begin(), loaded_models.end());
  return TryAssignReservedLocked(worker_id, slot_index, done) ||
         TryAssignLocked(worker_id, slot_index, done);
}

void Scheduler::CancelAcquire(uint64_t waiter_id) {
  Callback<kiln::v1::AcquireJobResponse> done;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(waiter_id);
    if (it == waiters_.end()) return;
    done = std::move(it->second.done);
    EraseWaiterLocked(it);
  }
  done(absl::CancelledError("acquire cancelled by the client"));
}

void Scheduler::ReturnUndelivered(const kiln::v1::Assignment& assignment) {
  if (assignment.job().attempts().empty()) return;
  const std::string worker_id = assignment.job().attempts().rbegin()->worker_id();
  absl::MutexLock lock(&mu_);
  absl::StatusOr<ActiveJob*> found =
      FindLeasedLocked(worker_id, assignment.job().id(), assignment.attempt());
  // Started means the worker has it after all; an unwritable store leaves it to the lease.
  if (!found.ok() || (*found)->state() != kiln::v1::JOB_STATE_ASSIGNED || !WritableLocked().ok()) {
    return;
  }
  store::WriteSet writes;
  EndAttemptWithFailureLocked(**found, kiln::v1::EXIT_REASON_UNDELIVERED,
                              absl::StrCat("the assignment did not reach worker ", worker_id,
                                           " (its call ended first); requeued, not counted"),
                              /*permanent=*/false, /*counted=*/false, writes);
  ++stats_.assignments_undelivered;
  CommitLocked(std::move(writes), {assignment.job().id()}, [](absl::Status) {});
  DispatchLocked();
}

void Scheduler::DispatchNewJobsLocked(const std::vector<std::string>& job_ids) {
  if (waiters_.empty()) return;
  const absl::Time now = clock_->Now();
  for (const std::string& job_id : job_ids) {
    auto job = jobs_.find(job_id);
    if (job == jobs_.end() || job->second.state() != kiln::v1::JOB_STATE_QUEUED) continue;
    const kiln::v1::JobSpec& spec = job->second.job().spec();
    // The least capable waiting slot whose earliest fitting tier is the job's
    // earliest tier any waiting slot runs, as DispatchLocked would choose.
    bool assigned = false;
    // Among equally capable slots, one that has the job's model loaded.
    for (int tier = 0; tier < TierCount(spec) && !assigned && !waiters_.empty(); ++tier) {
      std::optional<std::tuple<int, int64_t>> chosen_class;
      std::map<uint64_t, Waiter>::iterator chosen = waiters_.end();
      const kiln::v1::Requirements& requirements = TierRequirements(spec, tier);
      for (auto order = waiter_order_.begin(); order != waiter_order_.end(); ++order) {
        const auto& [cc, memory, features, id] = *order;
        if (chosen_class.has_value() && *chosen_class != std::make_tuple(cc, memory)) break;
        if (!DeviceClassMayFit(cc, memory, feature_sets_.Features(features), requirements)) {
          // No slot of this device class can run the tier: skip them all in one step.
          order = std::prev(waiter_order_.upper_bound(
              {cc, memory, features, std::numeric_limits<uint64_t>::max()}));
          continue;
        }
        auto it = waiters_.find(id);
        const kiln::v1::Slot* slot = nullptr;
        const kiln::v1::Device* device =
            SlotDeviceLocked(it->second.worker_id, it->second.slot, &slot);
        if (device == nullptr) continue;
        const std::optional<int> fits =
            FittingTierLocked(it->second.worker_id, *device, *slot, spec,
                              ReservedLocked(it->second.worker_id, device->id()), now);
        if (!fits.has_value() || *fits != tier) continue;
        if (chosen == waiters_.end()) {
          chosen = it;
          chosen_class = std::make_tuple(cc, memory);
        }
        if (TierModel(spec, tier).empty()) break;
        if (WarmLocked(it->second.worker_id, it->second.slot, spec, tier)) {
          chosen = it;
          break;
        }
      }
      if (chosen == waiters_.end()) continue;
      if (TryAssignLocked(
              chosen->second.worker_id, chosen->second.slot, chosen->second.done, tier,
              JobQueue::Pick{auth::EffectiveTenant(job->second.job().tenant()), spec.priority()})) {
        EraseWaiterLocked(chosen);
        assigned = true;
      }
      break;
    }
    if (waiters_.empty()) return;
  }
}

std::map<uint64_t, Scheduler::Waiter>::iterator Scheduler::EraseWaiterLocked(
    std::map<uint64_t, Waiter>::iterator it) {
  waiter_order_.erase(it->second.order);
  return waiters_.erase(it);
}

void Scheduler::DispatchLocked() {
  dispatch_needed_ = false;
  if (waiters_.empty() || queue_.size() == 0) return;
  const absl::Time now = clock_->Now();
  // Least capable waiting slots first, so each job lands on the least capable
  // device that fits; and tier by tier, so a job takes a fallback tier only
  // when no waiting slot runs an earlier one. Within a pass a slot takes only
  // work of the best priority it could take at all, so the passes never put
  // lower-priority work ahead of higher.
  // A copy: assignments erase from the index while we walk it.
  const std::vector<WaiterKey> order(waiter_order_.begin(), waiter_order_.end());
  // Among equally capable slots (a run of equal (cc, memory) in the order), those
  // with a job's model loaded take such jobs first.
  const int tiers = queue_.MaxTierCount();
  for (int tier = 0; tier < tiers && queue_.size() > 0; ++tier) {
    for (size_t group = 0; group < order.size();) {
      size_t group_end = group + 1;
      while (group_end < order.size() &&
             std::get<0>(order[group_end]) == std::get<0>(order[group]) &&
             std::get<1>(order[group_end]) == std::get<1>(order[group])) {
        ++group_end;
      }
      for (const bool warm_pass : {true, false}) {
        for (size_t i = group; i < group_end; ++i) {
          auto it = waiters_.find(std::get<3>(order[i]));
          if (it == waiters_.end()) continue;
          if (warm_pass && !HasLoadedModelsLocked(it->second.worker_id, it->second.slot)) continue;
          const kiln::v1::Slot* slot = nullptr;
          const kiln::v1::Device* device =
              SlotDeviceLocked(it->second.worker_id, it->second.slot, &slot);
          if (device == nullptr) continue;
          const int64_t reserved = ReservedLocked(it->second.worker_id, device->id());
          // The tenant (fair share) and priority this slot would take at all.
          std::optional<JobQueue::Pick> best = queue_.BestPick(
              [&](const kiln::v1::JobSpec& spec) -> std::optional<int64_t> {
                if (!FittingTierLocked(it->second.worker_id, *device, *slot, spec, reserved, now)) {
                  return std::nullopt;
                }
                return 0;
              },
              &fair_share_);
          if (!best.has_value()) continue;
          if (TryAssignLocked(it->second.worker_id, it->second.slot, it->second.done, tier,
                              std::move(best), warm_pass)) {
            EraseWaiterLocked(it);
            if (queue_.size() == 0) return;
          }
        }
      }
      group = group_end;
    }
  }
}

absl::StatusOr<kiln::v1::HeartbeatResponse> Scheduler::Heartbeat(
    const kiln::v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  KILN_RETURN_IF_ERROR(WritableLocked());
  kiln::v1::HeartbeatResponse response;
  auto worker = workers_.find(request.worker_id());
  if (worker == workers_.end()) {
    response.set_reregister(true);
    for (const auto& lease : request.leases()) *response.add_abandon() = lease;
    return response;
  }
  const absl::Time now = clock_->Now();
  worker->second.last_seen = now;
  for (const kiln::v1::HeldLease& held : request.leases()) {
    absl::StatusOr<ActiveJob*> active =
        FindLeasedLocked(request.worker_id(), held.job_id(), held.attempt());
    if (active.ok()) {
      SetLeaseLocked(**active, now + options_.lease_duration);
    } else {
      *response.add_abandon() = held;
    }
  }
  return response;
}

absl::StatusOr<ActiveJob*> Scheduler::FindLeasedLocked(const std::string& worker_id,
                                                       const std::string& job_id, int attempt) {
  // Every caller is about to change the job: nothing until memory matches the store.
  KILN_RETURN_IF_ERROR(WritableLocked());
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    KILN_RETURN_IF_ERROR(ValidJobId(job_id, "job_id"));
    KILN_ASSIGN_OR_RETURN(std::optional<Job> stored, store_->GetJob(job_id));
    if (!stored.has_value()) {
      return absl::NotFoundError(absl::StrCat("job_id: job ", job_id, " not found"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("attempt: job ", job_id, " already finished as ", StateName(stored->state()),
                     "; report for attempt ", attempt, " is stale"));
  }
  ActiveJob& active = it->second;
  const Job& job = active.job();
  if (!IsLeased(job.state()) || job.attempts().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("attempt: job ", job_id, " is ",
                                                      StateName(job.state()), "; attempt ", attempt,
                                                      " is no longer current"));
  }
  const kiln::v1::Attempt& current = *job.attempts().rbegin();
  if (current.number() != attempt || current.worker_id() != worker_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "attempt: job ", job_id, " is at attempt ", current.number(), " on worker ",
        current.worker_id(), "; report for attempt ", attempt, " from ", worker_id, " is stale"));
  }
  return &active;
}

void Scheduler::ReportProgress(const kiln::v1::ReportProgressRequest& request,
                               std::function<void(absl::Status)> done) {
  if (!(request.progress() >= 0.0 && request.progress() <= 1.0)) {
    done(absl::InvalidArgumentError("progress: must be within 0..1"));
    return;
  }
  if (request.log_chunk().size() > kMaxLogChunkBytes) {
    done(absl::InvalidArgumentError(
        absl::StrCat("log_chunk: larger than the limit of ", kMaxLogChunkBytes, " bytes")));
    return;
  }
  if (request.log_offset() < 0) {
    done(absl::InvalidArgumentError("log_offset: must be >= 0"));
    return;
  }
  std::optional<Job> publish;
  absl::Status status;
  std::vector<LogTails::Answer> log_answers;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveJob*> found =
        FindLeasedLocked(request.worker_id(), request.job_id(), request.attempt());
    if (!found.ok()) {
      status = found.status();
    } else {
      ActiveJob& active = **found;
      const absl::Time now = clock_->Now();
      SetLeaseLocked(active, now + options_.lease_duration);
      // Memory only: the worker uploads the whole log when the attempt ends.
      log_answers = log_tails_.Append(request.job_id(), request.attempt(), request.log_offset(),
                                      request.log_chunk());
      if (request.log_only()) {
        // Neither progress nor a start: nothing else changes.
      } else if (active.state() == kiln::v1::JOB_STATE_ASSIGNED) {
        active.job().set_progress(request.progress());
        active.job().set_progress_message(TruncateUtf8(request.message(), 256));
        TouchLocked(active);
        // The start of the run is a state change: durable before it is acknowledged.
        active.job().set_state(kiln::v1::JOB_STATE_RUNNING);
        active.job().set_status_message("running");
        *active.job().mutable_attempts(active.job().attempts_size() - 1)->mutable_started_at() =
            ToProtoTime(now);
        store::WriteSet writes;
        writes.PutJob(active.job());
        CommitLocked(std::move(writes), {active.job().id()}, std::move(done));
        done = nullptr;
      } else {
        active.job().set_progress(request.progress());
        active.job().set_progress_message(TruncateUtf8(request.message(), 256));
        // Plain progress is not stored (losing it in a crash costs nothing) and
        // keeps the revision, which counts stored changes only.
        if (watch_hub_.Watched(active.job().id())) publish = active.job();
      }
    }
  }
  for (auto& [reader, answer] : log_answers) reader(std::move(answer));
  if (publish.has_value()) watch_hub_.Publish(*publish);
  if (done) done(status);
}

void Scheduler::CompleteJob(const kiln::v1::CompleteJobRequest& request,
                            std::function<void(absl::Status)> done) {
  CompleteJobWithNext(
      request, [done = std::move(done)](absl::StatusOr<kiln::v1::CompleteJobResponse> response) {
        done(response.status());
      });
}

uint64_t Scheduler::CompleteJobWithNext(const kiln::v1::CompleteJobRequest& request,
                                        Callback<kiln::v1::CompleteJobResponse> done) {
  if (request.result().ByteSizeLong() > kMaxResultBytes) {
    done(absl::InvalidArgumentError(
        absl::StrCat("result: larger than the limit of ", kMaxResultBytes, " bytes")));
    return 0;
  }
  if (request.loaded_models_size() > options_.max_models_per_slot) {
    done(absl::InvalidArgumentError(
        absl::StrCat("loaded_models: more than the limit of ", options_.max_models_per_slot)));
    return 0;
  }
  std::vector<kiln::v1::BlobRef> outputs(request.outputs().begin(), request.outputs().end());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string field = absl::StrCat("outputs[", i, "]");
    if (!IsSafeName(outputs[i].name(), 128)) {
      done(
          absl::InvalidArgumentError(field + ".name: must be 1..128 characters of [A-Za-z0-9._-]"));
      return 0;
    }
    absl::StatusOr<kiln::v1::StoredBlob> blob = GetBlob(outputs[i].sha256());
    if (!blob.ok()) {
      done(absl::Status(blob.status().code() == absl::StatusCode::kNotFound
                            ? absl::StatusCode::kFailedPrecondition
                            : blob.status().code(),
                        absl::StrCat(field, ".sha256: ", blob.status().message())));
      return 0;
    }
    outputs[i].set_size_bytes(blob->size_bytes());
  }
  absl::StatusOr<kiln::v1::BlobRef> log = CheckLogRef(*this, request.log(), "log");
  if (!log.ok()) {
    done(log.status());
    return 0;
  }
  absl::Status status;
  uint64_t waiter_id = 0;
  // Answers once the completion and the next assignment (if any) are durable.
  auto answer = std::make_shared<CompletionAnswer>(std::move(done));
  {
    absl::MutexLock lock(&mu_);
    // A worker retries a completion whose answer it lost: accept it once more.
    auto is_same_completion = [&](const Job& job) {
      return job.state() == kiln::v1::JOB_STATE_SUCCEEDED && !job.attempts().empty() &&
             job.attempts().rbegin()->number() == request.attempt() &&
             job.attempts().rbegin()->worker_id() == request.worker_id();
    };
    // Judged in place (no copy of the job on every completion; the state first, which a
    // packed queued job answers without being unpacked); the store is read only for a job
    // no longer in memory.
    bool same_completion = false;
    bool durable = true;
    if (auto it = jobs_.find(request.job_id()); it != jobs_.end()) {
      same_completion = it->second.state() == kiln::v1::JOB_STATE_SUCCEEDED &&
                        is_same_completion(it->second.job());
      durable = it->second.commits_in_flight == 0;
    } else if (absl::StatusOr<std::optional<Job>> stored = store_->GetJob(request.job_id());
               stored.ok() && stored->has_value()) {
      same_completion = is_same_completion(**stored);
    }
    if (absl::Status writable = WritableLocked(); !writable.ok()) {
      status = writable;
    } else if (same_completion) {
      // Answer OK only once the first completion is durable.
      status = durable ? absl::OkStatus()
                       : absl::UnavailableError("the completion is still being stored; retry");
    } else if (absl::StatusOr<ActiveJob*> found =
                   FindLeasedLocked(request.worker_id(), request.job_id(), request.attempt());
               !found.ok()) {
      status = found.status();
    } else if (absl::StatusOr<std::vector<kiln::v1::StoredBlob>> granted =
                   GrantedToJobLocked((*found)->job(), outputs, *log);
               !granted.ok()) {
      status = granted.status();
    } else {
      ActiveJob& active = **found;
      const absl::Time now = clock_->Now();
      kiln::v1::Attempt* attempt = active.job().mutable_attempts(active.job().attempts_size() - 1);
      *attempt->mutable_ended_at() = ToProtoTime(now);
      attempt->set_exit_reason(kiln::v1::EXIT_REASON_SUCCEEDED);
      if (!log->sha256().empty()) *attempt->mutable_log() = *log;
      if (!attempt->has_started_at()) *attempt->mutable_started_at() = ToProtoTime(now);
      active.job().set_state(kiln::v1::JOB_STATE_SUCCEEDED);
      active.job().set_progress(1.0);
      active.job().set_status_message("succeeded");
      active.job().clear_outputs();
      for (auto& output : outputs) *active.job().add_outputs() = std::move(output);
      *active.job().mutable_result() = request.result();
      *active.job().mutable_finished_at() = ToProtoTime(now);
      TouchLocked(active);
      ClearLeaseLocked(active);
      store::WriteSet writes;
      writes.PutJob(active.job());
      writes.DeleteLease(active.job().id());
      // The outputs and the log become the job's tenant's with the completion.
      std::vector<std::string> pending_blobs;
      for (const kiln::v1::StoredBlob& blob : *granted) {
        RecordBlobLocked(blob, writes, pending_blobs);
      }
      ++stats_.jobs_succeeded;
      ObserveEndLocked(active, /*attempt_ended=*/true);
      // Jobs waiting on this one are settled in the same write.
      const std::string job_id = active.job().id();
      std::vector<std::string> changed = {job_id};
      PropagateFinishLocked(job_id, writes, changed);
      answer->Expect();
      CommitLocked(
          std::move(writes), std::move(changed),
          [answer](absl::Status stored) { answer->CompletionStored(std::move(stored)); },
          std::move(pending_blobs));
      if (request.acquire_next()) {
        // The slot asks for its next job as AcquireJob would, ahead of parked slots (its
        // worker just proved it is alive); without a ready job it parks for next_wait.
        // The completion's own write is already queued ahead of any later assignment.
        answer->Expect();
        Callback<kiln::v1::AcquireJobResponse> next =
            [answer](absl::StatusOr<kiln::v1::AcquireJobResponse> assigned) {
              answer->NextStored(std::move(assigned));
            };
        const int slot = active.job().attempts().rbegin()->slot();
        if (AssignToAskingSlotLocked(request.worker_id(), slot, request.loaded_models(), next)) {
          ++stats_.assigned_with_completion;
        } else if (waiter_id = ParkLocked(request.worker_id(), slot, request.next_wait(), next);
                   waiter_id == 0) {
          answer->NextStored(kiln::v1::AcquireJobResponse());
        }
      }
      DispatchLocked();  // the slot and its memory are free for parked work
    }
  }
  if (!status.ok()) answer->Refused(std::move(status));
  answer->Release();
  return waiter_id;
}

void Scheduler::EndAttemptWithFailureLocked(ActiveJob& active, kiln::v1::ExitReason reason,
                                            const std::string& message, bool permanent,
                                            bool counted, store::WriteSet& writes) {
  const absl::Time now = clock_->Now();
  Job& job = active.job();
  kiln::v1::Attempt* attempt = job.mutable_attempts(job.attempts_size() - 1);
  *attempt->mutable_ended_at() = ToProtoTime(now);
  attempt->set_exit_reason(reason);
  attempt->set_message(TruncateUtf8(message, 4096));
  attempt->set_not_counted(!counted);
  ClearLeaseLocked(active);
  writes.DeleteLease(job.id());
  int attempts = 0;
  int preempted = 0;
  for (const kiln::v1::Attempt& a : job.attempts()) {
    attempts += a.not_counted() ? 0 : 1;
    preempted += a.exit_reason() == kiln::v1::EXIT_REASON_PREEMPTED ? 1 : 0;
  }
  // Uncounted attempts are bounded too, so that no job is requeued forever (preempted ones
  // aside: the scheduler chose to end them, and each needs a grace period of waiting).
  const bool too_many =
      job.attempts_size() - preempted >= job.spec().max_attempts() + kMaxUncountedAttempts;
  if (permanent || attempts >= job.spec().max_attempts() || too_many) {
    job.set_state(kiln::v1::JOB_STATE_FAILED);
    *job.mutable_finished_at() = ToProtoTime(now);
    job.set_status_message(permanent
                               ? absl::StrCat("failed: ", message)
                               : absl::StrCat("failed after ", attempts, " attempts: ", message));
    ++stats_.jobs_failed;
  } else {
    absl::Duration backoff = options_.retry_backoff_initial;
    for (int i = 1; i < attempts && backoff < options_.retry_backoff_max; ++i) backoff *= 2;
    if (!counted) backoff = absl::ZeroDuration();  // it goes elsewhere at once
    backoff = std::min(backoff, options_.retry_backoff_max);
    job.set_state(kiln::v1::JOB_STATE_QUEUED);
    *job.mutable_not_before() = ToProtoTime(now + backoff);
    job.set_status_message(absl::StrCat("attempt ", attempts, " failed (", message, "); retry in ",
                                        absl::FormatDuration(backoff)));
    writes.MarkQueued(job.id());
    EnqueueLocked(active);
    ++stats_.attempts_retried;
  }
  TouchLocked(active);
  writes.PutJob(job);
  ObserveEndLocked(active, /*attempt_ended=*/true);
}

void Scheduler::FailJob(const kiln::v1::FailJobRequest& request,
                        Callback<kiln::v1::FailJobResponse> done) {
  if (!kiln::v1::ExitReason_IsValid(request.reason()) ||
      request.reason() == kiln::v1::EXIT_REASON_UNSPECIFIED ||
      request.reason() == kiln::v1::EXIT_REASON_SUCCEEDED) {
    done(absl::InvalidArgumentError("reason: must name a failure"));
    return;
  }
  if (request.reason() == kiln::v1::EXIT_REASON_PREEMPTED ||
      request.reason() == kiln::v1::EXIT_REASON_UNDELIVERED) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "reason: ", kiln::v1::ExitReason_Name(request.reason()), " is set by the scheduler only")));
    return;
  }
  absl::StatusOr<kiln::v1::BlobRef> log = CheckLogRef(*this, request.log(), "log");
  if (!log.ok()) {
    done(log.status());
    return;
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveJob*> found =
        FindLeasedLocked(request.worker_id(), request.job_id(), request.attempt());
    absl::StatusOr<std::vector<kiln::v1::StoredBlob>> granted =
        found.ok() ? GrantedToJobLocked((*found)->job(), {}, *log) : found.status();
    if (!granted.ok()) {
      status = granted.status();
    } else {
      ActiveJob& active = **found;
      store::WriteSet writes;
      std::vector<std::string> pending_blobs;
      for (const kiln::v1::StoredBlob& blob : *granted) {
        RecordBlobLocked(blob, writes, pending_blobs);
      }
      // A device that cannot run the code says nothing about the job: it goes
      // elsewhere without using up an attempt.
      const bool device_cannot_run = request.reason() == kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN;
      // Neither does a worker that stopped (drained) and handed the job back.
      const bool counted =
          !device_cannot_run && request.reason() != kiln::v1::EXIT_REASON_WORKER_STOPPING;
      if (device_cannot_run) {
        // Keep this (worker, device, model) away from the model for a while.
        const kiln::v1::Attempt& attempt = *active.job().attempts().rbegin();
        incapable_[IncapableKey(attempt.worker_id(), attempt.device(), active.job().spec(),
                                attempt.tier_index())] =
            clock_->Now() + options_.incapable_cooldown;
        dispatch_needed_ = true;
      }
      if (!log->sha256().empty()) {
        *active.job().mutable_attempts(active.job().attempts_size() - 1)->mutable_log() = *log;
      }
      EndAttemptWithFailureLocked(active, request.reason(), request.message(), request.permanent(),
                                  counted, writes);
      kiln::v1::FailJobResponse response;
      response.set_state(active.state());
      if (active.job().has_not_before()) *response.mutable_retry_at() = active.job().not_before();
      const std::string job_id = active.job().id();
      std::vector<std::string> changed = {job_id};
      if (IsTerminal(active.state())) PropagateFinishLocked(job_id, writes, changed);
      CommitLocked(std::move(writes), std::move(changed),
                   AnswerWhenDurable(std::move(response), std::move(done)),
                   std::move(pending_blobs));
      DispatchLocked();  // an uncounted requeue goes elsewhere at once
      return;
    }
  }
  done(status);
}

// ---------------------------------------------------------------------------
// Time-driven work

void Scheduler::UpdatePendingReasonsLocked(absl::Time now) {
  reasons_updated_ = now;
  // Cool-downs that ended may make parked slots fit again.
  for (auto it = incapable_.begin(); it != incapable_.end();) {
    if (it->second <= now) {
      incapable_.erase(it++);
      dispatch_needed_ = true;
    } else {
      ++it;
    }
  }
  class_reasons_.clear();
  absl::flat_hash_map<std::string, ClassPlacement> previous_placement;
  previous_placement.swap(class_placement_);
  if (queue_.size() == 0) return;
  absl::flat_hash_set<std::string> busy;  // "worker#slot" holding a lease
  for (const auto& [deadline, id] : leases_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.job().attempts().empty()) continue;
    const kiln::v1::Attempt& attempt = *it->second.job().attempts().rbegin();
    busy.insert(absl::StrCat(attempt.worker_id(), "#", attempt.slot()));
  }
  // Slots a preemption freed are kept for the job that waited (scheduler_preemption.cc).
  for (const auto& [slot_key, reservation] : slot_reservations_) busy.insert(slot_key);
  queue_.ForEachClass([&](const std::string& key, const kiln::v1::JobSpec& spec, size_t) {
    int fitting = 0, fitting_busy = 0, fitting_draining = 0, live_slots = 0;
    bool models_advertised = false;  // some live slot lists a model of some tier
    std::vector<std::string> why;    // a few distinct reasons, for the message
    bool more_reasons = false;
    for (const auto& [worker_id, state] : workers_) {
      if (now - state.last_seen > options_.worker_lost_after) continue;
      const kiln::v1::WorkerCapabilities& caps = state.info.capabilities();
      for (const kiln::v1::Slot& slot : caps.slots()) {
        const kiln::v1::Slot* found = nullptr;
        const kiln::v1::Device* device = SlotDeviceLocked(worker_id, slot.index(), &found);
        if (device == nullptr) continue;
        ++live_slots;
        for (int tier = 0; tier < TierCount(spec) && !models_advertised; ++tier) {
          const std::string& model = TierModel(spec, tier);
          models_advertised = model.empty() || AnyModelMatches(model, slot.models());
        }
        if (FittingTierLocked(worker_id, *device, slot, spec, 0, now).has_value()) {
          if (state.info.draining()) {  // could run it, but an operator drained it
            ++fitting_draining;
            continue;
          }
          ++fitting;
          if (busy.contains(absl::StrCat(worker_id, "#", slot.index()))) ++fitting_busy;
          continue;
        }
        std::string reason;
        for (int tier = 0; tier < TierCount(spec) && reason.empty(); ++tier) {
          reason = WhyCannotRun(*device, slot, spec, tier, 0);
        }
        if (reason.empty())
          reason = absl::StrCat("device ", device->id(), " failed this model recently");
        reason = absl::StrCat(worker_id, ": ", reason);
        if (std::find(why.begin(), why.end(), reason) == why.end()) {
          if (why.size() < 3) {
            why.push_back(std::move(reason));
          } else {
            more_reasons = true;
          }
        }
      }
    }
    std::string message;
    if (live_slots == 0) {
      message = "waiting: no worker is registered and alive";
    } else if (fitting == 0 && fitting_draining > 0) {
      message =
          absl::StrCat("waiting: the ", fitting_draining, " slot", fitting_draining == 1 ? "" : "s",
                       " that can run it are on drained workers (DrainWorker resume)");
    } else if (fitting == 0 && !models_advertised) {
      message = absl::StrCat("waiting: no worker advertises model ", TierModel(spec, 0));
    } else if (fitting == 0) {
      message = absl::StrCat("waiting: no worker can run it (", absl::StrJoin(why, "; "),
                             more_reasons ? "; ..." : "", ")");
    } else if (fitting_busy == fitting) {
      message = absl::StrCat("waiting: all ", fitting, " slot", fitting == 1 ? "" : "s",
                             " that can run it are busy");
    } else {
      message = absl::StrCat("waiting: ", fitting - fitting_busy, " of ", fitting,
                             " slots that can run it are free (memory held by running jobs, or "
                             "their workers have not asked yet)");
    }
    class_reasons_[key] = std::move(message);
    ClassPlacement placement = ClassPlacement::kSlotsFree;
    if (live_slots == 0) {
      placement = ClassPlacement::kNoWorkerAlive;
    } else if (fitting == 0) {
      placement = ClassPlacement::kNoCapableWorker;
    } else if (fitting_busy == fitting) {
      placement = ClassPlacement::kSlotsBusy;
    }
    auto before = previous_placement.find(key);
    if (placement != ClassPlacement::kSlotsFree &&
        (before == previous_placement.end() || before->second != placement)) {
      ++stats_.placement_failures[static_cast<int>(placement)];
    }
    class_placement_[key] = placement;
  });
}

kiln::v1::Job Scheduler::WithPendingReasonLocked(kiln::v1::Job job) const {
  if (job.state() != kiln::v1::JOB_STATE_QUEUED) return job;
  if (job.has_not_before() && FromProtoTime(job.not_before()) > clock_->Now()) return job;
  // A limit of the sharing policy holds it back whatever the slots say.
  std::string reason = fair_share_.LimitReason(job);
  if (reason.empty()) {
    auto it = class_reasons_.find(JobQueue::ClassKey(job.spec(), fair_share_.ShareOf(job)));
    if (it == class_reasons_.end()) return job;
    reason = it->second;
  }
  job.set_status_message(std::move(reason));
  // A preempted job says so while it waits (its stored message did, until now).
  if (!job.attempts().empty() &&
      job.attempts().rbegin()->exit_reason() == kiln::v1::EXIT_REASON_PREEMPTED) {
    const kiln::v1::Attempt& last = *job.attempts().rbegin();
    absl::StrAppend(job.mutable_status_message(), " (attempt ", last.number(), " was ",
                    last.message(), ")");
  }
  return job;
}

void Scheduler::Tick() {
  std::vector<Callback<kiln::v1::AcquireJobResponse>> expired_waiters;
  absl::Time now;
  {
    absl::MutexLock lock(&mu_);
    now = clock_->Now();
    if (reload_needed_) {
      // A write failed after memory moved on; the store is the truth. Parked
      // long-polls are answered empty and workers simply ask again.
      for (auto& [id, waiter] : waiters_) expired_waiters.push_back(std::move(waiter.done));
      waiters_.clear();
      waiter_order_.clear();
      // The committer fails whatever is still queued; rebuild once it is all answered.
      if (commits_in_flight_ == 0) {
        absl::Status s = store_->Resume();
        if (s.ok()) s = RecoverLocked();
        if (s.ok()) {
          committer_->Reset();
          std::fprintf(stderr, "kiln-scheduler: recovered from the store after a failed write\n");
        } else if (std::string(s.message()) != last_reload_error_) {
          last_reload_error_ = std::string(s.message());
          std::fprintf(stderr, "kiln-scheduler: store not writable yet: %s\n",
                       last_reload_error_.c_str());
        }
      }
    }
    if (!reload_needed_) {  // No decisions until memory matches the store again.
      // Retries whose backoff ended.
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        const std::string id = delayed_.begin()->second;
        delayed_.erase(delayed_.begin());
        auto it = jobs_.find(id);
        if (it != jobs_.end() && it->second.state() == kiln::v1::JOB_STATE_QUEUED) {
          QueueLocked(it->second, it->second.job());
          dispatch_needed_ = true;
        }
      }
      // Lapsed leases.
      store::WriteSet writes;
      std::vector<std::string> changed;
      while (!leases_.empty() && leases_.begin()->first < now) {
        const std::string id = leases_.begin()->second;
        auto it = jobs_.find(id);
        if (it == jobs_.end()) {
          leases_.erase(leases_.begin());
          continue;
        }
        ActiveJob& active = it->second;
        const kiln::v1::Attempt& attempt = *active.job().attempts().rbegin();
        // An assignment that never started (its answer was lost, or the worker
        // died at once) ran nothing: it does not use up an attempt.
        const bool started = attempt.has_started_at();
        EndAttemptWithFailureLocked(
            active, kiln::v1::EXIT_REASON_LEASE_EXPIRED,
            absl::StrCat("lease expired: worker ", attempt.worker_id(), " sent no heartbeat for ",
                         absl::FormatDuration(options_.lease_duration),
                         started ? "" : " (never started: not counted)"),
            /*permanent=*/false, /*counted=*/started, writes);
        changed.push_back(id);
        if (IsTerminal(active.state())) PropagateFinishLocked(id, writes, changed);
        ++stats_.leases_expired;
      }
      if (!changed.empty())
        CommitLocked(std::move(writes), std::move(changed), [](absl::Status) {});
      if (now - reasons_updated_ >= options_.pending_reason_interval) {
        UpdatePendingReasonsLocked(now);
        if (options_.preemption_grace > absl::ZeroDuration()) PreemptLocked(now);
      }
      // Long-polls whose wait ended.
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->second.deadline <= now) {
          expired_waiters.push_back(std::move(it->second.done));
          it = EraseWaiterLocked(it);
        } else {
          ++it;
        }
      }
      if (dispatch_needed_) DispatchLocked();
    }
    PackQueuedLocked();
  }
  for (auto& done : expired_waiters) done(kiln::v1::AcquireJobResponse());
  for (auto& [done, answer] : log_tails_.TakeDue(now)) done(std::move(answer));
}

uint64_t Scheduler::GetJobLog(const kiln::v1::GetJobLogRequest& request,
                              Callback<kiln::v1::GetJobLogResponse> done) {
  absl::Status invalid = ValidJobId(request.job_id(), "job_id");
  if (invalid.ok() && request.attempt() < 0) {
    invalid = absl::InvalidArgumentError("attempt: must be >= 0 (0 = the latest)");
  }
  if (invalid.ok() && request.offset() < 0) {
    invalid = absl::InvalidArgumentError("offset: must be >= 0");
  }
  const absl::Duration wait = FromProtoDuration(request.wait());
  if (invalid.ok() && wait < absl::ZeroDuration()) {
    invalid = absl::InvalidArgumentError("wait: must not be negative");
  }
  if (!invalid.ok()) {
    done(invalid);
    return 0;
  }
  std::optional<Job> job;
  std::optional<absl::StatusOr<kiln::v1::GetJobLogResponse>> answer;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(request.job_id());
    if (it != jobs_.end()) {
      const Job& active = it->second.job();
      absl::StatusOr<int> number = ResolveLogAttempt(active, request.attempt());
      if (!number.ok()) {
        answer = number.status();
      } else if (*number == active.attempts_size() && IsLeased(active.state()) &&
                 !AttemptEnded(active.attempts(*number - 1))) {
        // The running attempt: the live tail. Under mu_, so its end cannot slip between.
        kiln::v1::GetJobLogResponse base;
        base.set_attempt(*number);
        base.set_job_state(active.state());
        const absl::Time now = clock_->Now();
        uint64_t waiter_id = 0;
        absl::StatusOr<std::optional<kiln::v1::GetJobLogResponse>> read =
            log_tails_.ReadOrPark(active.id(), *number, request.offset(), base, now,
                                  now + std::min(wait, options_.max_log_wait), done, &waiter_id);
        if (read.ok() && !read->has_value()) return waiter_id;
        if (read.ok()) {
          answer = **std::move(read);
        } else {
          answer = read.status();
        }
      } else {
        job = active;
      }
    }
  }
  if (!job.has_value() && !answer.has_value()) {
    // Not in memory: a finished job, from the store.
    absl::StatusOr<std::optional<Job>> stored = store_->GetJob(request.job_id());
    if (!stored.ok()) {
      answer = stored.status();
    } else if (!stored->has_value()) {
      answer = absl::NotFoundError(absl::StrCat("job ", request.job_id(), " not found"));
    } else {
      job = **stored;
    }
  }
  if (job.has_value()) {
    absl::StatusOr<int> number = ResolveLogAttempt(*job, request.attempt());
    if (number.ok()) {
      answer = EndedLogResponse(*job, *number, request.offset());
    } else {
      answer = number.status();
    }
  }
  done(*std::move(answer));
  return 0;
}

void Scheduler::CancelJobLog(uint64_t waiter_id) {
  for (auto& [done, answer] : log_tails_.Cancel(waiter_id)) done(std::move(answer));
}

void Scheduler::RunTicker() {
  while (!stop_.WaitForNotificationWithTimeout(options_.tick_interval)) Tick();
}

void Scheduler::ObserveEndLocked(const ActiveJob& active, bool attempt_ended) {
  if (IsTerminal(active.state())) {
    auto it = active_per_tenant_.find(auth::EffectiveTenant(active.job().tenant()));
    if (it != active_per_tenant_.end() && --it->second <= 0) active_per_tenant_.erase(it);
  }
  if (attempt_ended && !active.job().attempts().empty()) {
    // Readers parked on the live tail learn of the end (and of the log blob) at the next
    // Tick, outside the lock.
    const int number = active.job().attempts().rbegin()->number();
    log_tails_.End(active.job().id(), number,
                   EndedLogResponse(active.job(), active.job().attempts_size(), 0));
  }
  if (options_.observer == nullptr) return;
  const kiln::v1::Device* device = nullptr;
  if (!active.job().attempts().empty()) {
    const kiln::v1::Attempt& attempt = *active.job().attempts().rbegin();
    const kiln::v1::Slot* slot = nullptr;
    device = SlotDeviceLocked(attempt.worker_id(), attempt.slot(), &slot);
  }
  if (attempt_ended) options_.observer->AttemptEnded(active.job(), device);
  if (IsTerminal(active.state())) options_.observer->JobFinished(active.job(), device);
}

std::vector<QueueClassInfo> Scheduler::QueueClasses() const {
  absl::MutexLock lock(&mu_);
  std::vector<QueueClassInfo> classes;
  classes.reserve(queue_.class_count());
  queue_.ForEachClass([&](const std::string& key, const kiln::v1::JobSpec& spec, size_t jobs) {
    QueueClassInfo info;
    info.representative = spec;
    info.jobs = jobs;
    if (const std::string* oldest = queue_.OldestJobOf(key); oldest != nullptr) {
      if (auto it = jobs_.find(*oldest); it != jobs_.end())
        info.oldest_ready = it->second.ready_at();
    }
    if (auto it = class_placement_.find(key); it != class_placement_.end()) {
      info.placement = it->second;
    }
    if (auto it = class_reasons_.find(key); it != class_reasons_.end()) info.reason = it->second;
    if (const JobQueue::Share* share = queue_.ShareOf(key); share != nullptr) {
      info.tenant = share->tenant;
      if (std::string limit = fair_share_.LimitReason(*share); !limit.empty()) {
        info.reason = std::move(limit);
      }
    }
    classes.push_back(std::move(info));
  });
  return classes;
}

size_t Scheduler::PackedJobs() const {
  absl::MutexLock lock(&mu_);
  return std::count_if(jobs_.begin(), jobs_.end(),
                       [](const auto& entry) { return entry.second.packed(); });
}

SchedulerStats Scheduler::Stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats = stats_;
  stats.queued = queue_.size() + delayed_.size();
  stats.waiting = waiting_.size();
  stats.leased = leases_.size();
  stats.parked_acquires = waiters_.size();
  stats.workers = workers_.size();
  return stats;
}

}  // namespace kiln::core
