#include "scheduler/core/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/device_features.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/core/scheduler_test_util.h"

namespace kiln::core {
namespace {

using kiln::v1::JobState;

using testing::Result;
using testing::StatusResult;

kiln::v1::JobSpec MeshSpec(int max_attempts = 3) {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  spec.set_max_attempts(max_attempts);
  google::protobuf::util::JsonStringToMessage(
      R"({"shape":{"type":"sphere","radius":1},"resolution":16})", spec.mutable_parameters());
  return spec;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    SchedulerOptions options;
    options.clock = &clock_;
    options.run_ticker = false;
    options.lease_duration = absl::Seconds(30);
    options.retry_backoff_initial = absl::Seconds(1);
    options.max_queued_per_tenant = max_queued_per_tenant_;
    testing::OpenOnDisk({.path = dir_.Sub("db")}, options, store_, committer_, scheduler_);
  }

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
    slot->add_tasks("debug.sleep");
    Result<kiln::v1::RegisterWorkerResponse> result;
    scheduler_->RegisterWorker(request, result.callback());
    ASSERT_TRUE(result.Get().ok()) << result.Get().status();
  }

  kiln::v1::Job Submit(const kiln::v1::JobSpec& spec) {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    scheduler_->Submit({spec}, false, result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    return result.Get()->front().job();
  }

  // Acquire without waiting; nullopt when no job fits.
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
                                                 bool permanent = false) {
    kiln::v1::FailJobRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    request.set_reason(kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
    request.set_message("executor killed by signal 9 (SIGKILL)");
    request.set_permanent(permanent);
    Result<kiln::v1::FailJobResponse> result;
    scheduler_->FailJob(request, result.callback());
    return result.Get();
  }

  JobState StateOf(const std::string& job_id) { return scheduler_->GetJob(job_id)->state(); }

  absl::StatusOr<std::vector<kiln::v1::SubmitJobResponse>> SubmitAs(
      std::vector<kiln::v1::JobSpec> specs, const std::string& tenant, bool any_input_blob = false,
      bool batch = false) {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    scheduler_->Submit(std::move(specs), batch, SubmitOrigin{tenant, any_input_blob},
                       result.callback());
    return result.Get();
  }

  // Stores the metadata of a blob of `content` with `grant` as its uploader.
  std::string PutBlobAs(const std::string& content, const BlobGrant& grant) {
    kiln::v1::StoredBlob blob;
    blob.set_sha256(Sha256Hex(content));
    blob.set_size_bytes(static_cast<int64_t>(content.size()));
    StatusResult stored;
    scheduler_->PutBlob(blob, grant, stored.callback());
    EXPECT_TRUE(stored.Get().ok()) << stored.Get();
    return blob.sha256();
  }

  int64_t max_queued_per_tenant_ = 100000;
  kiln::testing::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, JobRunsThroughItsLifeAndKeepsItsHistory) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec());
  EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.id().substr(0, 2), "j-");

  auto assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  EXPECT_EQ(assignment->job().id(), job.id());
  EXPECT_EQ(assignment->attempt(), 1);
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_FALSE(Acquire("w1").has_value());

  ASSERT_TRUE(Progress("w1", job.id(), 1).ok());
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(Complete("w1", job.id(), 1).ok());
  // A retried completion of the same attempt is accepted, not doubled.
  ASSERT_TRUE(Complete("w1", job.id(), 1).ok());

  kiln::v1::Job done = *scheduler_->GetJob(job.id());
  EXPECT_EQ(done.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(done.attempts_size(), 1);
  EXPECT_EQ(done.attempts(0).worker_id(), "w1");
  EXPECT_EQ(done.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_SUCCEEDED);
  EXPECT_TRUE(done.has_finished_at());
  EXPECT_EQ(scheduler_->Stats().jobs_succeeded, 1u);
}

TEST_F(SchedulerTest, SameRequestIdGivesOneJobAlsoAfterRestart) {
  kiln::v1::JobSpec spec = MeshSpec();
  spec.set_client_request_id("req-42");
  Result<std::vector<kiln::v1::SubmitJobResponse>> first;
  scheduler_->Submit({spec}, false, first.callback());
  // Sent while the first may still be in flight: either the same job or "retry",
  // never a second job.
  Result<std::vector<kiln::v1::SubmitJobResponse>> racing;
  scheduler_->Submit({spec}, false, racing.callback());
  ASSERT_TRUE(first.Get().ok());
  EXPECT_FALSE(first.Get()->front().deduplicated());
  if (racing.Get().ok()) {
    EXPECT_TRUE(racing.Get()->front().deduplicated());
    EXPECT_EQ(racing.Get()->front().job().id(), first.Get()->front().job().id());
  } else {
    EXPECT_EQ(racing.Get().status().code(), absl::StatusCode::kUnavailable);
  }
  Result<std::vector<kiln::v1::SubmitJobResponse>> second;
  scheduler_->Submit({spec}, false, second.callback());
  ASSERT_TRUE(second.Get().ok());
  EXPECT_TRUE(second.Get()->front().deduplicated());
  EXPECT_EQ(first.Get()->front().job().id(), second.Get()->front().job().id());

  // Within one batch the same id is one job too.
  kiln::v1::JobSpec other = MeshSpec();
  other.set_client_request_id("req-43");
  Result<std::vector<kiln::v1::SubmitJobResponse>> batch;
  scheduler_->Submit({other, other}, true, batch.callback());
  ASSERT_TRUE(batch.Get().ok());
  EXPECT_EQ((*batch.Get())[0].job().id(), (*batch.Get())[1].job().id());
  EXPECT_TRUE((*batch.Get())[1].deduplicated());

  Open();
  Result<std::vector<kiln::v1::SubmitJobResponse>> third;
  scheduler_->Submit({spec}, false, third.callback());
  ASSERT_TRUE(third.Get().ok());
  EXPECT_TRUE(third.Get()->front().deduplicated());
  EXPECT_EQ(third.Get()->front().job().id(), first.Get()->front().job().id());
  EXPECT_EQ(scheduler_->ListJobs({})->jobs_size(), 2);
}

TEST_F(SchedulerTest, LapsedLeaseRequeuesAndFencesTheOldAttempt) {
  Register("w1");
  Register("w2");
  kiln::v1::Job job = Submit(MeshSpec());
  ASSERT_TRUE(Acquire("w1").has_value());
  ASSERT_TRUE(Progress("w1", job.id(), 1).ok());

  clock_.Advance(absl::Seconds(29));
  scheduler_->Tick();
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_RUNNING);
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  kiln::v1::Job requeued = *scheduler_->GetJob(job.id());
  EXPECT_EQ(requeued.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(requeued.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_LEASE_EXPIRED);

  // Backoff: not placed before it ends.
  EXPECT_FALSE(Acquire("w2").has_value());
  clock_.Advance(absl::Seconds(1));
  scheduler_->Tick();
  auto second = Acquire("w2");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);

  // The first worker wakes up and reports: rejected, and nothing changes.
  absl::Status stale = Complete("w1", job.id(), 1);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.message().find("attempt"), std::string::npos);
  EXPECT_EQ(Progress("w1", job.id(), 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_ASSIGNED);
  ASSERT_TRUE(Complete("w2", job.id(), 2).ok());
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerTest, HeartbeatKeepsLeasesAndAbandonsCancelledJobs) {
  Register("w1");
  kiln::v1::Job a = Submit(MeshSpec());
  kiln::v1::Job b = Submit(MeshSpec());
  ASSERT_TRUE(Acquire("w1").has_value());
  ASSERT_TRUE(Acquire("w1").has_value());
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Seconds(20));
    kiln::v1::HeartbeatRequest heartbeat;
    heartbeat.set_worker_id("w1");
    for (const auto* job : {&a, &b}) {
      auto* lease = heartbeat.add_leases();
      lease->set_job_id(job->id());
      lease->set_attempt(1);
    }
    auto response = scheduler_->Heartbeat(heartbeat);
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->abandon_size(), i < 2 ? 0 : 1);
    scheduler_->Tick();
    if (i == 1) {
      Result<kiln::v1::Job> cancelled;
      scheduler_->Cancel(b.id(), "not needed", cancelled.callback());
      ASSERT_TRUE(cancelled.Get().ok());
      EXPECT_EQ(cancelled.Get()->state(), kiln::v1::JOB_STATE_CANCELLED);
    }
  }
  EXPECT_EQ(StateOf(a.id()), kiln::v1::JOB_STATE_ASSIGNED);  // 80 s, lease is 30 s
  kiln::v1::Job cancelled = *scheduler_->GetJob(b.id());
  EXPECT_EQ(cancelled.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_CANCELLED);
  EXPECT_EQ(Complete("w1", b.id(), 1).code(), absl::StatusCode::kFailedPrecondition);

  kiln::v1::HeartbeatRequest unknown;
  unknown.set_worker_id("w-unknown");
  EXPECT_TRUE(scheduler_->Heartbeat(unknown)->reregister());
}

TEST_F(SchedulerTest, FailuresRetryWithBackoffUntilMaxAttempts) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec(/*max_attempts=*/2));
  ASSERT_TRUE(Acquire("w1").has_value());
  auto first = Fail("w1", job.id(), 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(FromProtoTime(first->retry_at()), clock_.Now() + absl::Seconds(1));
  EXPECT_FALSE(Acquire("w1").has_value());
  clock_.Advance(absl::Seconds(1));
  scheduler_->Tick();
  ASSERT_TRUE(Acquire("w1").has_value());
  auto second = Fail("w1", job.id(), 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->state(), kiln::v1::JOB_STATE_FAILED);
  kiln::v1::Job failed = *scheduler_->GetJob(job.id());
  ASSERT_EQ(failed.attempts_size(), 2);
  EXPECT_EQ(failed.attempts(1).message(), "executor killed by signal 9 (SIGKILL)");
  EXPECT_EQ(scheduler_->Stats().attempts_retried, 1u);
}

TEST_F(SchedulerTest, PermanentFailureDoesNotRetry) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec(5));
  ASSERT_TRUE(Acquire("w1").has_value());
  ASSERT_EQ(Fail("w1", job.id(), 1, /*permanent=*/true)->state(), kiln::v1::JOB_STATE_FAILED);
}

TEST_F(SchedulerTest, RestartRebuildsQueueAndLeasesFromTheStore) {
  Register("w1");
  kiln::v1::Job leased = Submit(MeshSpec());
  kiln::v1::Job queued1 = Submit(MeshSpec());
  kiln::v1::Job queued2 = Submit(MeshSpec());
  auto assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  ASSERT_EQ(assignment->job().id(), leased.id());

  Open();  // as after kill -9: only what the store holds
  EXPECT_EQ(StateOf(leased.id()), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_EQ(scheduler_->Stats().queued, 2u);
  EXPECT_EQ(Acquire("w1")->job().id(), queued1.id());
  EXPECT_EQ(Acquire("w1")->job().id(), queued2.id());
  // The worker of the first lease never comes back: a full lease later it is requeued.
  clock_.Advance(absl::Seconds(31));
  scheduler_->Tick();
  EXPECT_EQ(StateOf(leased.id()), kiln::v1::JOB_STATE_QUEUED);
  // New ids continue after the old ones.
  EXPECT_GT(Submit(MeshSpec()).id(), queued2.id());
}

TEST_F(SchedulerTest, ParkedAcquireGetsTheNextJobOrTimesOut) {
  Register("w1");
  kiln::v1::AcquireJobRequest request;
  request.set_worker_id("w1");
  *request.mutable_wait() = ToProtoDuration(absl::Seconds(10));
  Result<kiln::v1::AcquireJobResponse> parked;
  EXPECT_NE(scheduler_->AcquireJob(request, parked.callback()), 0u);
  EXPECT_FALSE(parked.ready());
  kiln::v1::Job job = Submit(MeshSpec());
  ASSERT_TRUE(parked.Get().ok());
  EXPECT_EQ(parked.Get()->assignment().job().id(), job.id());

  Result<kiln::v1::AcquireJobResponse> empty;
  scheduler_->AcquireJob(request, empty.callback());
  clock_.Advance(absl::Seconds(9));
  scheduler_->Tick();
  EXPECT_FALSE(empty.ready());
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  ASSERT_TRUE(empty.Get().ok());
  EXPECT_FALSE(empty.Get()->has_assignment());

  Result<kiln::v1::AcquireJobResponse> cancelled;
  const uint64_t id = scheduler_->AcquireJob(request, cancelled.callback());
  scheduler_->CancelAcquire(id);
  EXPECT_EQ(cancelled.Get().status().code(), absl::StatusCode::kCancelled);
}

TEST_F(SchedulerTest, GpuJobIsNeverGivenToACpuSlot) {
  Register("cpu-worker", 0);
  Register("gpu-worker", 90);
  kiln::v1::JobSpec spec = MeshSpec();
  spec.mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  spec.mutable_requirements()->set_min_compute_capability(80);
  kiln::v1::Job job = Submit(spec);
  EXPECT_FALSE(Acquire("cpu-worker").has_value());
  auto assignment = Acquire("gpu-worker");
  ASSERT_TRUE(assignment.has_value());
  EXPECT_EQ(assignment->job().id(), job.id());
  EXPECT_EQ(assignment->job().attempts(0).device(), "cuda:0");
}

TEST_F(SchedulerTest, BadSubmitsChangeNothing) {
  kiln::v1::JobSpec spec = MeshSpec();
  auto* input = spec.add_inputs();
  input->set_name("in.bin");
  input->set_sha256(std::string(64, 'a'));
  Result<std::vector<kiln::v1::SubmitJobResponse>> missing_blob;
  scheduler_->Submit({spec}, false, missing_blob.callback());
  EXPECT_EQ(missing_blob.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing_blob.Get().status().message().find("spec.inputs[0].sha256"), std::string::npos);

  // One bad spec in a batch refuses the whole batch.
  kiln::v1::JobSpec bad = MeshSpec();
  bad.set_task("mesh.nope");
  Result<std::vector<kiln::v1::SubmitJobResponse>> batch;
  scheduler_->Submit({MeshSpec(), bad}, true, batch.callback());
  EXPECT_EQ(batch.Get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batch.Get().status().message().substr(0, 13), "specs[1].task");

  EXPECT_EQ(scheduler_->ListJobs({})->jobs_size(), 0);
  EXPECT_EQ(scheduler_->Stats().queued, 0u);
  EXPECT_EQ(scheduler_->GetJob("j-0000000000000001").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->GetJob("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

// Queued jobs are held packed from the Tick after their submit (or from recovery on):
// every way of reading or changing one sees the whole job, and only waiting jobs stay packed.
TEST_F(SchedulerTest, QueuedJobsArePackedAndEveryPathSeesThemWhole) {
  kiln::v1::JobSpec spec = MeshSpec();
  (*spec.mutable_labels())["team"] = "lab";
  spec.set_priority(7);
  std::vector<kiln::v1::Job> submitted;
  for (int i = 0; i < 4; ++i) submitted.push_back(Submit(spec));
  EXPECT_EQ(scheduler_->PackedJobs(), 0u);  // packed only at the next Tick
  scheduler_->Tick();
  ASSERT_EQ(scheduler_->PackedJobs(), 4u);

  auto expect_whole = [&](const kiln::v1::Job& job) {
    EXPECT_EQ(job.spec().priority(), 7);
    EXPECT_EQ(job.spec().labels().at("team"), "lab");
    EXPECT_EQ(job.spec().parameters().fields().at("resolution").number_value(), 16);
    EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_QUEUED);
  };
  absl::StatusOr<kiln::v1::Job> read = scheduler_->GetJob(submitted[0].id());
  ASSERT_TRUE(read.ok()) << read.status();
  expect_whole(*read);
  EXPECT_EQ(read->created_at().seconds(), submitted[0].created_at().seconds());
  EXPECT_EQ(read->status_message(), "waiting: no worker is registered and alive");
  kiln::v1::ListJobsRequest by_label;
  (*by_label.mutable_labels())["team"] = "lab";
  EXPECT_EQ(scheduler_->ListJobs(by_label)->jobs_size(), 4);
  EXPECT_EQ(scheduler_->PackedJobs(), 4u);  // reads leave them packed

  // Cancelling a packed job changes and stores the whole job.
  Result<kiln::v1::Job> cancelled;
  scheduler_->Cancel(submitted[3].id(), "not needed", cancelled.callback());
  ASSERT_TRUE(cancelled.Get().ok()) << cancelled.Get().status();
  expect_whole(*scheduler_->GetJob(submitted[2].id()));
  EXPECT_EQ(StateOf(submitted[3].id()), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(scheduler_->GetJob(submitted[3].id())->spec().labels().at("team"), "lab");

  Open();  // recovery holds the queued jobs packed straight from their records
  EXPECT_EQ(scheduler_->PackedJobs(), 3u);
  EXPECT_EQ(scheduler_->Stats().queued, 3u);
  Register("w1");
  std::optional<kiln::v1::Assignment> assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  EXPECT_EQ(assignment->job().id(), submitted[0].id());
  EXPECT_EQ(assignment->job().state(), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_EQ(assignment->job().spec().labels().at("team"), "lab");
  EXPECT_EQ(assignment->job().spec().parameters().fields().at("resolution").number_value(), 16);
  EXPECT_EQ(scheduler_->PackedJobs(), 2u);
  ASSERT_TRUE(Complete("w1", submitted[0].id(), 1).ok());
  EXPECT_EQ(StateOf(submitted[0].id()), kiln::v1::JOB_STATE_SUCCEEDED);

  // A failed attempt requeues the job unpacked; the next Tick packs it again.
  assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  ASSERT_TRUE(Fail("w1", assignment->job().id(), 1).ok());
  EXPECT_EQ(scheduler_->PackedJobs(), 1u);
  clock_.Advance(absl::Seconds(2));  // past the retry backoff
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->PackedJobs(), 2u);
  kiln::v1::Job retried = *scheduler_->GetJob(assignment->job().id());
  expect_whole(retried);
  EXPECT_EQ(retried.attempts_size(), 1);
  EXPECT_EQ(retried.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
}

TEST_F(SchedulerTest, ListFiltersByStateAndLabelAndPages) {
  for (int i = 0; i < 5; ++i) {
    kiln::v1::JobSpec spec = MeshSpec();
    (*spec.mutable_labels())["team"] = i % 2 == 0 ? "even" : "odd";
    Submit(spec);
  }
  kiln::v1::ListJobsRequest request;
  (*request.mutable_labels())["team"] = "even";
  EXPECT_EQ(scheduler_->ListJobs(request)->jobs_size(), 3);
  request.clear_labels();
  request.set_page_size(2);
  auto page1 = scheduler_->ListJobs(request);
  ASSERT_EQ(page1->jobs_size(), 2);
  EXPECT_GT(page1->jobs(0).id(), page1->jobs(1).id());  // newest first
  request.set_page_token(page1->next_page_token());
  auto page2 = scheduler_->ListJobs(request);
  ASSERT_EQ(page2->jobs_size(), 2);
  EXPECT_LT(page2->jobs(0).id(), page1->jobs(1).id());
  request.set_page_token(page2->next_page_token());
  EXPECT_EQ(scheduler_->ListJobs(request)->jobs_size(), 1);
  request.clear_page_token();
  request.set_page_size(0);
  request.set_state(kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(scheduler_->ListJobs(request)->jobs_size(), 0);
}

// A job record under a key other than its id (a corrupt or hand-edited store) used to be
// queued under an id memory did not hold, and the next acquire aborted the scheduler
// (found by tests/fuzz/store_record_fuzzer.cc). Recovery refuses the store instead.
TEST_F(SchedulerTest, RecoveryRefusesAJobRecordStoredUnderAnotherKey) {
  const kiln::v1::Job job = Submit(MeshSpec());
  scheduler_.reset();
  store::WriteSet writes;
  writes.PutRawForTest(store::Family::kJobs, "j-00000000000000ff", job.SerializeAsString());
  writes.MarkQueued("j-00000000000000ff");
  ASSERT_TRUE(store_->Write(writes).ok());

  SchedulerOptions options;
  options.clock = &clock_;
  options.run_ticker = false;
  auto recovered = Scheduler::Create(options, store_.get(), committer_.get());
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(recovered.status().message(),
              ::testing::HasSubstr("key \"j-00000000000000ff\" holds job id \"" + job.id()));
  // The record the scheduler acknowledged is still there, untouched.
  auto stored = store_->GetJob(job.id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->revision(), job.revision());
}

// A leased job whose last attempt is missing or names a tier its spec does not have was
// read out of bounds when recovery counted its device memory (found by fuzz_store_record).
TEST_F(SchedulerTest, RecoveryRefusesALeasedJobWithoutAnAttemptOnItsTiers) {
  Register("w1");
  kiln::v1::JobSpec spec = MeshSpec();
  spec.add_tiers()->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  spec.add_tiers()->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_CPU);
  const kiln::v1::Job submitted = Submit(spec);
  std::optional<kiln::v1::Assignment> assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  kiln::v1::Job leased = *scheduler_->GetJob(submitted.id());
  ASSERT_EQ(leased.attempts(0).tier_index(), 1);
  scheduler_.reset();

  SchedulerOptions options;
  options.clock = &clock_;
  options.run_ticker = false;
  for (int corruption = 0; corruption < 2; ++corruption) {
    kiln::v1::Job corrupt = leased;
    if (corruption == 0) {
      corrupt.mutable_attempts(0)->set_tier_index(2);  // the spec has tiers 0 and 1
    } else {
      corrupt.clear_attempts();
    }
    store::WriteSet writes;
    writes.PutRawForTest(store::Family::kJobs, leased.id(), corrupt.SerializeAsString());
    ASSERT_TRUE(store_->Write(writes).ok());
    auto recovered = Scheduler::Create(options, store_.get(), committer_.get());
    ASSERT_FALSE(recovered.ok()) << "corruption " << corruption;
    EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(recovered.status().message(),
                ::testing::HasSubstr("leased job \"" + leased.id() + "\" has no attempt"));
  }
}

TEST_F(SchedulerTest, FailedWriteRefusesWorkThenRecoversExactlyWhatWasAcknowledged) {
  Register("w1");
  kiln::v1::Job kept = Submit(MeshSpec());
  store_->InjectWriteErrorForTest(absl::UnavailableError("No space left on device"));
  Result<std::vector<kiln::v1::SubmitJobResponse>> lost;
  scheduler_->Submit({MeshSpec()}, false, lost.callback());
  EXPECT_EQ(lost.Get().status().code(), absl::StatusCode::kUnavailable);
  // Until memory is rebuilt, everything that would write says "retry".
  kiln::v1::AcquireJobRequest acquire;
  acquire.set_worker_id("w1");
  Result<kiln::v1::AcquireJobResponse> refused;
  scheduler_->AcquireJob(acquire, refused.callback());
  EXPECT_EQ(refused.Get().status().code(), absl::StatusCode::kUnavailable);
  scheduler_->Tick();  // the store still fails: stays refusing
  Result<std::vector<kiln::v1::SubmitJobResponse>> still;
  scheduler_->Submit({MeshSpec()}, false, still.callback());
  EXPECT_EQ(still.Get().status().code(), absl::StatusCode::kUnavailable);

  store_->InjectWriteErrorForTest(absl::OkStatus());  // space is back
  scheduler_->Tick();
  auto listed = scheduler_->ListJobs({});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->jobs_size(), 1);
  EXPECT_EQ(listed->jobs(0).id(), kept.id());
  auto assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  EXPECT_EQ(assignment->job().id(), kept.id());
  EXPECT_FALSE(Acquire("w1").has_value());  // the refused submits left nothing behind
  kiln::v1::Job after = Submit(MeshSpec());
  EXPECT_GT(after.id(), kept.id());
}

TEST_F(SchedulerTest, LongUtf8MessagesAreCutAtCharacterBoundaries) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec());
  ASSERT_TRUE(Acquire("w1").has_value());
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "\xe6\x97\xa5";  // 3-byte characters
  kiln::v1::ReportProgressRequest progress;
  progress.set_worker_id("w1");
  progress.set_job_id(job.id());
  progress.set_attempt(1);
  progress.set_message(text);
  StatusResult reported;
  scheduler_->ReportProgress(progress, reported.callback());
  ASSERT_TRUE(reported.Get().ok());
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(job.id());
  fail.set_attempt(1);
  fail.set_reason(kiln::v1::EXIT_REASON_TASK_ERROR);
  fail.set_message(text);
  Result<kiln::v1::FailJobResponse> failed;
  scheduler_->FailJob(fail, failed.callback());
  ASSERT_TRUE(failed.Get().ok());
  Open();  // the stored record must parse again
  auto stored = scheduler_->GetJob(job.id());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->attempts(0).message().size() % 3, 0u);
  EXPECT_LE(stored->attempts(0).message().size(), 4096u);
}

// An assignment whose answer never reached the worker (its call ended first) goes back
// to the queue at once, without using up an attempt; one the worker started is left.
TEST_F(SchedulerTest, AnUndeliveredAssignmentIsRequeuedAtOnce) {
  Register("w1");
  const kiln::v1::Job job = Submit(MeshSpec(/*max_attempts=*/1));
  std::optional<kiln::v1::Assignment> lost = Acquire("w1");
  ASSERT_TRUE(lost.has_value());
  scheduler_->ReturnUndelivered(*lost);
  kiln::v1::Job requeued = *scheduler_->GetJob(job.id());
  EXPECT_EQ(requeued.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(requeued.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_UNDELIVERED);
  EXPECT_TRUE(requeued.attempts(0).not_counted());
  EXPECT_EQ(scheduler_->Stats().assignments_undelivered, 1u);

  // No backoff: the slot asks again and gets it as attempt 2, which then starts.
  std::optional<kiln::v1::Assignment> delivered = Acquire("w1");
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->attempt(), 2);
  ASSERT_TRUE(Progress("w1", job.id(), 2).ok());
  scheduler_->ReturnUndelivered(*delivered);  // started: the worker has it after all
  scheduler_->ReturnUndelivered(*lost);       // an old attempt: fenced off
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_->Stats().assignments_undelivered, 1u);

  // Only the scheduler says so.
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(job.id());
  fail.set_attempt(2);
  fail.set_reason(kiln::v1::EXIT_REASON_UNDELIVERED);
  Result<kiln::v1::FailJobResponse> refused;
  scheduler_->FailJob(fail, refused.callback());
  EXPECT_EQ(refused.Get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StateOf(job.id()), kiln::v1::JOB_STATE_RUNNING);
  Open();  // the requeue was stored
  const kiln::v1::Job stored = *scheduler_->GetJob(job.id());
  ASSERT_EQ(stored.attempts_size(), 2);
  EXPECT_EQ(stored.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_UNDELIVERED);
}

TEST_F(SchedulerTest, AttemptsThatRanNothingDoNotCount) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec(/*max_attempts=*/1));
  // Assigned but never started: the lease lapses.
  ASSERT_TRUE(Acquire("w1").has_value());
  clock_.Advance(absl::Seconds(31));
  scheduler_->Tick();
  kiln::v1::Job requeued = *scheduler_->GetJob(job.id());
  EXPECT_EQ(requeued.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_TRUE(requeued.attempts(0).not_counted());
  // The device could not run it: no attempt used, and no backoff either.
  auto second = Acquire("w1");
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(Progress("w1", job.id(), 2).ok());
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(job.id());
  fail.set_attempt(2);
  fail.set_reason(kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN);
  fail.set_message("CUDA error: no kernel image is available for execution on the device");
  Result<kiln::v1::FailJobResponse> failed;
  scheduler_->FailJob(fail, failed.callback());
  ASSERT_TRUE(failed.Get().ok());
  EXPECT_EQ(failed.Get()->state(), kiln::v1::JOB_STATE_QUEUED);
  // That device is kept away from the job's model; another worker takes it.
  EXPECT_FALSE(Acquire("w1").has_value());
  Register("w2");
  auto third = Acquire("w2");
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->attempt(), 3);
  // An ordinary failure counts: max_attempts is 1, so the job fails now.
  ASSERT_TRUE(Progress("w2", job.id(), 3).ok());
  EXPECT_EQ(Fail("w2", job.id(), 3)->state(), kiln::v1::JOB_STATE_FAILED);
  // After the cool-down the first device gets work again.
  kiln::v1::Job later = Submit(MeshSpec());
  EXPECT_FALSE(Acquire("w1").has_value());
  clock_.Advance(absl::Minutes(11));
  auto again = Acquire("w1");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->job().id(), later.id());
}

TEST_F(SchedulerTest, AHandedBackAttemptDoesNotCountAndKeepsTheWorker) {
  Register("w1");
  kiln::v1::Job job = Submit(MeshSpec(/*max_attempts=*/1));
  ASSERT_TRUE(Acquire("w1").has_value());
  ASSERT_TRUE(Progress("w1", job.id(), 1).ok());
  // The worker drained (scancel) and handed the running job back.
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(job.id());
  fail.set_attempt(1);
  fail.set_reason(kiln::v1::EXIT_REASON_WORKER_STOPPING);
  fail.set_message("worker shutting down");
  Result<kiln::v1::FailJobResponse> failed;
  scheduler_->FailJob(fail, failed.callback());
  ASSERT_TRUE(failed.Get().ok());
  EXPECT_EQ(failed.Get()->state(), kiln::v1::JOB_STATE_QUEUED);
  const kiln::v1::Job requeued = *scheduler_->GetJob(job.id());
  EXPECT_TRUE(requeued.attempts(0).not_counted());
  EXPECT_EQ(requeued.attempts(0).exit_reason(), kiln::v1::EXIT_REASON_WORKER_STOPPING);
  // No backoff, and unlike device-cannot-run no cool-down: the same worker (restarted)
  // may take it at once although max_attempts is 1.
  auto second = Acquire("w1");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);
  // An ordinary failure still counts.
  ASSERT_TRUE(Progress("w1", job.id(), 2).ok());
  EXPECT_EQ(Fail("w1", job.id(), 2)->state(), kiln::v1::JOB_STATE_FAILED);
}

// ---------------------------------------------------------------------------
// Placement over a simulated fleet.

class PlacementTest : public SchedulerTest {
 protected:
  // A worker with one device (cc 0: CPU) and `slots` slots on it.
  // Every slot lists `models` ("name@version"). The device advertises `features`, or
  // when null those of its compute capability.
  void RegisterDevice(const std::string& worker, int cc, int gib, int slots = 1,
                      const std::vector<std::string>& models = {},
                      const std::vector<std::string>* features = nullptr) {
    kiln::v1::RegisterWorkerRequest request;
    request.set_worker_id(worker);
    auto* device = request.mutable_capabilities()->add_devices();
    device->set_id(cc ? "cuda:0" : "cpu");
    device->set_compute_capability(cc);
    device->set_total_memory_bytes(int64_t{gib} << 30);
    device->set_runnable(true);
    for (const std::string& f : features ? *features : FeaturesForComputeCapability(cc)) {
      device->add_features(f);
    }
    for (int i = 0; i < slots; ++i) {
      auto* slot = request.mutable_capabilities()->add_slots();
      slot->set_index(i);
      slot->set_device_id(device->id());
      slot->add_tasks("mesh.extract");
      for (const std::string& model : models) slot->add_models(model);
    }
    Result<kiln::v1::RegisterWorkerResponse> result;
    scheduler_->RegisterWorker(request, result.callback());
    ASSERT_TRUE(result.Get().ok());
  }

  // Parks an acquire of `worker`'s `slot`.
  // `loaded`: the models the slot's executor reports loaded.
  std::unique_ptr<Result<kiln::v1::AcquireJobResponse>> Park(
      const std::string& worker, int slot = 0, const std::vector<std::string>& loaded = {}) {
    auto result = std::make_unique<Result<kiln::v1::AcquireJobResponse>>();
    kiln::v1::AcquireJobRequest request;
    request.set_worker_id(worker);
    request.set_slot(slot);
    for (const std::string& model : loaded) request.add_loaded_models(model);
    *request.mutable_wait() = ToProtoDuration(absl::Seconds(30));
    scheduler_->AcquireJob(request, result->callback());
    return result;
  }

  kiln::v1::JobSpec SpecJson(const std::string& json) {
    kiln::v1::JobSpec spec = MeshSpec();
    kiln::v1::JobSpec extra;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &extra).ok()) << json;
    spec.MergeFrom(extra);
    return spec;
  }

  std::string AcquireSlot(const std::string& worker, int slot = 0,
                          const std::vector<std::string>& loaded = {}) {
    kiln::v1::AcquireJobRequest request;
    request.set_worker_id(worker);
    request.set_slot(slot);
    for (const std::string& model : loaded) request.add_loaded_models(model);
    Result<kiln::v1::AcquireJobResponse> result;
    scheduler_->AcquireJob(request, result.callback());
    EXPECT_TRUE(result.Get().ok());
    return result.Get()->has_assignment() ? result.Get()->assignment().job().id() : "";
  }
};

TEST_F(PlacementTest, EachJobGoesToTheLeastCapableWaitingDeviceThatFits) {
  RegisterDevice("blackwell", 120, 32);
  RegisterDevice("hopper", 90, 80);
  RegisterDevice("ampere", 86, 24);
  RegisterDevice("cpu-node", 0, 64);
  auto blackwell = Park("blackwell");
  auto hopper = Park("hopper");
  auto ampere = Park("ampere");
  auto cpu = Park("cpu-node");

  kiln::v1::Job generic_gpu = Submit(SpecJson(R"({"requirements":{"accelerator":2}})"));
  ASSERT_EQ(ampere->Get()->assignment().job().id(), generic_gpu.id());
  kiln::v1::Job hopper_job = Submit(SpecJson(R"({"requirements":{"minComputeCapability":90}})"));
  ASSERT_EQ(hopper->Get()->assignment().job().id(), hopper_job.id());
  kiln::v1::Job sm120 = Submit(SpecJson(R"({"requirements":{"architectures":["sm_120"]}})"));
  ASSERT_EQ(blackwell->Get()->assignment().job().id(), sm120.id());
  EXPECT_FALSE(cpu->ready());
  kiln::v1::Job anything = Submit(MeshSpec());
  ASSERT_EQ(cpu->Get()->assignment().job().id(), anything.id());
}

// Waiting slots are kept by device class (compute capability, memory, features), and a
// class whose devices lack a feature the job needs is skipped whole: the job must still
// reach the one fitting slot, also one of the same compute capability and memory.
TEST_F(PlacementTest, AFeatureJobSkipsWaitingDevicesWithoutTheFeature) {
  const std::vector<std::string> plain = {"fp16", "tf32"};
  const std::vector<std::string> with_bf16 = {"tf32", "bf16", "fp16"};
  RegisterDevice("cpu-node", 0, 64);
  RegisterDevice("turing", 75, 16);
  for (int i = 0; i < 3; ++i) {
    RegisterDevice(absl::StrCat("ampere-plain-", i), 86, 24, 1, {}, &plain);
  }
  RegisterDevice("ampere-bf16", 86, 24, 1, {}, &with_bf16);
  RegisterDevice("ampere-plain-late", 86, 24, 1, {}, &plain);
  // Work no device here runs: its submit makes the full dispatch that new workers call
  // for, so that the jobs below take the path of a submit meeting parked slots.
  kiln::v1::Job fp4 = Submit(SpecJson(R"({"requirements":{"features":["fp4"]}})"));
  std::vector<std::unique_ptr<Result<kiln::v1::AcquireJobResponse>>> others;
  others.push_back(Park("cpu-node"));
  others.push_back(Park("turing"));
  for (int i = 0; i < 3; ++i) others.push_back(Park(absl::StrCat("ampere-plain-", i)));
  auto bf16_slot = Park("ampere-bf16");
  others.push_back(Park("ampere-plain-late"));

  kiln::v1::Job bf16 = Submit(SpecJson(R"({"requirements":{"features":["bf16"]}})"));
  ASSERT_TRUE(bf16_slot->Get().ok());
  EXPECT_EQ(bf16_slot->Get()->assignment().job().id(), bf16.id());
  // Nobody else can run the next one: it waits. A plain job then goes to the least
  // capable slot (the CPU); answers come in commit order, so once the CPU's came, a
  // wrong assignment of the bf16 job would have come too.
  kiln::v1::Job second = Submit(SpecJson(R"({"requirements":{"features":["bf16"]}})"));
  kiln::v1::Job anything = Submit(MeshSpec());
  ASSERT_TRUE(others[0]->Get().ok());
  EXPECT_EQ(others[0]->Get()->assignment().job().id(), anything.id());
  for (size_t i = 1; i < others.size(); ++i) EXPECT_FALSE(others[i]->ready()) << i;
  EXPECT_EQ(StateOf(second.id()), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(fp4.id()), kiln::v1::JOB_STATE_QUEUED);
  // The rest are answered empty when their wait ends (before they go out of scope).
  clock_.Advance(absl::Seconds(31));
  scheduler_->Tick();
  for (size_t i = 1; i < others.size(); ++i) {
    ASSERT_TRUE(others[i]->Get().ok());
    EXPECT_FALSE(others[i]->Get()->has_assignment()) << i;
  }
}

TEST_F(PlacementTest, Sm120WorkWaitsForBlackwellAndBlackwellTakesItFirst) {
  RegisterDevice("blackwell", 120, 32);
  RegisterDevice("hopper", 90, 80);
  ASSERT_EQ(AcquireSlot("blackwell"), "");  // nothing queued: gets nothing
  kiln::v1::Job busy = Submit(MeshSpec());
  ASSERT_EQ(AcquireSlot("blackwell"), busy.id());  // Blackwell now busy with it
  kiln::v1::Job generic = Submit(SpecJson(R"({"requirements":{"accelerator":2}})"));
  kiln::v1::Job only120 = Submit(SpecJson(R"({"requirements":{"architectures":["sm_120"]}})"));
  // Hopper can take the generic job but never the sm_120 one.
  EXPECT_EQ(AcquireSlot("hopper"), generic.id());
  EXPECT_EQ(AcquireSlot("hopper"), "");
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetJob(only120.id())->status_message(),
            "waiting: all 1 slot that can run it are busy");
  // With both kinds queued, the Blackwell slot takes the work only it can run.
  kiln::v1::Job generic2 = Submit(SpecJson(R"({"requirements":{"accelerator":2}})"));
  ASSERT_TRUE(Progress("blackwell", busy.id(), 1).ok());
  ASSERT_TRUE(Complete("blackwell", busy.id(), 1).ok());
  EXPECT_EQ(AcquireSlot("blackwell"), only120.id());
  EXPECT_EQ(AcquireSlot("hopper"), generic2.id());
}

TEST_F(PlacementTest, TiersFallBackToCpuOnlyWhenNoGpuTierFits) {
  RegisterDevice("ampere", 86, 24);
  RegisterDevice("cpu-node", 0, 64);
  const std::string tiers = R"({"tiers":[
      {"name":"blackwell-bf16","requirements":{"architectures":["sm_120"],"features":["bf16"]},
       "parameters":{"resolution":96}},
      {"name":"ampere-fp16","requirements":{"minComputeCapability":80}},
      {"name":"cpu-fp32","requirements":{"accelerator":3},"parameters":{"resolution":24}}]})";
  auto ampere = Park("ampere");
  auto cpu = Park("cpu-node");
  kiln::v1::Job first = Submit(SpecJson(tiers));
  // Both wait; the earlier tier (ampere) wins although the CPU is less capable.
  ASSERT_EQ(ampere->Get()->assignment().job().id(), first.id());
  EXPECT_EQ(ampere->Get()->assignment().tier_index(), 1);
  EXPECT_FALSE(cpu->ready());
  // The GPU is busy now: the next one falls back to the CPU tier, with its parameters.
  kiln::v1::Job second = Submit(SpecJson(tiers));
  ASSERT_EQ(cpu->Get()->assignment().job().id(), second.id());
  EXPECT_EQ(cpu->Get()->assignment().tier_index(), 2);
  EXPECT_EQ(cpu->Get()->assignment().parameters().fields().at("resolution").number_value(), 24);
  EXPECT_EQ(scheduler_->GetJob(second.id())->attempts(0).tier(), "cpu-fp32");
}

TEST_F(PlacementTest, MemoryIsCheckedAndReservedPerDevice) {
  RegisterDevice("hopper", 90, 80, /*slots=*/2);
  kiln::v1::Job big1 =
      Submit(SpecJson(R"({"requirements":{"minDeviceMemoryBytes":"53687091200"}})"));
  kiln::v1::Job big2 =
      Submit(SpecJson(R"({"requirements":{"minDeviceMemoryBytes":"53687091200"}})"));
  kiln::v1::Job huge =
      Submit(SpecJson(R"({"requirements":{"minDeviceMemoryBytes":"107374182400"}})"));
  EXPECT_EQ(AcquireSlot("hopper", 0), big1.id());
  // 50 GiB of 80 are held by big1: slot 1 of the same GPU cannot take big2.
  EXPECT_EQ(AcquireSlot("hopper", 1), "");
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetJob(huge.id())->status_message(),
            "waiting: no worker can run it (hopper: device cuda:0 has 80.0 GiB, below 100.0 GiB)");
  ASSERT_TRUE(Progress("hopper", big1.id(), 1).ok());
  // Heartbeats extend the lease; they must not reserve the memory again.
  for (int i = 0; i < 3; ++i) {
    kiln::v1::HeartbeatRequest heartbeat;
    heartbeat.set_worker_id("hopper");
    auto* lease = heartbeat.add_leases();
    lease->set_job_id(big1.id());
    lease->set_attempt(1);
    ASSERT_TRUE(scheduler_->Heartbeat(heartbeat).ok());
  }
  ASSERT_TRUE(Complete("hopper", big1.id(), 1).ok());
  EXPECT_EQ(AcquireSlot("hopper", 1), big2.id());
  // And the memory big2 holds is released when it ends, whatever the path.
  Result<kiln::v1::Job> cancelled;
  scheduler_->Cancel(big2.id(), "", cancelled.callback());
  ASSERT_TRUE(cancelled.Get().ok());
  kiln::v1::Job big3 =
      Submit(SpecJson(R"({"requirements":{"minDeviceMemoryBytes":"75161927680"}})"));
  EXPECT_EQ(AcquireSlot("hopper", 0), big3.id());  // 70 GiB: only an empty device fits
}

TEST_F(PlacementTest, PendingReasonNamesWhatIsMissing) {
  kiln::v1::Job job = Submit(SpecJson(R"({"requirements":{"architectures":["sm_120"]}})"));
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetJob(job.id())->status_message(),
            "waiting: no worker is registered and alive");
  RegisterDevice("ampere", 86, 24);
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetJob(job.id())->status_message(),
            "waiting: no worker can run it (ampere: device cuda:0 is sm_86, not sm_120)");
  kiln::v1::ListJobsRequest list;
  EXPECT_EQ(scheduler_->ListJobs(list)->jobs(0).status_message(),
            scheduler_->GetJob(job.id())->status_message());
}

TEST_F(PlacementTest, AJobNamingAModelGoesOnlyWhereThatModelIs) {
  RegisterDevice("ampere", 86, 24, 1, {"torus-sdf@1"});
  RegisterDevice("hopper", 90, 80, 1, {"torus-sdf@1", "triposr@2"});
  kiln::v1::Job triposr = Submit(SpecJson(R"({"model":"triposr"})"));
  kiln::v1::Job missing = Submit(SpecJson(R"({"model":"trellis"})"));
  // Ampere is the less capable device, but it does not have the model.
  EXPECT_EQ(AcquireSlot("ampere"), "");
  EXPECT_EQ(AcquireSlot("hopper"), triposr.id());
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetJob(missing.id())->status_message(),
            "waiting: no worker advertises model trellis");
  // A model some worker has, on a device too small for it, says why.
  kiln::v1::Job too_big = Submit(SpecJson(
      R"({"model":"torus-sdf@1","requirements":{"minDeviceMemoryBytes":"107374182400"}})"));
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_NE(scheduler_->GetJob(too_big.id())->status_message().find("below 100.0 GiB"),
            std::string::npos)
      << scheduler_->GetJob(too_big.id())->status_message();
}

TEST_F(PlacementTest, AWarmSlotIsPreferredForItsModel) {
  RegisterDevice("cold", 90, 80, 1, {"torus-sdf@1", "gyroid@1"});
  RegisterDevice("warm", 90, 80, 1, {"torus-sdf@1", "gyroid@1"});
  // Equally capable slots wait; the one that has the model loaded gets the job.
  auto cold = Park("cold", 0, {"gyroid@1"});
  auto warm = Park("warm", 0, {"torus-sdf@1"});
  kiln::v1::Job torus = Submit(SpecJson(R"({"model":"torus-sdf"})"));
  // (Parked acquires are answered once the assignment is durable.)
  EXPECT_EQ(warm->Get()->assignment().job().id(), torus.id());
  kiln::v1::Job gyroid = Submit(SpecJson(R"({"model":"gyroid@1"})"));
  EXPECT_EQ(cold->Get()->assignment().job().id(), gyroid.id());
  // A slot asking with both queued takes the job of its loaded model first,
  // although the other one was submitted earlier at the same priority.
  kiln::v1::Job gyroid2 = Submit(SpecJson(R"({"model":"gyroid"})"));
  kiln::v1::Job torus2 = Submit(SpecJson(R"({"model":"torus-sdf"})"));
  EXPECT_EQ(AcquireSlot("warm", 0, {"torus-sdf@1"}), torus2.id());
  EXPECT_EQ(AcquireSlot("warm", 0, {"torus-sdf@1"}), gyroid2.id());
}

TEST_F(PlacementTest, WarmthNeverOverridesKeepingCapableDevicesFree) {
  RegisterDevice("ampere", 86, 24, 1, {"torus-sdf@1"});
  RegisterDevice("hopper", 90, 80, 1, {"torus-sdf@1"});
  auto hopper = Park("hopper", 0, {"torus-sdf@1"});
  auto ampere = Park("ampere", 0, {});
  kiln::v1::Job torus = Submit(SpecJson(R"({"model":"torus-sdf"})"));
  EXPECT_EQ(ampere->Get()->assignment().job().id(), torus.id());
  kiln::v1::Job second = Submit(SpecJson(R"({"model":"torus-sdf"})"));
  EXPECT_EQ(hopper->Get()->assignment().job().id(), second.id());
}

TEST_F(PlacementTest, TooManyLoadedModelsIsRejectedByName) {
  RegisterDevice("w", 90, 80);
  kiln::v1::AcquireJobRequest request;
  request.set_worker_id("w");
  for (int i = 0; i < 1025; ++i) request.add_loaded_models(absl::StrCat("m", i, "@1"));
  Result<kiln::v1::AcquireJobResponse> result;
  scheduler_->AcquireJob(request, result.callback());
  EXPECT_EQ(result.Get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.Get().status().message().find("loaded_models:"), 0u) << result.Get().status();
}

TEST_F(PlacementTest, TierValidationNamesTheTier) {
  Result<std::vector<kiln::v1::SubmitJobResponse>> result;
  scheduler_->Submit({SpecJson(R"({"tiers":[{},{"requirements":{"features":["warp-drive"]}}]})")},
                     false, result.callback());
  EXPECT_EQ(result.Get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.Get().status().message().find("spec.tiers[1].requirements.features[0]"), 0u)
      << result.Get().status();
  Result<std::vector<kiln::v1::SubmitJobResponse>> bad_params;
  scheduler_->Submit({SpecJson(R"({"tiers":[{"parameters":{"resolution":100000}}]})")}, false,
                     bad_params.callback());
  EXPECT_EQ(bad_params.Get().status().message().find("spec.tiers[0].parameters.resolution"), 0u)
      << bad_params.Get().status();
}

}  // namespace
}  // namespace kiln::core

namespace kiln::core {
namespace {

// --- Attempt logs: the live tail (GetJobLog) and the log blob on the attempt -----------

class SchedulerLogTest : public SchedulerTest {
 protected:
  absl::Status LogChunk(const std::string& worker, const std::string& job_id, int attempt,
                        int64_t offset, const std::string& bytes) {
    kiln::v1::ReportProgressRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    request.set_log_only(true);
    request.set_log_offset(offset);
    request.set_log_chunk(bytes);
    StatusResult result;
    scheduler_->ReportProgress(request, result.callback());
    return result.Get();
  }

  kiln::v1::GetJobLogRequest LogRequest(const std::string& job_id, int attempt, int64_t offset,
                                        absl::Duration wait) {
    kiln::v1::GetJobLogRequest request;
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    request.set_offset(offset);
    request.mutable_wait()->set_seconds(absl::ToInt64Seconds(wait));
    return request;
  }

  absl::StatusOr<kiln::v1::GetJobLogResponse> ReadLog(const std::string& job_id, int attempt,
                                                      int64_t offset) {
    Result<kiln::v1::GetJobLogResponse> result;
    EXPECT_EQ(scheduler_->GetJobLog(LogRequest(job_id, attempt, offset, absl::ZeroDuration()),
                                    result.callback()),
              0u);
    return result.Get();
  }

  kiln::v1::BlobRef StoreLogBlob(const std::string& content) {
    kiln::v1::StoredBlob blob;
    blob.set_sha256(Sha256Hex(content));
    blob.set_size_bytes(static_cast<int64_t>(content.size()));
    StatusResult stored;
    scheduler_->PutBlob(blob, stored.callback());
    EXPECT_TRUE(stored.Get().ok());
    kiln::v1::BlobRef ref;
    ref.set_name("attempt-1.log");
    ref.set_sha256(blob.sha256());
    return ref;
  }

  // A job running attempt 1 on w1.
  std::string StartJob(int max_attempts = 3) {
    Register("w1");
    const std::string id = Submit(MeshSpec(max_attempts)).id();
    EXPECT_TRUE(Acquire("w1").has_value());
    EXPECT_TRUE(Progress("w1", id, 1).ok());
    return id;
  }
};

TEST_F(SchedulerLogTest, LiveTailIsReadFromAnOffsetAndLongPollsWake) {
  const std::string id = StartJob();
  ASSERT_TRUE(LogChunk("w1", id, 1, 0, "line 1\n").ok());
  absl::StatusOr<kiln::v1::GetJobLogResponse> read = ReadLog(id, 0, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->attempt(), 1);
  EXPECT_EQ(read->data(), "line 1\n");
  EXPECT_EQ(read->next_offset(), 7);
  EXPECT_FALSE(read->ended());
  EXPECT_EQ(read->job_state(), kiln::v1::JOB_STATE_RUNNING);

  // Nothing new at 7: the read parks until bytes come.
  Result<kiln::v1::GetJobLogResponse> parked;
  EXPECT_NE(scheduler_->GetJobLog(LogRequest(id, 1, 7, absl::Seconds(10)), parked.callback()), 0u);
  EXPECT_FALSE(parked.ready());
  ASSERT_TRUE(LogChunk("w1", id, 1, 7, "line 2\n").ok());
  ASSERT_TRUE(parked.ready());
  EXPECT_EQ(parked.Get()->data(), "line 2\n");
  EXPECT_EQ(parked.Get()->offset(), 7);
  EXPECT_EQ(parked.Get()->next_offset(), 14);

  // A log-only report neither stores nor moves progress.
  EXPECT_EQ(scheduler_->GetJob(id)->progress(), 0.5);
}

TEST_F(SchedulerLogTest, ParkedReadEndsAtItsWaitOnTheFakeClock) {
  const std::string id = StartJob();
  Result<kiln::v1::GetJobLogResponse> parked;
  scheduler_->GetJobLog(LogRequest(id, 0, 0, absl::Seconds(5)), parked.callback());
  clock_.Advance(absl::Seconds(4));
  scheduler_->Tick();
  EXPECT_FALSE(parked.ready());
  clock_.Advance(absl::Seconds(1));
  scheduler_->Tick();
  ASSERT_TRUE(parked.ready());
  EXPECT_EQ(parked.Get()->data(), "");
  EXPECT_EQ(parked.Get()->next_offset(), 0);
  EXPECT_FALSE(parked.Get()->ended());
}

TEST_F(SchedulerLogTest, WaitIsCappedByTheScheduler) {
  const std::string id = StartJob();
  Result<kiln::v1::GetJobLogResponse> parked;
  scheduler_->GetJobLog(LogRequest(id, 0, 0, absl::Hours(5)), parked.callback());
  clock_.Advance(absl::Seconds(60));  // SchedulerOptions::max_log_wait
  scheduler_->Tick();
  EXPECT_TRUE(parked.ready());
}

TEST_F(SchedulerLogTest, FailedAttemptKeepsItsLogAndWakesFollowers) {
  const std::string id = StartJob(/*max_attempts=*/1);
  ASSERT_TRUE(LogChunk("w1", id, 1, 0, "about to crash\n").ok());
  Result<kiln::v1::GetJobLogResponse> parked;
  scheduler_->GetJobLog(LogRequest(id, 1, 15, absl::Seconds(30)), parked.callback());

  const kiln::v1::BlobRef log = StoreLogBlob("about to crash\nSegmentation fault\n");
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(id);
  fail.set_attempt(1);
  fail.set_reason(kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
  fail.set_message("executor killed by signal 11 (SIGSEGV)");
  *fail.mutable_log() = log;
  Result<kiln::v1::FailJobResponse> failed;
  scheduler_->FailJob(fail, failed.callback());
  ASSERT_TRUE(failed.Get().ok()) << failed.Get().status();

  scheduler_->Tick();  // Followers are told outside the scheduler's lock.
  ASSERT_TRUE(parked.ready());
  EXPECT_TRUE(parked.Get()->ended());
  EXPECT_EQ(parked.Get()->log().sha256(), log.sha256());
  EXPECT_EQ(parked.Get()->exit_reason(), kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
  EXPECT_EQ(parked.Get()->job_state(), kiln::v1::JOB_STATE_FAILED);
  EXPECT_EQ(parked.Get()->next_offset(), 15);
  EXPECT_EQ(scheduler_->log_tails().total_bytes(), 0);  // The tail went with the attempt.

  const kiln::v1::Job job = *scheduler_->GetJob(id);
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).log().name(), "attempt-1.log");
  EXPECT_EQ(job.attempts(0).log().size_bytes(), 34);
  // Read after the end (and after a restart, from the store): the blob reference.
  Open();
  absl::StatusOr<kiln::v1::GetJobLogResponse> read = ReadLog(id, 0, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->ended());
  EXPECT_EQ(read->data(), "");
  EXPECT_EQ(read->log().sha256(), log.sha256());
}

TEST_F(SchedulerLogTest, CompletedAttemptKeepsItsLog) {
  const std::string id = StartJob();
  const kiln::v1::BlobRef log = StoreLogBlob("done\n");
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(id);
  complete.set_attempt(1);
  *complete.mutable_log() = log;
  StatusResult completed;
  scheduler_->CompleteJob(complete, completed.callback());
  ASSERT_TRUE(completed.Get().ok()) << completed.Get();
  EXPECT_EQ(scheduler_->GetJob(id)->attempts(0).log().sha256(), log.sha256());
}

TEST_F(SchedulerLogTest, ClearErrors) {
  Register("w1");
  absl::StatusOr<kiln::v1::GetJobLogResponse> read = ReadLog("j-00000000000000ff", 0, 0);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  const std::string queued = Submit(MeshSpec()).id();
  read = ReadLog(queued, 0, 0);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(read.status().message().find("no attempt yet"), std::string::npos);
  ASSERT_TRUE(Acquire("w1").has_value());
  read = ReadLog(queued, 2, 0);
  EXPECT_EQ(read.status(),
            absl::OutOfRangeError("attempt: job " + queued + " has 1 attempt(s), not 2"));
  read = ReadLog(queued, -1, 0);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  read = ReadLog(queued, 0, -5);
  EXPECT_EQ(read.status(), absl::InvalidArgumentError("offset: must be >= 0"));

  // A log-only report does not start the attempt; a stale one is refused.
  ASSERT_TRUE(LogChunk("w1", queued, 1, 0, "early\n").ok());
  EXPECT_EQ(StateOf(queued), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_EQ(ReadLog(queued, 0, 0)->data(), "early\n");
  EXPECT_EQ(LogChunk("w1", queued, 2, 0, "x").code(), absl::StatusCode::kFailedPrecondition);

  // An end report naming a log blob that was never uploaded is refused.
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(queued);
  complete.set_attempt(1);
  complete.mutable_log()->set_name("attempt-1.log");
  complete.mutable_log()->set_sha256(std::string(64, 'a'));
  StatusResult completed;
  scheduler_->CompleteJob(complete, completed.callback());
  EXPECT_EQ(completed.Get().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(completed.Get().message().find("log.sha256"), std::string::npos);
}

// DrainWorker (issue 10): a drained worker keeps its lease but is assigned nothing new;
// the drain is stored (it survives a scheduler restart and re-registration) until resumed.
TEST_F(SchedulerTest, DrainedWorkerGetsNoNewJobsUntilResumed) {
  Register("w1");
  const kiln::v1::Job running = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> first = Acquire("w1");
  ASSERT_TRUE(first.has_value());
  const kiln::v1::Job waiting = Submit(MeshSpec());

  Result<kiln::v1::WorkerInfo> drained;
  scheduler_->DrainWorker("w1", true, drained.callback());
  ASSERT_TRUE(drained.Get().ok()) << drained.Get().status();
  EXPECT_TRUE(drained.Get()->draining());
  EXPECT_THAT(drained.Get()->job_ids(), ::testing::ElementsAre(running.id()));
  EXPECT_FALSE(Acquire("w1").has_value());
  scheduler_->Tick();  // pending reasons are worked out on ticks
  absl::StatusOr<kiln::v1::Job> pending = scheduler_->GetJob(waiting.id());
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_THAT(pending->status_message(), ::testing::HasSubstr("drained workers"));
  // What it holds still completes.
  EXPECT_TRUE(Complete("w1", running.id(), first->attempt()).ok());

  Open();          // a scheduler restart: the drain is in the store
  Register("w1");  // and a re-registering worker does not clear it
  std::vector<kiln::v1::WorkerInfo> workers = scheduler_->ListWorkers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_TRUE(workers[0].draining());
  EXPECT_FALSE(Acquire("w1").has_value());

  Result<kiln::v1::WorkerInfo> resumed;
  scheduler_->DrainWorker("w1", false, resumed.callback());
  ASSERT_TRUE(resumed.Get().ok()) << resumed.Get().status();
  EXPECT_FALSE(resumed.Get()->draining());
  std::optional<kiln::v1::Assignment> next = Acquire("w1");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->job().id(), waiting.id());
}

// CompleteJob with acquire_next: the completion and the slot's next assignment in one call.
absl::StatusOr<kiln::v1::CompleteJobResponse> CompleteWithNext(Scheduler& scheduler,
                                                               const std::string& worker,
                                                               const std::string& job_id,
                                                               int attempt, int loaded_models = 0) {
  kiln::v1::CompleteJobRequest request;
  request.set_worker_id(worker);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  request.set_acquire_next(true);
  for (int i = 0; i < loaded_models; ++i) request.add_loaded_models(absl::StrCat("m", i, "@1"));
  Result<kiln::v1::CompleteJobResponse> result;
  scheduler.CompleteJobWithNext(request, result.callback());
  return result.Get();
}

TEST_F(SchedulerTest, ACompletionHandsTheSlotItsNextJobDurably) {
  Register("w1");
  const kiln::v1::Job first = Submit(MeshSpec());
  const kiln::v1::Job second = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> assigned = Acquire("w1");
  ASSERT_TRUE(assigned.has_value());
  ASSERT_EQ(assigned->job().id(), first.id());

  absl::StatusOr<kiln::v1::CompleteJobResponse> done =
      CompleteWithNext(*scheduler_, "w1", first.id(), assigned->attempt());
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(done->has_next());
  EXPECT_EQ(done->next().job().id(), second.id());
  EXPECT_EQ(done->next().attempt(), 1);
  EXPECT_EQ(done->next().job().state(), JobState::JOB_STATE_ASSIGNED);
  EXPECT_TRUE(done->next().has_lease_deadline());

  Open();  // both writes were durable before the answer
  EXPECT_EQ(StateOf(first.id()), JobState::JOB_STATE_SUCCEEDED);
  absl::StatusOr<kiln::v1::Job> next = scheduler_->GetJob(second.id());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->state(), JobState::JOB_STATE_ASSIGNED);
  ASSERT_EQ(next->attempts_size(), 1);
  EXPECT_EQ(next->attempts(0).worker_id(), "w1");
  EXPECT_EQ(next->attempts(0).slot(), 0);

  // Nothing queued: the completion is answered without a next job.
  Register("w1");
  done = CompleteWithNext(*scheduler_, "w1", second.id(), 1);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->has_next());
  EXPECT_EQ(StateOf(second.id()), JobState::JOB_STATE_SUCCEEDED);

  // A repeated completion (its answer was lost) is accepted again but hands out nothing:
  // the slot may have taken the first answer's job already.
  const kiln::v1::Job third = Submit(MeshSpec());
  done = CompleteWithNext(*scheduler_, "w1", second.id(), 1);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->has_next());
  EXPECT_EQ(StateOf(third.id()), JobState::JOB_STATE_QUEUED);
}

// next_wait: with nothing ready the completion is accepted at once and the call waits,
// like a parked AcquireJob, for the slot's next job, its end or its cancellation.
TEST_F(SchedulerTest, ACompletionThatWaitsGetsTheNextSubmittedJob) {
  Register("w1");
  const kiln::v1::Job first = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> assigned = Acquire("w1");
  ASSERT_TRUE(assigned.has_value());
  kiln::v1::CompleteJobRequest request;
  request.set_worker_id("w1");
  request.set_job_id(first.id());
  request.set_attempt(assigned->attempt());
  request.set_acquire_next(true);
  *request.mutable_next_wait() = ToProtoDuration(absl::Seconds(10));

  Result<kiln::v1::CompleteJobResponse> waiting;
  EXPECT_NE(scheduler_->CompleteJobWithNext(request, waiting.callback()), 0u);
  EXPECT_FALSE(waiting.ready());
  EXPECT_EQ(StateOf(first.id()), JobState::JOB_STATE_SUCCEEDED);
  const kiln::v1::Job second = Submit(MeshSpec());
  ASSERT_TRUE(waiting.Get().ok()) << waiting.Get().status();
  ASSERT_TRUE(waiting.Get()->has_next());
  EXPECT_EQ(waiting.Get()->next().job().id(), second.id());
  Open();  // both writes were durable before the answer
  EXPECT_EQ(StateOf(first.id()), JobState::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(StateOf(second.id()), JobState::JOB_STATE_ASSIGNED);

  // Nothing comes within the wait: answered without a next job, the completion stands.
  Register("w1");
  request.set_job_id(second.id());
  request.set_attempt(1);
  Result<kiln::v1::CompleteJobResponse> expired;
  EXPECT_NE(scheduler_->CompleteJobWithNext(request, expired.callback()), 0u);
  clock_.Advance(absl::Seconds(9));
  scheduler_->Tick();
  EXPECT_FALSE(expired.ready());
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  ASSERT_TRUE(expired.Get().ok()) << expired.Get().status();
  EXPECT_FALSE(expired.Get()->has_next());
  EXPECT_EQ(StateOf(second.id()), JobState::JOB_STATE_SUCCEEDED);

  // The worker goes away while waiting: still OK for the completion, and the slot is
  // no longer offered work (a later job stays queued).
  const kiln::v1::Job third = Submit(MeshSpec());
  assigned = Acquire("w1");
  ASSERT_TRUE(assigned.has_value());
  request.set_job_id(third.id());
  request.set_attempt(assigned->attempt());
  Result<kiln::v1::CompleteJobResponse> cancelled;
  const uint64_t id = scheduler_->CompleteJobWithNext(request, cancelled.callback());
  ASSERT_NE(id, 0u);
  scheduler_->CancelAcquire(id);
  ASSERT_TRUE(cancelled.Get().ok()) << cancelled.Get().status();
  EXPECT_FALSE(cancelled.Get()->has_next());
  EXPECT_EQ(StateOf(third.id()), JobState::JOB_STATE_SUCCEEDED);
  const kiln::v1::Job fourth = Submit(MeshSpec());
  EXPECT_EQ(StateOf(fourth.id()), JobState::JOB_STATE_QUEUED);
  EXPECT_EQ(scheduler_->Stats().parked_acquires, 0u);
}

TEST_F(SchedulerTest, ACompletionAsksForNothingWhenRefusedOrDrained) {
  Register("w1");
  const kiln::v1::Job first = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> assigned = Acquire("w1");
  ASSERT_TRUE(assigned.has_value());
  const kiln::v1::Job waiting = Submit(MeshSpec());

  absl::StatusOr<kiln::v1::CompleteJobResponse> done =
      CompleteWithNext(*scheduler_, "w1", first.id(), assigned->attempt(), /*loaded_models=*/1025);
  EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(done.status().message()), ::testing::HasSubstr("loaded_models"));
  done = CompleteWithNext(*scheduler_, "w1", first.id(), assigned->attempt() + 1);
  EXPECT_EQ(done.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StateOf(first.id()), JobState::JOB_STATE_ASSIGNED);
  EXPECT_EQ(StateOf(waiting.id()), JobState::JOB_STATE_QUEUED);

  // A drained worker finishes what it holds and gets nothing new with it.
  Result<kiln::v1::WorkerInfo> drained;
  scheduler_->DrainWorker("w1", true, drained.callback());
  ASSERT_TRUE(drained.Get().ok()) << drained.Get().status();
  done = CompleteWithNext(*scheduler_, "w1", first.id(), assigned->attempt());
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->has_next());
  EXPECT_EQ(StateOf(first.id()), JobState::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(StateOf(waiting.id()), JobState::JOB_STATE_QUEUED);
}

TEST_F(SchedulerTest, DrainingAnUnknownOrBadWorkerIsRefusedByName) {
  Result<kiln::v1::WorkerInfo> unknown;
  scheduler_->DrainWorker("nobody", true, unknown.callback());
  EXPECT_EQ(unknown.Get().status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.Get().status().message()), ::testing::HasSubstr("nobody"));
  Result<kiln::v1::WorkerInfo> bad;
  scheduler_->DrainWorker("bad name!", true, bad.callback());
  EXPECT_EQ(bad.Get().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.Get().status().message()), ::testing::StartsWith("worker_id:"));
}

TEST_F(SchedulerTest, QueuedJobsPerTenantAreLimitedAndCountedAcrossRestarts) {
  max_queued_per_tenant_ = 2;
  Open();
  auto first = SubmitAs({MeshSpec()}, "acme");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->front().job().tenant(), "acme");
  ASSERT_TRUE(SubmitAs({MeshSpec()}, "acme").ok());
  auto third = SubmitAs({MeshSpec()}, "acme");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(third.status().message()),
              ::testing::HasSubstr("tenant acme has 2 queued or running jobs"));
  EXPECT_THAT(std::string(third.status().message()),
              ::testing::HasSubstr("max_queued_per_tenant (2)"));
  // Another tenant has its own budget; a batch over the limit stores none of its jobs.
  EXPECT_EQ(SubmitAs({MeshSpec(), MeshSpec(), MeshSpec()}, "other", false, /*batch=*/true)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(SubmitAs({MeshSpec(), MeshSpec()}, "other", false, /*batch=*/true).ok());
  EXPECT_EQ(scheduler_->ListJobs({})->jobs_size(), 4);

  // The count survives a restart, and a finished job frees its place.
  Open();
  EXPECT_EQ(SubmitAs({MeshSpec()}, "acme").status().code(), absl::StatusCode::kResourceExhausted);
  Result<kiln::v1::Job> cancelled;
  scheduler_->Cancel(first->front().job().id(), "", cancelled.callback());
  ASSERT_TRUE(cancelled.Get().ok());
  EXPECT_TRUE(SubmitAs({MeshSpec()}, "acme").ok());
  EXPECT_EQ(SubmitAs({MeshSpec()}, "acme").status().code(), absl::StatusCode::kResourceExhausted);
  // Jobs that run to their end free their places too.
  Register("w1");
  for (int i = 0; i < 2; ++i) {
    auto assignment = Acquire("w1");
    ASSERT_TRUE(assignment.has_value());
    ASSERT_TRUE(Complete("w1", assignment->job().id(), 1).ok());
  }
  EXPECT_TRUE(SubmitAs({MeshSpec()}, "other").ok());
}

TEST_F(SchedulerTest, TenantsHaveTheirOwnJobsRequestIdsAndListFilter) {
  kiln::v1::JobSpec spec = MeshSpec();
  spec.set_client_request_id("nightly-1");
  auto acme = SubmitAs({spec}, "acme");
  auto other = SubmitAs({spec}, "other");
  ASSERT_TRUE(acme.ok() && other.ok());
  // The same request id in two tenants is two jobs; in one tenant it is one.
  EXPECT_NE(acme->front().job().id(), other->front().job().id());
  EXPECT_FALSE(other->front().deduplicated());
  auto again = SubmitAs({spec}, "acme");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->front().deduplicated());
  EXPECT_EQ(again->front().job().id(), acme->front().job().id());
  // The default tenant keeps the bare request id (as stored before tenants existed).
  const std::string plain = Submit(spec).id();
  EXPECT_EQ(scheduler_->GetJob(plain)->tenant(), "default");

  kiln::v1::ListJobsRequest request;
  request.set_tenant("acme");
  auto listed = scheduler_->ListJobs(request);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->jobs_size(), 1);
  EXPECT_EQ(listed->jobs(0).id(), acme->front().job().id());
  request.set_tenant("default");
  ASSERT_EQ(scheduler_->ListJobs(request)->jobs_size(), 1);
  EXPECT_EQ(scheduler_->ListJobs({})->jobs_size(), 3);
}

TEST_F(SchedulerTest, BlobsBelongToTheirUploadersAndToTheJobsThatOutputThem) {
  const std::string input = PutBlobAs("acme's input", {"acme", ""});
  kiln::v1::JobSpec spec = MeshSpec();
  auto* ref = spec.add_inputs();
  ref->set_name("in.bin");
  ref->set_sha256(input);
  // Another tenant's blob is answered as a missing one; an admin may name any blob.
  auto refused = SubmitAs({spec}, "other");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("not found"));
  EXPECT_TRUE(SubmitAs({spec}, "ops", /*any_input_blob=*/true).ok());
  // The same content uploaded by the other tenant belongs to both.
  PutBlobAs("acme's input", {"other", ""});
  EXPECT_THAT(scheduler_->GetBlob(input)->tenants(), ::testing::ElementsAre("acme", "other"));
  auto accepted = SubmitAs({spec}, "other");
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  // A worker's upload is its own until a completion names it: then the job's tenant's.
  Register("w1");
  auto assignment = Acquire("w1");
  ASSERT_TRUE(assignment.has_value());
  EXPECT_TRUE(
      scheduler_->IsInputOfLeasedJob(input, [](const std::string& w) { return w == "w1"; }));
  EXPECT_FALSE(
      scheduler_->IsInputOfLeasedJob(input, [](const std::string& w) { return w != "w1"; }));
  const std::string output = PutBlobAs("a mesh", {"", "pool-a"});
  EXPECT_TRUE(scheduler_->GetBlob(output)->tenants().empty());
  EXPECT_THAT(scheduler_->GetBlob(output)->worker_uploaders(), ::testing::ElementsAre("pool-a"));
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(assignment->job().id());
  complete.set_attempt(assignment->attempt());
  auto* out = complete.add_outputs();
  out->set_name("mesh.ply");
  out->set_sha256(output);
  StatusResult completed;
  scheduler_->CompleteJob(complete, completed.callback());
  ASSERT_TRUE(completed.Get().ok()) << completed.Get();
  const std::string job_tenant = scheduler_->GetJob(assignment->job().id())->tenant();
  EXPECT_THAT(scheduler_->GetBlob(output)->tenants(), ::testing::ElementsAre(job_tenant));
  // Readers are stored: a restart keeps them.
  Open();
  EXPECT_THAT(scheduler_->GetBlob(output)->tenants(), ::testing::ElementsAre(job_tenant));
  EXPECT_THAT(scheduler_->GetBlob(input)->tenants(), ::testing::ElementsAre("acme", "other"));
}

}  // namespace
}  // namespace kiln::core
