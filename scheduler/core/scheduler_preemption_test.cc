// Preemption of lower-priority work (scheduler_preemption.cc) with a fake clock: nothing
// before the grace period, the victim's attempt ends as PREEMPTED without using up an
// attempt, the freed slot goes to the job that waited, stale reports of the preempted
// attempt are rejected, and the victim runs again later.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/scheduler_test_util.h"

namespace kiln::core {
namespace {

using testing::Result;
using testing::StatusResult;

constexpr absl::Duration kGrace = absl::Seconds(30);

kiln::v1::JobSpec Spec(int priority, int max_attempts = 3) {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  spec.set_priority(priority);
  spec.set_max_attempts(max_attempts);
  google::protobuf::util::JsonStringToMessage(
      R"({"shape":{"type":"sphere","radius":1},"resolution":16})", spec.mutable_parameters());
  return spec;
}

class PreemptionTest : public ::testing::Test {
 protected:
  void Open(absl::Duration grace = kGrace) {
    SchedulerOptions options = options_;
    options.clock = &clock_;
    options.run_ticker = false;
    // Long leases: the tests advance the clock past the grace period without heartbeats.
    options.lease_duration = absl::Minutes(10);
    options.preemption_grace = grace;
    testing::OpenOnDisk({.path = dir_.Sub("db")}, options, store_, committer_, scheduler_);
  }

  // One slot on a CPU (compute_capability 0) or a GPU with 16 GiB.
  void Register(const std::string& worker, int compute_capability = 0) {
    kiln::v1::RegisterWorkerRequest request;
    request.set_worker_id(worker);
    auto* device = request.mutable_capabilities()->add_devices();
    device->set_id(compute_capability ? "cuda:0" : "cpu");
    device->set_compute_capability(compute_capability);
    device->set_total_memory_bytes(int64_t{16} << 30);
    device->set_runnable(true);
    auto* slot = request.mutable_capabilities()->add_slots();
    slot->set_index(0);
    slot->set_device_id(device->id());
    slot->add_tasks("mesh.extract");
    Result<kiln::v1::RegisterWorkerResponse> result;
    scheduler_->RegisterWorker(request, result.callback());
    ASSERT_TRUE(result.Get().ok()) << result.Get().status();
  }

  kiln::v1::Job Submit(const kiln::v1::JobSpec& spec, const std::string& tenant = "") {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    SubmitOrigin origin;
    if (!tenant.empty()) origin.tenant = tenant;
    scheduler_->Submit({spec}, false, origin, result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    return result.Get().ok() ? result.Get()->front().job() : kiln::v1::Job();
  }

  std::optional<kiln::v1::Assignment> Acquire(const std::string& worker) {
    return testing::AcquireNow(*scheduler_, worker);
  }

  absl::Status Progress(const std::string& worker, const std::string& job_id, int attempt) {
    return testing::ReportHalfway(*scheduler_, worker, job_id, attempt);
  }

  absl::Status Complete(const std::string& worker, const std::string& job_id, int attempt) {
    return testing::CompleteAttempt(*scheduler_, worker, job_id, attempt);
  }

  absl::StatusOr<kiln::v1::FailJobResponse> Fail(const std::string& worker,
                                                 const std::string& job_id, int attempt,
                                                 kiln::v1::ExitReason reason) {
    kiln::v1::FailJobRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    request.set_reason(reason);
    request.set_message("task error");
    Result<kiln::v1::FailJobResponse> result;
    scheduler_->FailJob(request, result.callback());
    return result.Get();
  }

  // Acquires `job_id` on `worker` and starts it (RUNNING); returns its attempt number.
  int Start(const std::string& worker, const std::string& job_id) {
    std::optional<kiln::v1::Assignment> assignment = Acquire(worker);
    EXPECT_TRUE(assignment.has_value());
    if (!assignment.has_value()) return 0;
    EXPECT_EQ(assignment->job().id(), job_id);
    EXPECT_TRUE(Progress(worker, job_id, assignment->attempt()).ok());
    return assignment->attempt();
  }

  // Advances the clock by `d` in one-second ticks (the pending-reason interval).
  void TickFor(absl::Duration d) {
    for (absl::Duration passed; passed < d; passed += absl::Seconds(1)) {
      clock_.Advance(absl::Seconds(1));
      scheduler_->Tick();
    }
  }

  kiln::v1::Job Get(const std::string& job_id) { return *scheduler_->GetJob(job_id); }

  SchedulerOptions options_;
  kiln::testing::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(PreemptionTest, OffByDefault) {
  Open(absl::ZeroDuration());
  Register("w1");
  const kiln::v1::Job low = Submit(Spec(0));
  Start("w1", low.id());
  const kiln::v1::Job high = Submit(Spec(100));
  TickFor(absl::Minutes(5));
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Get(high.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(scheduler_->Stats().preemptions, 0u);
}

TEST_F(PreemptionTest, LowerPriorityAttemptGivesWayAfterTheGracePeriod) {
  Open();
  Register("w1");
  const kiln::v1::Job low = Submit(Spec(0, /*max_attempts=*/1));
  ASSERT_EQ(Start("w1", low.id()), 1);
  const kiln::v1::Job high = Submit(Spec(10));

  // Not before the grace period.
  TickFor(kGrace - absl::Seconds(2));
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 0u);

  TickFor(absl::Seconds(3));
  kiln::v1::Job preempted = Get(low.id());
  EXPECT_EQ(preempted.state(), kiln::v1::JOB_STATE_QUEUED);
  ASSERT_EQ(preempted.attempts_size(), 1);
  const kiln::v1::Attempt& attempt = preempted.attempts(0);
  EXPECT_EQ(attempt.exit_reason(), kiln::v1::EXIT_REASON_PREEMPTED);
  EXPECT_TRUE(attempt.not_counted());
  EXPECT_TRUE(attempt.has_ended_at());
  EXPECT_NE(attempt.message().find("preempted by " + high.id()), std::string::npos)
      << attempt.message();
  EXPECT_NE(preempted.status_message().find("preempted by " + high.id()), std::string::npos)
      << preempted.status_message();
  EXPECT_EQ(scheduler_->Stats().preemptions, 1u);

  // The worker learns at its next heartbeat; its late reports are stale.
  kiln::v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id("w1");
  kiln::v1::HeldLease* held = heartbeat.add_leases();
  held->set_job_id(low.id());
  held->set_attempt(1);
  absl::StatusOr<kiln::v1::HeartbeatResponse> response = scheduler_->Heartbeat(heartbeat);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->abandon_size(), 1);
  EXPECT_EQ(response->abandon(0).job_id(), low.id());
  EXPECT_EQ(Progress("w1", low.id(), 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Complete("w1", low.id(), 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Fail("w1", low.id(), 1, kiln::v1::EXIT_REASON_EXECUTOR_CRASH).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_QUEUED);

  // The slot goes to the job that waited, then the victim runs again and succeeds
  // although max_attempts is 1.
  ASSERT_EQ(Start("w1", high.id()), 1);
  ASSERT_TRUE(Complete("w1", high.id(), 1).ok());
  ASSERT_EQ(Start("w1", low.id()), 2);
  ASSERT_TRUE(Complete("w1", low.id(), 2).ok());
  const kiln::v1::Job done = Get(low.id());
  EXPECT_EQ(done.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(done.attempts_size(), 2);
  EXPECT_EQ(done.attempts(1).exit_reason(), kiln::v1::EXIT_REASON_SUCCEEDED);
}

TEST_F(PreemptionTest, PreemptedTwiceWithOneAttemptStillSucceeds) {
  Open();
  Register("w1");
  const kiln::v1::Job low = Submit(Spec(0, /*max_attempts=*/1));
  int attempt = Start("w1", low.id());
  for (int round = 0; round < 2; ++round) {
    const kiln::v1::Job high = Submit(Spec(5));
    TickFor(kGrace + absl::Seconds(1));
    ASSERT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_QUEUED) << "round " << round;
    ASSERT_EQ(Start("w1", high.id()), 1);
    ASSERT_TRUE(Complete("w1", high.id(), 1).ok());
    attempt = Start("w1", low.id());
    ASSERT_EQ(attempt, round + 2);
  }
  ASSERT_TRUE(Complete("w1", low.id(), attempt).ok());
  const kiln::v1::Job done = Get(low.id());
  EXPECT_EQ(done.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(done.attempts_size(), 3);
  EXPECT_EQ(done.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_PREEMPTED);
  EXPECT_EQ(done.attempts(1).exit_reason(), kiln::v1::EXIT_REASON_PREEMPTED);
  EXPECT_EQ(scheduler_->Stats().preemptions, 2u);
}

// Preempted attempts do not count toward the bound on uncounted attempts either
// (max_attempts + 10): a job preempted a dozen times still gets its retries.
TEST_F(PreemptionTest, ManyPreemptionsLeaveTheRetriesIntact) {
  Open();
  Register("w1");
  const kiln::v1::Job low = Submit(Spec(0, /*max_attempts=*/2));
  int attempt = Start("w1", low.id());
  for (int round = 0; round < 12; ++round) {
    const kiln::v1::Job high = Submit(Spec(5));
    TickFor(kGrace + absl::Seconds(1));
    ASSERT_EQ(Start("w1", high.id()), 1) << "round " << round;
    ASSERT_TRUE(Complete("w1", high.id(), 1).ok());
    attempt = Start("w1", low.id());
  }
  absl::StatusOr<kiln::v1::FailJobResponse> failed =
      Fail("w1", low.id(), attempt, kiln::v1::EXIT_REASON_TASK_ERROR);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->state(), kiln::v1::JOB_STATE_QUEUED);  // one counted attempt of two
}

TEST_F(PreemptionTest, FreedSlotIsKeptForTheJobThatWaited) {
  Open();
  Register("w1", /*compute_capability=*/90);
  const kiln::v1::Job low = Submit(Spec(0));
  Start("w1", low.id());
  const kiln::v1::Job waited = Submit(Spec(10));
  TickFor(kGrace + absl::Seconds(1));
  ASSERT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  // A job of the same priority arrives before the worker asks again; being more specific
  // (it needs compute capability 8.0) it would rank first on this slot.
  kiln::v1::JobSpec specific = Spec(10);
  specific.mutable_requirements()->set_min_compute_capability(80);
  const kiln::v1::Job third = Submit(specific);
  std::optional<kiln::v1::Assignment> next = Acquire("w1");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->job().id(), waited.id());
  // The reservation was one offer: the next ask is ordinary placement.
  ASSERT_TRUE(Complete("w1", waited.id(), 1).ok());
  next = Acquire("w1");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->job().id(), third.id());
}

// A slot whose worker does not ask again is kept one lease duration; then the job that
// waited preempts elsewhere.
TEST_F(PreemptionTest, AReservedSlotThatNeverAsksAgainIsReleased) {
  Open();
  Register("w1");
  Register("w2");
  const kiln::v1::Job older = Submit(Spec(0));
  const int older_attempt = Start("w1", older.id());
  TickFor(absl::Seconds(5));
  const kiln::v1::Job younger = Submit(Spec(0));
  Start("w2", younger.id());
  const kiln::v1::Job waiting = Submit(Spec(10));
  TickFor(kGrace + absl::Seconds(1));
  ASSERT_EQ(Get(younger.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  ASSERT_EQ(scheduler_->Stats().preemptions, 1u);

  // w2 never asks again; w1 keeps its lease alive.
  kiln::v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id("w1");
  kiln::v1::HeldLease* held = heartbeat.add_leases();
  held->set_job_id(older.id());
  held->set_attempt(older_attempt);
  for (absl::Duration passed; passed < absl::Minutes(10) + absl::Seconds(2);
       passed += absl::Seconds(10)) {
    if (passed < absl::Minutes(9)) {
      EXPECT_EQ(Get(older.id()).state(), kiln::v1::JOB_STATE_RUNNING) << passed;
    }
    ASSERT_TRUE(scheduler_->Heartbeat(heartbeat).ok());
    TickFor(absl::Seconds(10));
  }
  EXPECT_EQ(Get(older.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(scheduler_->Stats().preemptions, 2u);
  EXPECT_EQ(Acquire("w1")->job().id(), waiting.id());
}

TEST_F(PreemptionTest, EqualOrTooClosePriorityPreemptsNothing) {
  options_.preemption_min_priority_gap = 5;
  Open();
  Register("w1");
  Register("w2");
  const kiln::v1::Job equal = Submit(Spec(3));
  Start("w1", equal.id());
  const kiln::v1::Job close = Submit(Spec(0));
  Start("w2", close.id());
  const kiln::v1::Job waiting = Submit(Spec(4));  // 1 above one, equal to the other
  TickFor(kGrace * 3);
  EXPECT_EQ(Get(equal.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Get(close.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 0u);
  // A gap of 5 is enough.
  const kiln::v1::Job far = Submit(Spec(5));
  TickFor(kGrace + absl::Seconds(1));
  EXPECT_EQ(Get(close.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Get(equal.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 1u);
  EXPECT_EQ(Acquire("w2")->job().id(), far.id());
  EXPECT_EQ(Get(waiting.id()).state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST_F(PreemptionTest, LowestPriorityThenYoungestAttemptIsTheVictim) {
  Open();
  Register("w1");
  Register("w2");
  Register("w3");
  const kiln::v1::Job mid = Submit(Spec(2));
  Start("w1", mid.id());
  const kiln::v1::Job old_low = Submit(Spec(0));
  Start("w2", old_low.id());
  TickFor(absl::Seconds(5));
  const kiln::v1::Job young_low = Submit(Spec(0));
  Start("w3", young_low.id());
  Submit(Spec(10));
  TickFor(kGrace + absl::Seconds(1));
  EXPECT_EQ(Get(young_low.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Get(old_low.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Get(mid.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 1u);
}

TEST_F(PreemptionTest, OnlyASlotThatCanRunTheJobIsFreed) {
  Open();
  Register("cpu-worker");
  const kiln::v1::Job low = Submit(Spec(0));
  Start("cpu-worker", low.id());
  kiln::v1::JobSpec gpu = Spec(10);
  gpu.mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  Submit(gpu);
  TickFor(kGrace * 2);
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 0u);
}

TEST_F(PreemptionTest, MemoryIsCountedWithoutTheVictim) {
  Open();
  Register("w1", /*compute_capability=*/90);  // 16 GiB
  kiln::v1::JobSpec big_low = Spec(0);
  big_low.mutable_requirements()->set_min_device_memory_bytes(int64_t{12} << 30);
  const kiln::v1::Job low = Submit(big_low);
  Start("w1", low.id());
  kiln::v1::JobSpec big_high = Spec(10);
  big_high.mutable_requirements()->set_min_device_memory_bytes(int64_t{10} << 30);
  const kiln::v1::Job high = Submit(big_high);
  TickFor(kGrace + absl::Seconds(1));
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Acquire("w1")->job().id(), high.id());
}

TEST_F(PreemptionTest, OtherTenantsWorkIsKeptUnlessAllowed) {
  Open();
  Register("w1");
  const kiln::v1::Job theirs = Submit(Spec(0), "beta");
  Start("w1", theirs.id());
  Submit(Spec(10), "alpha");
  TickFor(kGrace * 2);
  EXPECT_EQ(Get(theirs.id()).state(), kiln::v1::JOB_STATE_RUNNING);

  options_.preemption_across_tenants = true;
  Open();  // same store: the jobs are recovered
  Register("w1");
  TickFor(absl::Seconds(2));
  EXPECT_EQ(Get(theirs.id()).state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST_F(PreemptionTest, ASharingLimitIsNotExceededByPreemption) {
  options_.preemption_across_tenants = true;
  Open();
  Register("w1");
  Register("w2");
  absl::StatusOr<SharingPolicy> policy =
      SharingPolicy::Parse(R"({"tenants": [{"tenant": "alpha", "max_running": 1}]})", "test");
  ASSERT_TRUE(policy.ok()) << policy.status();
  scheduler_->SetSharingPolicy(*policy);
  // Alpha's own running job has the same priority: not a victim.
  const kiln::v1::Job alpha_running = Submit(Spec(10), "alpha");
  Start("w1", alpha_running.id());
  const kiln::v1::Job beta = Submit(Spec(0), "beta");
  Start("w2", beta.id());
  // Preempting beta would give alpha a second running job, past its limit of 1.
  Submit(Spec(10), "alpha");
  TickFor(kGrace * 2);
  EXPECT_EQ(Get(beta.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().preemptions, 0u);

  // With room under the limit, the same wait preempts.
  policy = SharingPolicy::Parse(R"({"tenants": [{"tenant": "alpha", "max_running": 2}]})", "test");
  ASSERT_TRUE(policy.ok()) << policy.status();
  scheduler_->SetSharingPolicy(*policy);
  TickFor(absl::Seconds(2));
  EXPECT_EQ(Get(beta.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(scheduler_->Stats().preemptions, 1u);
}

TEST_F(PreemptionTest, AJobReleasedByItsDependenciesWaitsItsOwnGracePeriod) {
  Open();
  Register("w1");
  Register("w2");
  const kiln::v1::Job dependency = Submit(Spec(0));
  const int dependency_attempt = Start("w1", dependency.id());
  const kiln::v1::Job low = Submit(Spec(0));
  Start("w2", low.id());
  kiln::v1::JobSpec dependent = Spec(10);
  dependent.add_dependencies()->set_job_id(dependency.id());
  const kiln::v1::Job high = Submit(dependent);
  EXPECT_EQ(high.state(), kiln::v1::JOB_STATE_WAITING);
  TickFor(kGrace * 2);  // a WAITING job preempts nothing

  // Released now (w1 does not ask for work): its grace period starts here, not at submit.
  ASSERT_TRUE(Complete("w1", dependency.id(), dependency_attempt).ok());
  EXPECT_EQ(Get(high.id()).state(), kiln::v1::JOB_STATE_QUEUED);
  TickFor(absl::Seconds(3));
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_RUNNING);
  TickFor(kGrace);
  EXPECT_EQ(Get(low.id()).state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST_F(PreemptionTest, AtMostTheConfiguredNumberPerInterval) {
  options_.max_preemptions_per_interval = 2;
  Open();
  std::vector<std::string> low;
  for (int i = 0; i < 3; ++i) {
    const std::string worker = "w" + std::to_string(i);
    Register(worker);
    low.push_back(Submit(Spec(0)).id());
    Start(worker, low.back());
  }
  for (int i = 0; i < 3; ++i) Submit(Spec(10));
  TickFor(kGrace);  // the interval that first sees them past the grace period
  auto preempted = [&] {
    int n = 0;
    for (const std::string& id : low) n += Get(id).state() == kiln::v1::JOB_STATE_QUEUED;
    return n;
  };
  EXPECT_EQ(preempted(), 2);
  TickFor(absl::Seconds(1));
  EXPECT_EQ(preempted(), 3);
}

TEST_F(PreemptionTest, WorkersCannotReportPreempted) {
  Open();
  Register("w1");
  const kiln::v1::Job job = Submit(Spec(0));
  const int attempt = Start("w1", job.id());
  EXPECT_EQ(Fail("w1", job.id(), attempt, kiln::v1::EXIT_REASON_PREEMPTED).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Get(job.id()).state(), kiln::v1::JOB_STATE_RUNNING);
}

}  // namespace
}  // namespace kiln::core
