// WorkerAgent: the body of kiln-worker. It lists the host's GPUs with `kiln-exec --probe`,
// starts one slot per selected GPU (its kiln-exec pinned to that GPU with
// CUDA_VISIBLE_DEVICES) plus the CPU slots, and registers them with the scheduler
// (kiln.v1.WorkerService): device "cpu" and one "cuda:<index>" per GPU slot, as that
// slot's own executor probed and self-tested it (a device that failed is advertised not
// runnable, with the reason). Then each slot long-polls AcquireJob, stages the
// job's input blobs (JobService.GetBlob), runs the task on its slot's kiln-exec child
// (ExecutorSupervisor), uploads the outputs (JobService.PutBlob) and reports the end of
// the attempt (CompleteJob / FailJob); a CompleteJob also asks for the slot's next job
// (acquire_next), so a busy slot needs one call per job. A task that fans out (ExecSubmitChildren)
// has its children's files uploaded and the children submitted (SubmitChildJobs) meanwhile. The
// scheduler never dials the worker.
//
// Device verdicts are kept current: after a task failure the executor classifies as
// device-cannot-run (reported as EXIT_REASON_DEVICE_CANNOT_RUN; an executor killed by
// SIGILL counts too), the slot restarts its executor, which probes again; and an idle
// GPU slot does the same every reprobe_interval, on its own thread, so no second
// process touches a GPU that runs jobs. When a device's runnable/reason (or its memory
// in whole GiB) changed, the agent registers again with the new capabilities; running
// jobs are not disturbed.
//
// Ownership: the agent owns one ExecutorSupervisor per slot, the gRPC channel and its
// threads; job files live under <work_dir>/jobs/<job_id>-<attempt>/{in,out} and are
// removed when the attempt ends. What the attempt printed (the bytes its executor added
// to <work_dir>/slot-N.log while it ran, the last max_attempt_log_bytes) is uploaded as
// the blob "attempt-<n>.log" and named in CompleteJob/FailJob (also for task errors,
// executor crashes and timeouts).
//
// Threads: the thread that calls Create() starts the first executors, which die with it
// (PR_SET_PDEATHSIG), so it must outlive the agent; Run() is called once and starts
//   slot-N     one per slot: acquire, stage, run, upload, report;
//   log-N      one per slot while its attempt runs: forwards new output every
//              log_interval (ReportProgress log_chunk) for `kilnctl logs --follow`;
//   heartbeat  extends the held leases every heartbeat_interval, kills the executors of
//              abandoned (cancelled/reassigned) attempts, re-registers when told to;
// and returns when Shutdown() was called and they are joined. Shutdown() may be called
// from any thread; it stops acquiring, kills the executors of running jobs, and the slot
// threads FailJob those attempts with EXIT_REASON_WORKER_STOPPING "worker shutting down",
// which requeues them at once without using up an attempt.
// Drain(grace) (kiln-worker's signal thread calls it on SIGTERM, e.g. from scancel) is
// the gentle form: no slot acquires again, running attempts may finish until the grace
// period ends, then Shutdown() hands back what still runs; Run() returns when the last
// slot is idle or at that deadline.
#ifndef KILN_WORKER_AGENT_WORKER_AGENT_H_
#define KILN_WORKER_AGENT_WORKER_AGENT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "kiln/v1/worker_service.grpc.pb.h"
#include "worker/agent/attempt_log_capture.h"
#include "worker/agent/attempt_observer.h"
#include "worker/agent/executor_supervisor.h"

namespace kiln::agent {

struct WorkerAgentOptions {
  // Scheduler address, host:port.
  std::string scheduler_address;
  // TLS to the scheduler (its CA, a client certificate for mutual TLS); plaintext when
  // empty. Files are read in Create(), before any executor starts.
  ClientTlsOptions tls;
  // Bearer token (a worker token of the scheduler's --auth-tokens file), sent as
  // "authorization: Bearer <token>" on every call; empty: none (printable ASCII only).
  std::string token;
  // Directory for job files and executor logs; created if missing.
  std::string work_dir;
  // Worker id ([A-Za-z0-9._-], at most 128); see DefaultWorkerId().
  std::string worker_id;
  // Number of CPU slots (one executor each); 0 is allowed when there is a GPU slot.
  int slots = 1;
  // GPUs that get a slot, as indices into what `kiln-exec --probe` lists (CUDA ordinals
  // under this process's CUDA_VISIBLE_DEVICES); nullopt: every GPU listed; empty: none
  // (the probe is not run). See ParseGpuSelection().
  std::optional<std::vector<int>> gpus;
  // Simulated devices (kiln-exec --fake-devices): forwarded to every kiln-exec started,
  // the probes included. Empty: the real CUDA devices.
  std::string fake_devices;
  // The heartbeat thread re-probes the GPUs this often; zero or less: never.
  absl::Duration reprobe_interval = absl::Minutes(10);
  // How long one `kiln-exec --probe` may take.
  absl::Duration probe_timeout = absl::Seconds(60);
  // Path of the kiln-exec binary; see DefaultExecPath().
  std::string exec_path;
  // Model repository forwarded to every kiln-exec (--model-repo); empty: none. See
  // DefaultModelRepository().
  std::string model_repo;
  // Long-poll wait of one AcquireJob (its gRPC deadline is this plus 5 s).
  absl::Duration acquire_wait = absl::Seconds(10);
  // Deadline of unary calls (register, heartbeat, progress, complete, fail).
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Deadline of one blob download or upload.
  absl::Duration blob_timeout = absl::Minutes(10);
  // Reports (start, complete, fail) are retried this many times in all while the
  // scheduler is UNAVAILABLE, with backoff from report_backoff_initial.
  int report_attempts = 6;
  absl::Duration report_backoff_initial = absl::Milliseconds(200);
  // Backoff between registration attempts while the scheduler is unreachable.
  absl::Duration register_backoff_initial = absl::Milliseconds(200);
  absl::Duration register_backoff_max = absl::Seconds(10);
  // Task progress is forwarded to the scheduler at most this often.
  absl::Duration progress_interval = absl::Milliseconds(500);
  // New output of a running attempt is forwarded (ReportProgress log_chunk) this often,
  // at most log_chunk_bytes at a time; zero or less: never (the log blob is still sent).
  absl::Duration log_interval = absl::Milliseconds(500);
  int64_t log_chunk_bytes = 64 << 10;
  // Bytes of an attempt's output kept in its log blob (the last ones).
  int64_t max_attempt_log_bytes = int64_t{4} << 20;
  // Used until the scheduler says otherwise in RegisterWorkerResponse.
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // How long a starting executor may take to send ExecReady.
  absl::Duration executor_ready_timeout = absl::Seconds(60);
  // Version advertised in WorkerCapabilities.
  std::string version = "0.1.0";
  // Told of every attempt's end (metrics); borrowed, may be null.
  AttemptObserver* observer = nullptr;
};

// One slot as metrics see it.
struct SlotStatus {
  int index = 0;
  std::string device_id;  // "cpu" or "cuda:N"
  bool busy = false;      // holds an attempt
  uint64_t executor_restarts = 0;
  uint64_t executor_crashes = 0;
};

class WorkerAgent {
 public:
  // Checks the options, prepares work_dir (removing job directories a previous run left
  // behind), probes the GPUs (unless gpus is empty) and starts one executor per slot.
  // InvalidArgument for a bad GPU selection or --fake-devices spec. Does not contact the
  // scheduler.
  static absl::StatusOr<std::unique_ptr<WorkerAgent>> Create(const WorkerAgentOptions& options);
  // Shuts down (if Run() did not) and stops the executors.
  ~WorkerAgent();
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // Registers (retrying with capped backoff until the scheduler answers), prints
  // "kiln-worker <id> registered with <addr>, G GPU slots, C CPU slots" to stderr, serves jobs
  // until Shutdown(), and returns OK once every thread is joined.
  absl::Status Run();
  // Stops the agent; idempotent, any thread.
  void Shutdown();
  // Stops acquiring and lets running attempts finish for up to `grace`, then shuts down
  // (handing back what still runs). Returns at once; any thread; a second call does not
  // extend the deadline. Zero grace is Shutdown().
  void Drain(absl::Duration grace);

  const std::string& worker_id() const { return options_.worker_id; }
  // What the agent registers with now (changes when a re-probe changes a device).
  kiln::v1::WorkerCapabilities capabilities() const;
  // The slots now (for metrics); any thread.
  std::vector<SlotStatus> SlotStatuses() const;

 private:
  struct Slot;
  struct Lease {
    std::string job_id;
    int attempt = 0;
  };
  // What became of an attempt; decides the report.
  struct Outcome;

  explicit WorkerAgent(const WorkerAgentOptions& options);

  bool ShuttingDown() const;
  // Shutdown() or Drain() was called: slots take no new jobs.
  bool StopAcquiring() const;
  // Waits up to `d` or until Shutdown(); false when shutting down.
  bool SleepUnlessShutdown(absl::Duration d);
  absl::Status RegisterOnce();
  // Registers now if a device changed; on failure leaves it to the heartbeat thread.
  void RegisterAfterChange(std::string_view why);
  // Slot thread, idle (after a device-cannot-run failure, or every
  // reprobe_interval): restarts the slot's executor and takes its fresh device verdict.
  void ReprobeSlot(Slot& slot, absl::string_view why);
  // Replaces the advertised device with the same id; true if AdvertisedDeviceChanged().
  bool UpdateDevice(const kiln::v1::Device& device, bool compare_memory);
  void SlotLoop(Slot& slot);
  void HeartbeatLoop();
  void HeartbeatOnce();
  // Runs the attempt and reports its end; returns the slot's next job when the
  // completion brought one (CompleteJob's acquire_next).
  std::optional<kiln::v1::Assignment> RunAssignment(Slot& slot,
                                                    const kiln::v1::Assignment& assignment);
  // Whether the idle slot should restart its executor to probe the device again.
  bool ReprobeDue(const Slot& slot) const;
  // The models the slot's executor holds, as AcquireJob and CompleteJob report them.
  std::vector<std::string> LoadedModels(const Slot& slot) const;
  Outcome Execute(Slot& slot, const kiln::v1::Assignment& assignment, const std::string& dir);
  absl::Status DownloadBlob(Slot& slot, const kiln::v1::BlobRef& ref, const std::string& path);
  absl::StatusOr<kiln::v1::BlobRef> UploadBlob(Slot& slot, const std::string& name,
                                               const std::string& path);
  void ForwardProgress(Slot& slot, const Lease& lease, const kiln::v1::ExecProgress& progress);
  // Slot thread, while the lease's task runs: uploads the files its children name (from
  // the attempt directory `dir`) and calls SubmitChildJobs, fenced by the lease.
  kiln::v1::ExecChildrenResult SubmitChildren(Slot& slot, const Lease& lease,
                                              const std::string& dir,
                                              const kiln::v1::ExecSubmitChildren& submit);
  // Log thread of the slot: sends new output for the live tail (best effort).
  void ForwardLog(Slot& slot, const Lease& lease, const AttemptLogCapture::Chunk& chunk);
  // Saves the output of the attempt that just ran on the slot as attempt-<n>.log in
  // `dir` and uploads it; nullopt when there is none or the upload failed (logged).
  std::optional<kiln::v1::BlobRef> UploadAttemptLog(Slot& slot, const Lease& lease,
                                                    const std::string& dir);
  // Calls a unary report with retries on UNAVAILABLE/DEADLINE_EXCEEDED.
  template <typename Request, typename Response>
  absl::Status Report(std::string_view what, const Request& request, Response* response,
                      grpc::Status (kiln::v1::WorkerService::Stub::*method)(grpc::ClientContext*,
                                                                            const Request&,
                                                                            Response*));

  const WorkerAgentOptions options_;
  // GPUs as the start-up probe listed them (index = host index); set by Create().
  std::vector<kiln::v1::Device> listed_gpus_;
  int gpu_slots_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kiln::v1::WorkerService::Stub> workers_;
  std::unique_ptr<kiln::v1::JobService::Stub> jobs_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;  // Touched by Run() only.

  // Held across snapshot and RPC, so that registrations reach the scheduler in the order
  // of the capabilities they carry. Taken before mu_.
  absl::Mutex register_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  kiln::v1::WorkerCapabilities capabilities_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool need_register_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // Registered and serving.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  int serving_slots_ ABSL_GUARDED_BY(mu_) = 0;  // Slot threads still in SlotLoop().
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
};

// hostname + "-" + 8 hex digits of sha256(absolute_work_dir): stable across restarts
// of the same worker, distinct for two workers on one host.
std::string DefaultWorkerId(std::string_view absolute_work_dir);
// --gpus: "auto" (nullopt: every GPU), "none" (empty), or a comma-separated list of
// distinct indices ("0,2"). InvalidArgument otherwise.
absl::StatusOr<std::optional<std::vector<int>>> ParseGpuSelection(std::string_view text);
// "kiln-exec" in the directory of the running binary (/proc/self/exe).
std::string DefaultExecPath();
// The built-in model repository of a build or install: "models" next to the folder of
// the running binary (build/bin/kiln-worker -> build/models), when it exists; else "".
std::string DefaultModelRepository();
// True for names usable as a file name and a worker or blob name: [A-Za-z0-9._-],
// 1..128 characters, not "." or "..".
bool IsSafeName(std::string_view name);

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_WORKER_AGENT_H_
