// WorkerFleet: simulated kiln workers for kiln-load and the chaos tests. Real gRPC to a
// real scheduler, but no executors: W workers x S slots, each slot a chain of callback
// calls AcquireJob (long-poll) -> ReportProgress (started) -> [job_seconds on the
// timer] -> CompleteJob -> AcquireJob; with acquire_next (as kiln-worker does) the
// CompleteJob asks for the slot's next job (waiting up to next_wait for one) and
// AcquireJob follows only when none came back. Each worker heartbeats the leases it holds
// at the interval the scheduler asks for. A failed call is counted and the chain goes
// on (an acquire after 100 ms), so a fleet rides out a scheduler that dies and comes
// back on the same address.
//
// Ownership: the fleet owns its channels and calls; it borrows plan.timer, which must
// outlive it. Threads: callbacks run on gRPC's threads and the timer's; the public
// methods may be called from any thread. Order: Register, Start, then Stop, the
// timer's Shutdown and Drain before destruction.
#ifndef KILN_BENCH_SIM_FLEET_H_
#define KILN_BENCH_SIM_FLEET_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/kiln_load_support.h"
#include "kiln/v1/worker_service.grpc.pb.h"

namespace kiln::bench {

struct FleetPlan {
  // Makes the channel (one connection) with this index; the fleet uses `channels` of them.
  std::function<std::shared_ptr<grpc::Channel>(int index)> new_channel;
  int workers = 0;
  int slots = 1;
  int channels = 8;
  double job_seconds = 0;
  absl::Duration acquire_wait = absl::Seconds(5);
  // WaitCompletions returns once this many completions were accepted.
  int64_t target_completions = 0;
  TimerThread* timer = nullptr;
  // CompleteJob asks for the slot's next job (CompleteJobRequest.acquire_next).
  bool acquire_next = true;
  // With acquire_next: how long that CompleteJob waits for a next job
  // (CompleteJobRequest.next_wait); zero answers at once and AcquireJob follows.
  absl::Duration next_wait = absl::ZeroDuration();
  // False: the slots never ask for work; the workers only heartbeat (kiln-load's
  // heartbeat mode).
  bool acquire = true;
  // When set, each completion's result carries the job id, attempt and worker id
  // ("job_id", "attempt", "worker_id"), so the stored result names who completed it.
  bool identify_results = false;
  // Called (on a gRPC thread) for every CompleteJob the scheduler accepted; may be empty.
  std::function<void(const std::string& job_id, int attempt, const std::string& worker_id)>
      on_completed;
};

// What a real kiln-worker advertises: a cpu device, at most one GPU (the fleet's GPU
// models are cycled by `index`; index 0 is a CPU-only host), `slots` slots on the GPU
// (or the CPU), each running debug.sleep and mesh.extract.
kiln::v1::WorkerCapabilities SimulatedCapabilities(int index, int slots);

class WorkerFleet {
 public:
  explicit WorkerFleet(FleetPlan plan);
  WorkerFleet(const WorkerFleet&) = delete;
  WorkerFleet& operator=(const WorkerFleet&) = delete;

  // Registers every worker (all calls at once) and waits for the answers.
  absl::Status Register();
  // Starts every slot's chain and every worker's heartbeats.
  void Start();
  // Waits for plan.target_completions or the deadline; returns the count.
  int64_t WaitCompletions(absl::Time deadline);
  // Stops new calls and cancels those in flight (long-polls included).
  void Stop();
  // After Stop (and the timer's Shutdown): waits until every chain has ended.
  bool Drain(absl::Duration timeout);

  int64_t completed() const;
  absl::Time last_completion() const;
  int64_t heartbeats() const { return heartbeats_.load(); }
  // The interval the scheduler asked the workers for (after Register).
  absl::Duration heartbeat_interval() const;
  int64_t errors() const { return errors_.load(); }
  std::string first_error() const;
  // Only jobs created from `t` on count in the latencies below (a warm-up before it:
  // the first assignment to each of a thousand fresh slots is not the steady state).
  void MeasureLatencyFrom(absl::Time t) { measure_from_ns_ = absl::ToUnixNanos(t); }
  const LatencyRecorder& assign_latency() const { return assign_latency_; }
  // assign_latency's parts: created_at to the attempt's assigned_at (the scheduler's
  // decision), and assigned_at to the assignment's arrival (commit, answer, delivery).
  const LatencyRecorder& decide_latency() const { return decide_latency_; }
  const LatencyRecorder& deliver_latency() const { return deliver_latency_; }

 private:
  struct Worker {
    std::string id;
    kiln::v1::WorkerService::Stub* stub = nullptr;
    absl::Duration heartbeat_interval;
    absl::Mutex mu;
    std::vector<kiln::v1::HeldLease> held ABSL_GUARDED_BY(mu);
    std::unique_ptr<grpc::ClientContext> heartbeat_context ABSL_GUARDED_BY(mu);
    std::unique_ptr<grpc::ClientContext> heartbeat_previous ABSL_GUARDED_BY(mu);
    kiln::v1::HeartbeatRequest heartbeat_request;
    kiln::v1::HeartbeatResponse heartbeat_response;
  };
  struct Slot {
    Worker* worker = nullptr;
    absl::Mutex mu;  // guards the contexts against Stop's TryCancel
    std::unique_ptr<grpc::ClientContext> context ABSL_GUARDED_BY(mu);
    std::unique_ptr<grpc::ClientContext> previous ABSL_GUARDED_BY(mu);
    kiln::v1::AcquireJobRequest acquire;
    kiln::v1::AcquireJobResponse acquire_response;
    kiln::v1::ReportProgressRequest progress;
    kiln::v1::ReportProgressResponse progress_response;
    kiln::v1::CompleteJobRequest complete;
    kiln::v1::CompleteJobResponse complete_response;
    // When the CompleteJob in flight was sent: one that waits for a next job counts
    // from then (the scheduler accepts it before the wait).
    absl::Time complete_sent ABSL_GUARDED_BY(mu);
  };

  // A fresh context for the slot's next call; null once stopping.
  grpc::ClientContext* NextContext(absl::Mutex& mu, std::unique_ptr<grpc::ClientContext>& current,
                                   std::unique_ptr<grpc::ClientContext>& previous,
                                   absl::Duration timeout);
  void EndChain();
  void Error(const std::string& what, const grpc::Status& status);
  void Acquire(Slot* slot);
  void OnAcquired(Slot* slot, const grpc::Status& status);
  // Holds the lease and reports the start (then completes on the timer).
  void Run(Slot* slot, const kiln::v1::Assignment& assignment);
  void OnStarted(Slot* slot, const grpc::Status& status);
  void Complete(Slot* slot);
  // Whether CompleteJob waits for the slot's next job (plan's acquire_next, next_wait).
  bool CompletionsWait() const {
    return plan_.acquire_next && plan_.next_wait > absl::ZeroDuration();
  }
  void OnCompleted(Slot* slot, const grpc::Status& status);
  void Heartbeat(Worker* worker);

  const FleetPlan plan_;
  std::vector<std::unique_ptr<kiln::v1::WorkerService::Stub>> stubs_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> heartbeats_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<int64_t> measure_from_ns_{std::numeric_limits<int64_t>::min()};
  LatencyRecorder assign_latency_;
  LatencyRecorder decide_latency_;
  LatencyRecorder deliver_latency_;
  mutable absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_completion_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::bench

#endif  // KILN_BENCH_SIM_FLEET_H_
