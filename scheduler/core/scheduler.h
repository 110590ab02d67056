// Scheduler: the farm's state machine. It owns the in-memory view of every
// non-terminal job (queue, leases, parked long-polls, workers) and turns each
// request into a decision plus a WriteSet. Decisions are taken under one lock and
// handed to the GroupCommitter in decision order; callers are answered from the
// commit callback, i.e. only once the change is durable (sync WAL).
//
// Job life: [WAITING ->] QUEUED -> ASSIGNED (AcquireJob) -> RUNNING (first progress
// report) -> SUCCEEDED | FAILED | CANCELLED. A job with dependencies WAITs until they
// finish (scheduler_dependencies.cc, docs/pipelines.md). A failed attempt, a lapsed lease (no
// heartbeat) or a lost executor requeues the job with backoff until max_attempts. With
// preemption_grace set, a job waiting that long may preempt lower-priority work
// (scheduler_preemption.cc): the victim is requeued at once, its attempt not counted. Every
// assignment carries an attempt number; reports quoting another attempt or worker are rejected
// (fencing), so a job completes exactly once.
//
// Ownership: borrows the Store and the GroupCommitter (both must outlive it).
// Threads: every public method may be called from any thread; completion
// callbacks run on the committer's answer thread (or inline for errors found before any
// write) and must not block. Tick() runs leases, retries and long-poll
// deadlines; a "kiln-tick" thread calls it unless options.run_ticker is false
// (tests drive it with a FakeClock).
#ifndef KILN_SCHEDULER_CORE_SCHEDULER_H_
#define KILN_SCHEDULER_CORE_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "kiln/v1/job_service.pb.h"
#include "kiln/v1/worker_service.pb.h"
#include "scheduler/auth/caller.h"
#include "scheduler/core/active_job.h"
#include "scheduler/core/fair_share.h"
#include "scheduler/core/feature_set_ids.h"
#include "scheduler/core/job_queue.h"
#include "scheduler/core/job_validation.h"
#include "scheduler/core/log_tails.h"
#include "scheduler/core/scheduler_observer.h"
#include "scheduler/core/sharing_policy.h"
#include "scheduler/core/watch_hub.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"

namespace kiln::core {

struct SchedulerOptions {
  absl::Duration lease_duration = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(5);
  absl::Duration max_acquire_wait = absl::Seconds(60);
  // A worker not heard from for this long is shown as lost.
  absl::Duration worker_lost_after = absl::Seconds(60);
  int default_max_attempts = 3;
  absl::Duration retry_backoff_initial = absl::Seconds(1);
  absl::Duration retry_backoff_max = absl::Seconds(60);
  JobLimits limits;
  // How long a device-cannot-run failure keeps that (worker, device, model) apart.
  absl::Duration incapable_cooldown = absl::Minutes(10);
  // How often pending reasons are recomputed.
  absl::Duration pending_reason_interval = absl::Seconds(1);
  int max_slots_per_worker = 256;
  // Models a slot may list (Slot.models) or report loaded (AcquireJob).
  int max_models_per_slot = 1024;
  // Jobs examined per ListJobs call before it returns a partial page.
  int max_list_scan = 20000;
  // Jobs of one tenant that may be queued or running at once; a submit past it is
  // RESOURCE_EXHAUSTED (--max-queued-per-tenant).
  int64_t max_queued_per_tenant = 100000;
  // Tenant weights for the fair share and concurrency limits (--sharing-policy);
  // SetSharingPolicy replaces it at run time.
  SharingPolicy sharing;
  Clock* clock = Clock::Real();
  // Told of assignments, attempt ends and terminal states (metrics); borrowed, may be null.
  SchedulerObserver* observer = nullptr;
  bool run_ticker = true;
  absl::Duration tick_interval = absl::Milliseconds(50);
  // Live output of running attempts (GetJobLog): bounds of the in-memory tails.
  LogTailsOptions log_tails;
  // Longest wait of one GetJobLog long-poll.
  absl::Duration max_log_wait = absl::Seconds(60);
  // Preemption (scheduler_preemption.cc, docs/placement.md): a ready job that has waited
  // this long, while no free slot can take it, ends the attempt of lower-priority work on
  // a slot that can run it (not counted against max_attempts) and gets that slot.
  // Zero: never preempt (--preempt-after).
  absl::Duration preemption_grace = absl::ZeroDuration();
  // How much higher than its victim's a waiting job's priority must be (>= 1;
  // --preempt-min-priority-gap).
  int preemption_min_priority_gap = 1;
  // Whether a job may preempt work of another tenant. Off: priorities are set by each
  // tenant for its own work, so they only order a tenant's jobs against each other
  // (--preempt-across-tenants).
  bool preemption_across_tenants = false;
  // Most preemptions per pending-reason interval (bounds the work of one Tick).
  int max_preemptions_per_interval = 8;
};

// Counters and gauges for metrics and tests.
struct SchedulerStats {
  uint64_t jobs_submitted = 0;
  uint64_t jobs_succeeded = 0;
  uint64_t jobs_failed = 0;
  uint64_t jobs_cancelled = 0;
  uint64_t attempts_retried = 0;
  uint64_t leases_expired = 0;
  // Attempts ended to give their slot to higher-priority work (preemption_grace).
  uint64_t preemptions = 0;
  // Jobs handed to a slot in the answer of its CompleteJob (acquire_next).
  uint64_t assigned_with_completion = 0;
  // Assignments whose answer did not reach the worker, requeued (ReturnUndelivered).
  uint64_t assignments_undelivered = 0;
  size_t queued = 0;   // ready and waiting for backoff
  size_t waiting = 0;  // WAITING for dependencies
  size_t leased = 0;   // ASSIGNED or RUNNING
  size_t parked_acquires = 0;
  size_t workers = 0;
  // Times a requirement class of ready jobs started waiting for this reason, by
  // ClassPlacement (kNoWorkerAlive, kNoCapableWorker, kSlotsBusy); see QueueClasses().
  uint64_t placement_failures[5] = {};
};

// Why the ready jobs of one requirement class wait, as of the last pending-reason refresh.
enum class ClassPlacement {
  kUnknown = 0,          // not judged yet
  kNoWorkerAlive = 1,    // no live worker at all
  kNoCapableWorker = 2,  // live workers, none with a slot that can run it
  kSlotsBusy = 3,        // every slot that can run it holds a job
  kSlotsFree = 4,        // some fitting slot is free (memory held, or not asked yet)
};

// One requirement class of ready queued jobs, for metrics.
struct QueueClassInfo {
  kiln::v1::JobSpec representative;  // task, model, tiers, requirements
  size_t jobs = 0;
  absl::Time oldest_ready = absl::InfiniteFuture();  // when its longest waiter became ready
  ClassPlacement placement = ClassPlacement::kUnknown;
  // Why its jobs wait, in words (as on their status_message); empty until judged. A
  // sharing-policy limit holding the class back is named at once.
  std::string reason;
  // The tenant whose jobs these are (classes are per tenant).
  std::string tenant;
};

// Who submits: the tenant the jobs belong to, and whether their inputs may be any stored
// blob (admins) or only blobs the tenant may read (users).
struct SubmitOrigin {
  std::string tenant = auth::kDefaultTenant;
  bool any_input_blob = true;
};

// Who gains access to a blob by an upload: a tenant (users and admins upload for their
// tenant) and/or a worker token's name (its uploads are its own until a job names them).
struct BlobGrant {
  std::string tenant;
  std::string worker;
};

class Scheduler {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  // Rebuilds the in-memory state from the store (queue, leases, workers).
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerOptions& options,
                                                           store::Store* store,
                                                           store::GroupCommitter* committer);
  // Stops the ticker and answers parked long-polls with Unavailable.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // --- JobService ---
  // All specs are validated first; then they are stored in one durable write.
  // `field` names the request field in errors ("spec" or "specs").
  // The jobs belong to origin.tenant; at most max_queued_per_tenant of them may be
  // non-terminal at once. Client request ids are per tenant.
  void Submit(std::vector<kiln::v1::JobSpec> specs, bool batch, const SubmitOrigin& origin,
              Callback<std::vector<kiln::v1::SubmitJobResponse>> done);
  // The same for the default tenant, any input blob (authentication off).
  void Submit(std::vector<kiln::v1::JobSpec> specs, bool batch,
              Callback<std::vector<kiln::v1::SubmitJobResponse>> done) {
    Submit(std::move(specs), batch, SubmitOrigin{}, std::move(done));
  }
  absl::StatusOr<kiln::v1::Job> GetJob(const std::string& job_id) const;
  absl::StatusOr<kiln::v1::ListJobsResponse> ListJobs(
      const kiln::v1::ListJobsRequest& request) const;
  // The same with one more filter (e.g. the dashboard's model and tenant filters): a job
  // is listed only when `also` returns true for it. `also` runs without the scheduler's
  // lock and counts against the same scan bound (max_list_scan), so a page may come back
  // short with a next_page_token.
  absl::StatusOr<kiln::v1::ListJobsResponse> ListJobs(
      const kiln::v1::ListJobsRequest& request,
      const std::function<bool(const kiln::v1::Job&)>& also) const;
  void Cancel(const std::string& job_id, const std::string& reason, Callback<kiln::v1::Job> done);
  // Records an uploaded blob's metadata durably, adding `grant` to who may read it (an
  // existing blob keeps its earlier readers). Answers at once when nothing changes.
  void PutBlob(const kiln::v1::StoredBlob& blob, const BlobGrant& grant,
               std::function<void(absl::Status)> done);
  void PutBlob(const kiln::v1::StoredBlob& blob, std::function<void(absl::Status)> done) {
    PutBlob(blob, BlobGrant{auth::kDefaultTenant, ""}, std::move(done));
  }
  // Whether `sha256` is an input of a job leased now to a worker for which
  // `worker_allowed(worker_id)` holds (a worker may read the inputs of its jobs).
  bool IsInputOfLeasedJob(const std::string& sha256,
                          const std::function<bool(const std::string&)>& worker_allowed) const;
  absl::StatusOr<kiln::v1::StoredBlob> GetBlob(const std::string& sha256) const;
  std::vector<kiln::v1::WorkerInfo> ListWorkers() const;
  // Drains a worker (`draining`: no new assignments) or ends its drain; stored, then
  // `done` gets the worker. NOT_FOUND for an unknown worker.
  void DrainWorker(const std::string& worker_id, bool draining,
                   Callback<kiln::v1::WorkerInfo> done);
  WatchHub& watch_hub() { return watch_hub_; }
  // What an attempt printed: for a running attempt the live tail from request.offset
  // (parking until bytes arrive, the attempt ends or the wait passes); for an ended one
  // its log blob reference. NotFound for an unknown job, OutOfRange for an attempt it
  // does not have, FailedPrecondition while it has no attempt. Returns an id for
  // CancelJobLog (0 when answered at once); `done` runs on another thread when parked.
  uint64_t GetJobLog(const kiln::v1::GetJobLogRequest& request,
                     Callback<kiln::v1::GetJobLogResponse> done);
  // The client went away: drop the parked read (answered with Cancelled).
  void CancelJobLog(uint64_t waiter_id);
  // In-memory live tails, for tests.
  const LogTails& log_tails() const { return log_tails_; }

  // --- WorkerService ---
  void RegisterWorker(const kiln::v1::RegisterWorkerRequest& request,
                      Callback<kiln::v1::RegisterWorkerResponse> done);
  // Answers at once with a job, or parks until one fits or the wait ends.
  // Returns an id for CancelAcquire (0 when answered at once).
  uint64_t AcquireJob(const kiln::v1::AcquireJobRequest& request,
                      Callback<kiln::v1::AcquireJobResponse> done);
  // The client went away: drop the parked call (answered with Cancelled).
  void CancelAcquire(uint64_t waiter_id);
  // The answer that carried `assignment` did not reach its worker (the call ended first):
  // unless the attempt has started since, it ends as EXIT_REASON_UNDELIVERED, not
  // counted, and the job is requeued now rather than when the lease lapses.
  void ReturnUndelivered(const kiln::v1::Assignment& assignment);
  absl::StatusOr<kiln::v1::HeartbeatResponse> Heartbeat(const kiln::v1::HeartbeatRequest& request);
  void ReportProgress(const kiln::v1::ReportProgressRequest& request,
                      std::function<void(absl::Status)> done);
  // Completes the attempt; with request.acquire_next also assigns the freed slot its
  // next ready job, answered once both writes are durable. Without a ready job the slot
  // parks for request.next_wait as in AcquireJob; returns an id for CancelAcquire then
  // (0 when not parked).
  uint64_t CompleteJobWithNext(const kiln::v1::CompleteJobRequest& request,
                               Callback<kiln::v1::CompleteJobResponse> done);
  void CompleteJob(const kiln::v1::CompleteJobRequest& request,
                   std::function<void(absl::Status)> done);
  void FailJob(const kiln::v1::FailJobRequest& request, Callback<kiln::v1::FailJobResponse> done);
  // Fan-out: the attempt holding the lease submits children (one durable write, like
  // SubmitJobs); children record their parent, and cancelling the parent cancels them.
  void SubmitChildJobs(const kiln::v1::SubmitChildJobsRequest& request,
                       Callback<kiln::v1::SubmitChildJobsResponse> done);

  // Expires leases and long-polls, releases retries whose backoff ended.
  void Tick();
  SchedulerStats Stats() const;

  // --- Sharing (scheduler_sharing.cc) ---
  // Replaces the sharing policy (SIGHUP); ready jobs are re-queued under the new limits.
  void SetSharingPolicy(SharingPolicy policy);
  // Jobs assigned or running per tenant (tenants with none are absent), for metrics.
  std::map<std::string, int64_t> RunningByTenant() const;
  // The ready queue by requirement class (scrape time; O(classes) under the lock).
  std::vector<QueueClassInfo> QueueClasses() const;
  // How many jobs are held packed (ActiveJob); O(jobs) under the lock: tests and debugging.
  size_t PackedJobs() const;

 private:
  // What the dependencies of a spec being submitted say about it.
  struct DependencyCheck {
    std::vector<std::string> pending;  // ids not finished yet: the job WAITs
    std::string blocked;               // non-empty: the job is CANCELLED with this message
  };
  struct WorkerState {
    kiln::v1::WorkerInfo info;
    absl::Time last_seen;
    // Per slot: the models its executor had loaded at its last AcquireJob.
    std::vector<std::vector<std::string>> loaded_models;
  };
  // A waiting slot's place in waiter_order_: its device class (compute capability,
  // memory, feature set id in feature_sets_), then the waiter id.
  using WaiterKey = std::tuple<int, int64_t, int, uint64_t>;
  struct Waiter {
    std::string worker_id;
    int slot = 0;
    absl::Time deadline;
    Callback<kiln::v1::AcquireJobResponse> done;
    // Position in waiter_order_.
    WaiterKey order;
  };

  Scheduler(const SchedulerOptions& options, store::Store* store, store::GroupCommitter* committer);
  absl::Status RecoverLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submit, and SubmitChildJobs for `parent` (non-null: the fenced request whose
  // attempt submits `specs` as its children).
  void SubmitImpl(std::vector<kiln::v1::JobSpec> specs, bool batch, const SubmitOrigin& origin,
                  const kiln::v1::SubmitChildJobsRequest* parent,
                  Callback<std::vector<kiln::v1::SubmitJobResponse>> done);

  // --- Dependencies and fan-out (scheduler_dependencies.cc) ---
  // Resolves the dependencies of spec `index` (batch indexes become job ids in `spec`)
  // and checks that they exist; InvalidArgument naming `field`.dependencies[j].
  absl::StatusOr<DependencyCheck> CheckDependenciesLocked(
      kiln::v1::JobSpec& spec, size_t index,
      const std::vector<kiln::v1::SubmitJobResponse>& results, const std::string& field)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `parent`'s worker, job and attempt hold the lease, and the job may have
  // that many more children.
  absl::Status CheckParentLocked(const kiln::v1::SubmitChildJobsRequest& parent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shapes a job being submitted (QUEUED so far) by its dependency check: WAITING
  // (marked in `writes`), CANCELLED or FAILED at once, or QUEUED with the outputs of
  // its finished dependencies; records `parent_id` (may be empty) as its parent.
  void ApplyDependencyCheckLocked(DependencyCheck check, const std::string& parent_id,
                                  ActiveJob& active, store::WriteSet& writes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the outputs of every dependency of `job` (all finished) to its inputs.
  // FailedPrecondition when two inputs would share a name or there are too many.
  absl::Status AddDependencyOutputsLocked(kiln::v1::Job& job) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After SubmitImpl stored new jobs: indexes WAITING ones under their dependencies
  // (recording them on unfinished dependencies) and children under their parent.
  void LinkNewJobsLocked(const std::vector<std::string>& new_ids, const std::string& parent_id,
                         store::WriteSet& writes, std::vector<std::string>& changed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels a job that has not finished (any state) with `message`; stats and observer
  // included. Does not propagate: see PropagateFinishLocked.
  void CancelJobLocked(ActiveJob& active, const std::string& message, store::WriteSet& writes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `job_id` just became terminal (still in jobs_): settles the jobs waiting on it and,
  // when it was cancelled, cancels its unfinished children; transitively. Every job
  // changed is written to `writes` and named in `changed`.
  void PropagateFinishLocked(const std::string& job_id, store::WriteSet& writes,
                             std::vector<std::string>& changed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dependency `dep_id` of WAITING `waiting` finished as `state`: cancels it (pushing it
  // onto `finished`), or queues it (or fails it) when that was the last one.
  void SettleDependentLocked(ActiveJob& waiting, const std::string& dep_id,
                             kiln::v1::JobState state, const std::string& dep_message,
                             store::WriteSet& writes, std::vector<std::string>& changed,
                             std::vector<std::string>& finished) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The last dependency of `waiting` finished: QUEUED with their outputs as inputs, or
  // FAILED (pushed onto `finished`) when those clash.
  void ReleaseWaitingLocked(ActiveJob& waiting, store::WriteSet& writes,
                            std::vector<std::string>& changed, std::vector<std::string>& finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RecoverLocked's part: the reverse dependency index and the children index from the
  // loaded jobs; settles (and commits) waiting jobs whose dependencies already finished.
  absl::Status RecoverPipelinesLocked(const std::vector<std::string>& waiting_ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Unavailable while memory waits to be rebuilt after a failed commit.
  absl::Status WritableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists `writes`; once durable, publishes the snapshots of `job_ids` as
  // they are now (the decision being persisted) to watchers and runs `then`.
  // `blob_shas` are pending_blobs_ entries this write carries, released once it ends.
  void CommitLocked(store::WriteSet writes, std::vector<std::string> job_ids,
                    std::function<void(absl::Status)> then, std::vector<std::string> blob_shas = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The record of blob `sha256` with `grant` added to its readers (`fresh`: its metadata
  // when it is not stored yet), or nullopt when the stored record says all that already.
  // NotFound when neither stored nor fresh.
  absl::StatusOr<std::optional<kiln::v1::StoredBlob>> GrantedBlobLocked(
      const std::string& sha256, const BlobGrant& grant, const kiln::v1::StoredBlob* fresh) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The records of `outputs` and `log` (when set) with the job's tenant added to their
  // readers, those that change: an attempt's outputs and log become its job's tenant's.
  absl::StatusOr<std::vector<kiln::v1::StoredBlob>> GrantedToJobLocked(
      const kiln::v1::Job& job, const std::vector<kiln::v1::BlobRef>& outputs,
      const kiln::v1::BlobRef& log) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts `blob` in `writes` and in pending_blobs_ until the write ends (CommitLocked's
  // blob_shas, to which its sha is appended in `pending`).
  void RecordBlobLocked(const kiln::v1::StoredBlob& blob, store::WriteSet& writes,
                        std::vector<std::string>& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TouchLocked(ActiveJob& active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnqueueLocked(ActiveJob& active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same with `job`, active's job parsed (a packed job's record, read in recovery).
  void EnqueueLocked(ActiveJob& active, const kiln::v1::Job& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts a ready job into queue_; an unpacked one is packed at the next Tick if still queued.
  void QueueLocked(const ActiveJob& active, const kiln::v1::Job& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Packs the jobs queued since the last Tick that still wait (ActiveJob): only here, so
  // no reference to a parsed job taken under the lock elsewhere is ever left dangling,
  // and a job assigned within a tick of its submit is never packed at all.
  void PackQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetLeaseLocked(ActiveJob& active, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearLeaseLocked(ActiveJob& active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the current attempt; requeues (with backoff when it `counted` against
  // max_attempts) or fails the job.
  void EndAttemptWithFailureLocked(ActiveJob& active, kiln::v1::ExitReason reason,
                                   const std::string& message, bool permanent, bool counted,
                                   store::WriteSet& writes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finds the fencing target of a worker report, or why it is stale (or
  // Unavailable while memory waits to be rebuilt).
  absl::StatusOr<ActiveJob*> FindLeasedLocked(const std::string& worker_id,
                                              const std::string& job_id, int attempt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the assignment of queued `active` (already out of queue_) to the slot at
  // `tier` and answers `done` once it is durable.
  void AssignLocked(ActiveJob& active, const std::string& worker_id, int slot_index,
                    const kiln::v1::Device& device, int tier,
                    Callback<kiln::v1::AcquireJobResponse>& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tries to give `waiter` a job; true when one was assigned (done will run).
  // `only_tier` >= 0 restricts it to jobs whose first tier this slot runs is that one.
  // `only` restricts it to jobs of that tenant and priority, `only_warm` to jobs
  // whose model the slot has loaded.
  bool TryAssignLocked(const std::string& worker_id, int slot,
                       Callback<kiln::v1::AcquireJobResponse>& done, int only_tier = -1,
                       std::optional<JobQueue::Pick> only = std::nullopt, bool only_warm = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the observer that the current attempt of `active` ended (when
  // `attempt_ended`) and, if the job is terminal now, that it finished.
  void ObserveEndLocked(const ActiveJob& active, bool attempt_ended)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const kiln::v1::Device* SlotDeviceLocked(const std::string& worker_id, int slot_index,
                                           const kiln::v1::Slot** slot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the slot reported any model loaded at its last AcquireJob.
  bool HasLoadedModelsLocked(const std::string& worker_id, int slot_index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the slot's executor has the model of tier `tier` of `spec` loaded.
  bool WarmLocked(const std::string& worker_id, int slot_index, const kiln::v1::JobSpec& spec,
                  int tier) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Device memory held by the leased jobs on a worker's device.
  int64_t ReservedLocked(const std::string& worker_id, const std::string& device_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds (+1) or releases (-1) the memory of the job's current attempt, and counts the job
  // as running (or not) for the fair share and limits.
  void ReserveLocked(const ActiveJob& active, int sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A device-cannot-run failure keeps (worker, device, model) apart for a while.
  bool IncapableLocked(const std::string& worker_id, const std::string& device_id,
                       const kiln::v1::JobSpec& spec, int tier, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first tier of `spec` this slot runs now, if any.
  std::optional<int> FittingTierLocked(const std::string& worker_id, const kiln::v1::Device& device,
                                       const kiln::v1::Slot& slot, const kiln::v1::JobSpec& spec,
                                       int64_t reserved_bytes, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes why each class of ready queued jobs is waiting.
  void UpdatePendingReasonsLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `job` (a copy) with its pending reason, for GetJob and ListJobs.
  kiln::v1::Job WithPendingReasonLocked(kiln::v1::Job job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DispatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DispatchLocked for just-queued jobs when nothing else changed: asks only
  // about their classes instead of every class for every waiting slot.
  void DispatchNewJobsLocked(const std::vector<std::string>& job_ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a parked acquire from both indexes; returns the next one by id.
  std::map<uint64_t, Waiter>::iterator EraseWaiterLocked(std::map<uint64_t, Waiter>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunTicker();

  // --- Preemption (scheduler_preemption.cc) ---
  // Once per pending-reason interval when preemption_grace is set: for ready jobs that
  // waited past it with no parked slot able to take them, highest priority first, ends
  // the attempt of the lowest-priority (then youngest) leased job whose slot can run
  // them, and reserves that slot for them. At most max_preemptions_per_interval.
  void PreemptLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `victim`'s attempt as EXIT_REASON_PREEMPTED (not counted, no backoff) and
  // requeues it; `by` is the job it gives way to, `waited` how long that one waited.
  void PreemptAttemptLocked(ActiveJob& victim, const ActiveJob& by, absl::Duration waited,
                            store::WriteSet& writes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AcquireJob's first choice: the job a preemption freed this slot for, while it is
  // still queued and still fits. True when it was assigned (done will run).
  bool TryAssignReservedLocked(const std::string& worker_id, int slot_index,
                               Callback<kiln::v1::AcquireJobResponse>& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A slot asks for work now (AcquireJob, CompleteJob's acquire_next): notes the
  // worker seen and the slot's loaded models, then assigns the reserved job or the best
  // fitting one. True when assigned (done will run).
  bool AssignToAskingSlotLocked(
      const std::string& worker_id, int slot_index,
      const google::protobuf::RepeatedPtrField<std::string>& loaded_models,
      Callback<kiln::v1::AcquireJobResponse>& done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot found no job: parks `done` (moved from) until one fits or `wait` (capped by
  // max_acquire_wait) ends. Returns the waiter's id, or 0 (done untouched) for no wait.
  uint64_t ParkLocked(const std::string& worker_id, int slot_index,
                      const google::protobuf::Duration& wait,
                      Callback<kiln::v1::AcquireJobResponse>& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SchedulerOptions options_;
  Clock* const clock_;
  store::Store* const store_;
  store::GroupCommitter* const committer_;
  WatchHub watch_hub_;
  // Taken after mu_ (the scheduler calls it under mu_ so that reads and ends are ordered).
  LogTails log_tails_;

  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Node-based: a flat map's slot array would hold up to twice the jobs' inline size
  // (a million queued jobs: hundreds of MiB of empty slots; bench/README.md, kiln-load).
  absl::node_hash_map<std::string, ActiveJob> jobs_ ABSL_GUARDED_BY(mu_);
  // Ids of the WAITING jobs.
  absl::flat_hash_set<std::string> waiting_ ABSL_GUARDED_BY(mu_);
  // Dependency id -> the jobs that waited on it (reverse index: a finish settles only
  // its own dependents; entries of jobs no longer WAITING are skipped then).
  absl::flat_hash_map<std::string, std::vector<std::string>> dependents_ ABSL_GUARDED_BY(mu_);
  // Parent id -> its unfinished children (SubmitChildJobs).
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> children_ ABSL_GUARDED_BY(mu_);
  JobQueue queue_ ABSL_GUARDED_BY(mu_);
  // Jobs put into queue_ unpacked since the last Tick (PackQueuedLocked).
  std::vector<std::string> to_pack_ ABSL_GUARDED_BY(mu_);
  // The sharing policy and the leased jobs per tenant and label (counted in ReserveLocked).
  FairShare fair_share_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> delayed_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> leases_ ABSL_GUARDED_BY(mu_);
  // Request ids whose submit is not durable yet (the store knows the others).
  absl::flat_hash_map<std::string, std::string> pending_requests_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, WorkerState> workers_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);  // FIFO by id
  // The same waiters, least capable device first (kept, not sorted per dispatch).
  std::set<WaiterKey> waiter_order_ ABSL_GUARDED_BY(mu_);
  FeatureSetIds feature_sets_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Set when a commit failed: memory is ahead of the store. Every mutating call
  // answers Unavailable until Tick has rebuilt memory from the store, which it
  // does once no commit is in flight (the committer fails everything after a
  // failure, so the store then holds exactly the acknowledged decisions).
  bool reload_needed_ ABSL_GUARDED_BY(mu_) = false;
  int commits_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_reload_error_ ABSL_GUARDED_BY(mu_);
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  // Tenant -> its non-terminal jobs (max_queued_per_tenant).
  absl::flat_hash_map<std::string, int64_t> active_per_tenant_ ABSL_GUARDED_BY(mu_);
  // Blob records being written (readers added): later grants merge with these, not with
  // the store, until the write ends.
  struct PendingBlob {
    kiln::v1::StoredBlob blob;
    int writes = 0;
  };
  absl::flat_hash_map<std::string, PendingBlob> pending_blobs_ ABSL_GUARDED_BY(mu_);
  // "worker/device" -> bytes of device memory the leased jobs there asked for.
  absl::flat_hash_map<std::string, int64_t> reserved_ ABSL_GUARDED_BY(mu_);
  // "worker/device/task/model" -> until when that device is kept from them.
  absl::flat_hash_map<std::string, absl::Time> incapable_ ABSL_GUARDED_BY(mu_);
  // Requirement class key -> why its ready jobs wait (refreshed by Tick).
  absl::flat_hash_map<std::string, std::string> class_reasons_ ABSL_GUARDED_BY(mu_);
  // Requirement class key -> the same, as a category for metrics.
  absl::flat_hash_map<std::string, ClassPlacement> class_placement_ ABSL_GUARDED_BY(mu_);
  absl::Time reasons_updated_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Set by whatever may let a parked slot fit a queued job (a job became ready,
  // a lease ended, a worker registered, a cool-down ended); Tick dispatches then.
  bool dispatch_needed_ ABSL_GUARDED_BY(mu_) = false;
  // Slots freed by a preemption, "worker#slot" -> the job they are kept for and until
  // when (the worker learns of the preemption at its next heartbeat, then asks again).
  struct SlotReservation {
    std::string job_id;
    absl::Time until;
    // "worker/device" of the slot and the device memory the job asks for there, kept
    // out of later preemption decisions until the job is assigned.
    std::string memory_key;
    int64_t memory_bytes = 0;
  };
  absl::flat_hash_map<std::string, SlotReservation> slot_reservations_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::thread ticker_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_SCHEDULER_H_
