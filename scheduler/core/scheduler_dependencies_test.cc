// Job dependencies and fan-out in the Scheduler (scheduler_dependencies.cc): a real
// RocksDB in a temp dir, a FakeClock, no ticker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/scheduler_test_util.h"

namespace kiln::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Result;
using testing::StatusResult;

kiln::v1::JobSpec MeshSpec(const std::string& request_id = "") {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  spec.set_max_attempts(1);
  spec.set_client_request_id(request_id);
  google::protobuf::util::JsonStringToMessage(
      R"({"shape":{"type":"sphere","radius":1},"resolution":16})", spec.mutable_parameters());
  return spec;
}

kiln::v1::JobSpec After(kiln::v1::JobSpec spec, const std::string& job_id,
                        bool run_on_failure = false, const std::string& prefix = "") {
  kiln::v1::Dependency* dep = spec.add_dependencies();
  dep->set_job_id(job_id);
  dep->set_run_on_failure(run_on_failure);
  dep->set_input_prefix(prefix);
  return spec;
}

kiln::v1::JobSpec AfterIndex(kiln::v1::JobSpec spec, int index, const std::string& prefix = "") {
  kiln::v1::Dependency* dep = spec.add_dependencies();
  dep->set_batch_index(index);
  dep->set_input_prefix(prefix);
  return spec;
}

std::vector<std::string> InputNames(const kiln::v1::Job& job) {
  std::vector<std::string> names;
  for (const auto& input : job.spec().inputs()) names.push_back(input.name());
  return names;
}

class SchedulerDependenciesTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  // (Re)opens store and scheduler on the same directory: a restart.
  void Open() {
    SchedulerOptions options;
    options.clock = &clock_;
    options.run_ticker = false;
    testing::OpenOnDisk({.path = dir_.Sub("db")}, options, store_, committer_, scheduler_);
  }

  void Register(const std::string& worker, int slots = 1) {
    Result<kiln::v1::RegisterWorkerResponse> result;
    scheduler_->RegisterWorker(testing::CpuWorker(worker, slots), result.callback());
    ASSERT_TRUE(result.Get().ok()) << result.Get().status();
  }

  absl::StatusOr<std::vector<kiln::v1::SubmitJobResponse>> SubmitBatch(
      std::vector<kiln::v1::JobSpec> specs) {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    scheduler_->Submit(std::move(specs), /*batch=*/true, result.callback());
    return result.Get();
  }

  kiln::v1::Job Submit(const kiln::v1::JobSpec& spec) {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    scheduler_->Submit({spec}, false, result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    if (!result.Get().ok()) return kiln::v1::Job();
    return result.Get()->front().job();
  }

  // Acquires the next job for `worker` slot `slot`; nullopt when none fits.
  std::optional<kiln::v1::Assignment> Acquire(const std::string& worker, int slot = 0) {
    kiln::v1::AcquireJobRequest request;
    request.set_worker_id(worker);
    request.set_slot(slot);
    Result<kiln::v1::AcquireJobResponse> result;
    scheduler_->AcquireJob(request, result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    if (!result.Get().ok() || !result.Get()->has_assignment()) return std::nullopt;
    return result.Get()->assignment();
  }

  // Stores a blob (metadata only) and returns a reference to it named `name`.
  kiln::v1::BlobRef Blob(const std::string& name, const std::string& content) {
    kiln::v1::StoredBlob blob;
    blob.set_sha256(Sha256Hex(content));
    blob.set_size_bytes(static_cast<int64_t>(content.size()));
    StatusResult stored;
    scheduler_->PutBlob(blob, stored.callback());
    EXPECT_TRUE(stored.Get().ok());
    kiln::v1::BlobRef ref;
    ref.set_name(name);
    ref.set_sha256(blob.sha256());
    return ref;
  }

  absl::Status Complete(const kiln::v1::Assignment& assignment,
                        const std::vector<kiln::v1::BlobRef>& outputs = {}) {
    kiln::v1::CompleteJobRequest request;
    request.set_worker_id(assignment.job().attempts().rbegin()->worker_id());
    request.set_job_id(assignment.job().id());
    request.set_attempt(assignment.attempt());
    for (const auto& output : outputs) *request.add_outputs() = output;
    StatusResult result;
    scheduler_->CompleteJob(request, result.callback());
    return result.Get();
  }

  absl::Status FailPermanently(const kiln::v1::Assignment& assignment) {
    kiln::v1::FailJobRequest request;
    request.set_worker_id(assignment.job().attempts().rbegin()->worker_id());
    request.set_job_id(assignment.job().id());
    request.set_attempt(assignment.attempt());
    request.set_reason(kiln::v1::EXIT_REASON_TASK_ERROR);
    request.set_message("bad mesh");
    request.set_permanent(true);
    Result<kiln::v1::FailJobResponse> result;
    scheduler_->FailJob(request, result.callback());
    return result.Get().status();
  }

  absl::Status Cancel(const std::string& job_id) {
    Result<kiln::v1::Job> result;
    scheduler_->Cancel(job_id, "not needed", result.callback());
    return result.Get().status();
  }

  // Runs the one job that is ready (it must be `job_id`) to success with `outputs`.
  void RunToSuccess(const std::string& job_id, const std::vector<kiln::v1::BlobRef>& outputs = {}) {
    std::optional<kiln::v1::Assignment> assignment = Acquire("w1");
    ASSERT_TRUE(assignment.has_value()) << "nothing ready; expected " << job_id;
    ASSERT_EQ(assignment->job().id(), job_id);
    ASSERT_TRUE(Complete(*assignment, outputs).ok());
  }

  absl::StatusOr<kiln::v1::SubmitChildJobsResponse> SubmitChildren(
      const kiln::v1::Assignment& parent, const std::string& call_id,
      std::vector<kiln::v1::JobSpec> specs, const std::string& worker = "w1") {
    kiln::v1::SubmitChildJobsRequest request;
    request.set_worker_id(worker);
    request.set_job_id(parent.job().id());
    request.set_attempt(parent.attempt());
    request.set_call_id(call_id);
    for (auto& spec : specs) *request.add_specs() = std::move(spec);
    Result<kiln::v1::SubmitChildJobsResponse> result;
    scheduler_->SubmitChildJobs(request, result.callback());
    return result.Get();
  }

  kiln::v1::Job Get(const std::string& job_id) {
    absl::StatusOr<kiln::v1::Job> job = scheduler_->GetJob(job_id);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : kiln::v1::Job();
  }
  kiln::v1::JobState StateOf(const std::string& job_id) { return Get(job_id).state(); }

  kiln::testing::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerDependenciesTest, ChainRunsInOrderAndPassesOutputsOn) {
  Register("w1");
  const kiln::v1::Job a = Submit(MeshSpec());
  const kiln::v1::Job b = Submit(After(MeshSpec(), a.id()));
  const kiln::v1::Job c = Submit(After(MeshSpec(), b.id(), false, "from-b."));
  EXPECT_EQ(a.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(b.state(), kiln::v1::JOB_STATE_WAITING);
  EXPECT_EQ(c.state(), kiln::v1::JOB_STATE_WAITING);
  EXPECT_THAT(b.status_message(), HasSubstr(a.id()));
  EXPECT_EQ(scheduler_->Stats().waiting, 2u);
  EXPECT_THAT(Get(a.id()).dependent_ids(), ElementsAre(b.id()));

  // Only A is ready.
  std::optional<kiln::v1::Assignment> first = Acquire("w1");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->job().id(), a.id());
  EXPECT_FALSE(Acquire("w1").has_value()) << "a waiting job was handed out";
  ASSERT_TRUE(Complete(*first, {Blob("mesh.glb", "a-mesh")}).ok());

  EXPECT_EQ(StateOf(b.id()), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(c.id()), kiln::v1::JOB_STATE_WAITING);
  EXPECT_THAT(InputNames(Get(b.id())), ElementsAre("mesh.glb"));
  EXPECT_EQ(Get(b.id()).spec().inputs(0).sha256(), Sha256Hex("a-mesh"));
  EXPECT_EQ(Get(b.id()).spec().inputs(0).size_bytes(), 6);

  RunToSuccess(b.id(), {Blob("mesh.glb", "b-mesh"), Blob("stats.json", "{}")});
  EXPECT_THAT(InputNames(Get(c.id())), ElementsAre("from-b.mesh.glb", "from-b.stats.json"));
  RunToSuccess(c.id());
  EXPECT_EQ(StateOf(c.id()), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(scheduler_->Stats().waiting, 0u);
}

TEST_F(SchedulerDependenciesTest, DiamondSubmittedAsOneBatchRunsTheJoinLast) {
  Register("w1");
  // 0 <- 1, 0 <- 2, {1, 2} <- 3, by batch index.
  auto results = SubmitBatch({MeshSpec(), AfterIndex(MeshSpec(), 0), AfterIndex(MeshSpec(), 0),
                              AfterIndex(AfterIndex(MeshSpec(), 1, "left."), 2, "right.")});
  ASSERT_TRUE(results.ok()) << results.status();
  std::vector<std::string> ids;
  for (const auto& r : *results) ids.push_back(r.job().id());
  const kiln::v1::Job join = Get(ids[3]);
  EXPECT_EQ(join.state(), kiln::v1::JOB_STATE_WAITING);
  // The stored spec names its dependencies by id.
  ASSERT_EQ(join.spec().dependencies_size(), 2);
  EXPECT_EQ(join.spec().dependencies(0).job_id(), ids[1]);
  EXPECT_EQ(join.spec().dependencies(1).job_id(), ids[2]);

  RunToSuccess(ids[0], {Blob("mesh.glb", "root")});
  EXPECT_EQ(StateOf(ids[1]), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(ids[2]), kiln::v1::JOB_STATE_QUEUED);
  std::optional<kiln::v1::Assignment> left = Acquire("w1");
  ASSERT_TRUE(left.has_value());
  ASSERT_TRUE(Complete(*left, {Blob("mesh.glb", "left")}).ok());
  EXPECT_EQ(StateOf(ids[3]), kiln::v1::JOB_STATE_WAITING) << "joined before both finished";
  std::optional<kiln::v1::Assignment> right = Acquire("w1");
  ASSERT_TRUE(right.has_value());
  ASSERT_TRUE(Complete(*right, {Blob("mesh.glb", "right")}).ok());
  EXPECT_EQ(StateOf(ids[3]), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_THAT(InputNames(Get(ids[3])), ElementsAre("left.mesh.glb", "right.mesh.glb"));
  RunToSuccess(ids[3]);
}

TEST_F(SchedulerDependenciesTest, FailurePropagatesTransitivelyUnlessRunAnyway) {
  Register("w1");
  const kiln::v1::Job a = Submit(MeshSpec());
  const kiln::v1::Job b = Submit(After(MeshSpec(), a.id()));
  const kiln::v1::Job c = Submit(After(MeshSpec(), b.id()));
  const kiln::v1::Job cleanup = Submit(After(MeshSpec(), a.id(), /*run_on_failure=*/true));
  std::optional<kiln::v1::Assignment> run = Acquire("w1");
  ASSERT_TRUE(run.has_value());
  ASSERT_TRUE(FailPermanently(*run).ok());

  const kiln::v1::Job b_now = Get(b.id());
  EXPECT_EQ(b_now.state(), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(b_now.status_message(), HasSubstr(a.id()));
  EXPECT_THAT(b_now.status_message(), HasSubstr("FAILED"));
  const kiln::v1::Job c_now = Get(c.id());
  EXPECT_EQ(c_now.state(), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(c_now.status_message(), HasSubstr(b.id()));
  EXPECT_EQ(StateOf(cleanup.id()), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(scheduler_->Stats().waiting, 0u);
  RunToSuccess(cleanup.id());

  // The same holds after a restart: the stored records say so.
  Open();
  EXPECT_EQ(StateOf(c.id()), kiln::v1::JOB_STATE_CANCELLED);
}

TEST_F(SchedulerDependenciesTest, CancellingADependencyCancelsItsDependents) {
  Register("w1");
  const kiln::v1::Job a = Submit(MeshSpec());
  const kiln::v1::Job b = Submit(After(MeshSpec(), a.id()));
  const kiln::v1::Job c = Submit(After(MeshSpec(), b.id()));
  // A is running when it is cancelled.
  ASSERT_TRUE(Acquire("w1").has_value());
  ASSERT_TRUE(Cancel(a.id()).ok());
  EXPECT_EQ(StateOf(b.id()), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(StateOf(c.id()), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(Get(c.id()).status_message(), HasSubstr("CANCELLED"));

  // Cancelling a waiting job directly works too, and its dependency runs on.
  const kiln::v1::Job d = Submit(MeshSpec());
  const kiln::v1::Job e = Submit(After(MeshSpec(), d.id()));
  ASSERT_TRUE(Cancel(e.id()).ok());
  EXPECT_EQ(StateOf(e.id()), kiln::v1::JOB_STATE_CANCELLED);
  RunToSuccess(d.id());
  EXPECT_EQ(StateOf(e.id()), kiln::v1::JOB_STATE_CANCELLED);
}

TEST_F(SchedulerDependenciesTest, DependencyAlreadyFinishedAtSubmitIsResolvedAtOnce) {
  Register("w1");
  const kiln::v1::Job done = Submit(MeshSpec());
  RunToSuccess(done.id(), {Blob("part.stl", "part")});
  const kiln::v1::Job failed = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> run = Acquire("w1");
  ASSERT_TRUE(run.has_value());
  ASSERT_TRUE(FailPermanently(*run).ok());

  const kiln::v1::Job ready = Submit(After(MeshSpec(), done.id()));
  EXPECT_EQ(ready.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_THAT(InputNames(ready), ElementsAre("part.stl"));
  const kiln::v1::Job blocked = Submit(After(MeshSpec(), failed.id()));
  EXPECT_EQ(blocked.state(), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(blocked.status_message(), HasSubstr(failed.id()));
  // A dependent of the cancelled one in the same batch follows it.
  auto batch = SubmitBatch({After(MeshSpec(), failed.id()), AfterIndex(MeshSpec(), 0)});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)[1].job().state(), kiln::v1::JOB_STATE_CANCELLED);
  const kiln::v1::Job anyway = Submit(After(MeshSpec(), failed.id(), /*run_on_failure=*/true));
  EXPECT_EQ(anyway.state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST_F(SchedulerDependenciesTest, UnknownIdsCyclesAndDuplicatesAreRefusedAndNothingIsStored) {
  const kiln::v1::Job a = Submit(MeshSpec());
  const uint64_t submitted = scheduler_->Stats().jobs_submitted;
  auto unknown = SubmitBatch({MeshSpec(), After(MeshSpec(), "j-00000000000000ff")});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("specs[1].dependencies[0].job_id"));

  auto forward = SubmitBatch({AfterIndex(MeshSpec(), 1), AfterIndex(MeshSpec(), 0)});
  EXPECT_EQ(forward.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(forward.status().message(), HasSubstr("specs[0].dependencies[0].batch_index"));
  auto self = SubmitBatch({MeshSpec(), AfterIndex(MeshSpec(), 1)});
  EXPECT_EQ(self.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(self.status().message(), HasSubstr("specs[1].dependencies[0].batch_index"));

  auto twice = SubmitBatch({After(After(MeshSpec(), a.id()), a.id())});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.status().message(), HasSubstr("specs[0].dependencies[1]"));

  kiln::v1::JobSpec malformed = MeshSpec();
  malformed.add_dependencies()->set_job_id("not-a-job");
  auto bad_id = SubmitBatch({malformed});
  EXPECT_EQ(bad_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_id.status().message(), HasSubstr("specs[0].dependencies[0].job_id"));
  kiln::v1::JobSpec empty = MeshSpec();
  empty.add_dependencies();
  EXPECT_THAT(SubmitBatch({empty}).status().message(), HasSubstr("specs[0].dependencies[0]"));
  kiln::v1::JobSpec too_many = MeshSpec();
  for (int i = 0; i < 65; ++i) too_many.add_dependencies()->set_job_id(a.id());
  EXPECT_THAT(SubmitBatch({too_many}).status().message(),
              HasSubstr("specs[0].dependencies: more than the limit of 64"));

  // No refused batch left a job behind, in memory or in the store.
  EXPECT_EQ(scheduler_->Stats().jobs_submitted, submitted);
  EXPECT_EQ(scheduler_->Stats().waiting, 0u);
  Open();
  EXPECT_EQ(scheduler_->ListJobs({})->jobs_size(), 1);
  EXPECT_TRUE(Get(a.id()).dependent_ids().empty());
}

TEST_F(SchedulerDependenciesTest, RestartInTheMiddleOfAPipelineKeepsWaitingJobsWaiting) {
  Register("w1");
  auto results = SubmitBatch({MeshSpec(), AfterIndex(MeshSpec(), 0), AfterIndex(MeshSpec(), 1),
                              AfterIndex(AfterIndex(MeshSpec(), 0), 2)});
  ASSERT_TRUE(results.ok()) << results.status();
  std::vector<std::string> ids;
  for (const auto& r : *results) ids.push_back(r.job().id());

  Open();  // before anything ran
  Register("w1");
  EXPECT_EQ(scheduler_->Stats().waiting, 3u);
  RunToSuccess(ids[0], {Blob("a.glb", "a")});
  EXPECT_EQ(StateOf(ids[1]), kiln::v1::JOB_STATE_QUEUED);

  Open();  // one stage done, the next one queued, two still waiting
  Register("w1");
  EXPECT_EQ(StateOf(ids[1]), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(ids[2]), kiln::v1::JOB_STATE_WAITING);
  EXPECT_EQ(StateOf(ids[3]), kiln::v1::JOB_STATE_WAITING);
  EXPECT_EQ(scheduler_->Stats().waiting, 2u);
  EXPECT_THAT(InputNames(Get(ids[1])), ElementsAre("a.glb"));
  RunToSuccess(ids[1], {Blob("b.glb", "b")});
  EXPECT_EQ(StateOf(ids[2]), kiln::v1::JOB_STATE_QUEUED);
  Open();
  Register("w1");
  RunToSuccess(ids[2], {Blob("c.glb", "c")});
  EXPECT_EQ(StateOf(ids[3]), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_THAT(InputNames(Get(ids[3])), ElementsAre("a.glb", "c.glb"));
  RunToSuccess(ids[3]);
  EXPECT_EQ(scheduler_->Stats().waiting, 0u);
}

TEST_F(SchedulerDependenciesTest, RecoverySettlesWaitingJobsWhoseDependenciesFinishedInTheStore) {
  const kiln::v1::BlobRef mesh = Blob("mesh.glb", "mesh");
  const kiln::v1::Job a = Submit(MeshSpec());
  const kiln::v1::Job b = Submit(After(MeshSpec(), a.id()));
  const kiln::v1::Job c = Submit(MeshSpec());
  const kiln::v1::Job d = Submit(After(MeshSpec(), c.id()));
  scheduler_.reset();
  // A store written by something else: A succeeded and C failed, yet B and D still wait.
  kiln::v1::Job a_done = a;
  a_done.set_state(kiln::v1::JOB_STATE_SUCCEEDED);
  *a_done.add_outputs() = mesh;
  kiln::v1::Job c_failed = c;
  c_failed.set_state(kiln::v1::JOB_STATE_FAILED);
  store::WriteSet writes;
  writes.PutJob(a_done);
  writes.UnmarkQueued(a.id());
  writes.PutJob(c_failed);
  writes.UnmarkQueued(c.id());
  ASSERT_TRUE(store_->Write(writes).ok());

  Open();
  EXPECT_EQ(StateOf(b.id()), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_THAT(InputNames(Get(b.id())), ElementsAre("mesh.glb"));
  EXPECT_EQ(StateOf(d.id()), kiln::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(scheduler_->Stats().waiting, 0u);
  Open();  // and that settling was stored
  EXPECT_EQ(StateOf(b.id()), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(d.id()), kiln::v1::JOB_STATE_CANCELLED);
}

TEST_F(SchedulerDependenciesTest, ClashingInputNamesFailTheJobWhenItWouldBeQueued) {
  Register("w1");
  const kiln::v1::Job a = Submit(MeshSpec());
  const kiln::v1::Job b = Submit(MeshSpec());
  const kiln::v1::Job join = Submit(After(After(MeshSpec(), a.id()), b.id()));
  RunToSuccess(a.id(), {Blob("mesh.glb", "a")});
  RunToSuccess(b.id(), {Blob("mesh.glb", "b")});
  const kiln::v1::Job failed = Get(join.id());
  EXPECT_EQ(failed.state(), kiln::v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.status_message(), HasSubstr("\"mesh.glb\""));
  EXPECT_THAT(failed.status_message(), HasSubstr("input_prefix"));
}

TEST_F(SchedulerDependenciesTest, ChildrenAreFencedIdempotentAndCancelledWithTheirParent) {
  Register("w1", /*slots=*/2);
  const kiln::v1::Job parent = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> running = Acquire("w1", 0);
  ASSERT_TRUE(running.has_value());

  // Three children and a final job that depends on all of them.
  std::vector<kiln::v1::JobSpec> specs = {MeshSpec(), MeshSpec(), MeshSpec(),
                                          AfterIndex(AfterIndex(AfterIndex(MeshSpec(), 0), 1), 2)};
  auto children = SubmitChildren(*running, "segment-1", specs);
  ASSERT_TRUE(children.ok()) << children.status();
  ASSERT_EQ(children->results_size(), 4);
  std::vector<std::string> ids;
  for (const auto& r : children->results()) {
    EXPECT_FALSE(r.deduplicated());
    EXPECT_EQ(r.job().parent_job_id(), parent.id());
    ids.push_back(r.job().id());
  }
  EXPECT_EQ(children->results(3).job().state(), kiln::v1::JOB_STATE_WAITING);
  EXPECT_THAT(Get(parent.id()).child_job_ids(), ElementsAre(ids[0], ids[1], ids[2], ids[3]));

  // A retried call gets the same children, not new ones.
  auto retried = SubmitChildren(*running, "segment-1", specs);
  ASSERT_TRUE(retried.ok()) << retried.status();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(retried->results(i).deduplicated());
    EXPECT_EQ(retried->results(i).job().id(), ids[i]);
  }
  EXPECT_EQ(Get(parent.id()).child_job_ids_size(), 4);

  // Fencing: another worker, or another attempt, may not submit children.
  kiln::v1::Assignment stale = *running;
  stale.set_attempt(2);
  EXPECT_EQ(SubmitChildren(stale, "x", {MeshSpec()}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SubmitChildren(*running, "x", {MeshSpec()}, "w2").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SubmitChildren(*running, "bad call id", {MeshSpec()}).status().code(),
            absl::StatusCode::kInvalidArgument);

  // One child runs (slot 1), one succeeded; then the parent is cancelled.
  std::optional<kiln::v1::Assignment> child = Acquire("w1", 1);
  ASSERT_TRUE(child.has_value());
  ASSERT_TRUE(Complete(*child).ok());
  std::optional<kiln::v1::Assignment> child2 = Acquire("w1", 1);
  ASSERT_TRUE(child2.has_value());
  ASSERT_TRUE(Cancel(parent.id()).ok());
  int cancelled = 0;
  for (const std::string& id : ids) {
    const kiln::v1::Job job = Get(id);
    if (id == child->job().id()) {
      EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
      continue;
    }
    EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_CANCELLED) << id;
    cancelled += job.state() == kiln::v1::JOB_STATE_CANCELLED;
  }
  EXPECT_EQ(cancelled, 3);
  EXPECT_THAT(Get(child2->job().id()).status_message(), HasSubstr(parent.id()));
  // The cancelled child's worker is told at its next report.
  EXPECT_FALSE(Complete(*child2).ok());
  // Once the parent is over, no more children.
  EXPECT_EQ(SubmitChildren(*running, "late", {MeshSpec()}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerDependenciesTest, GrandchildrenAreCancelledTransitivelyAlsoAfterRestart) {
  Register("w1", /*slots=*/2);
  const kiln::v1::Job root = Submit(MeshSpec());
  std::optional<kiln::v1::Assignment> root_run = Acquire("w1", 0);
  ASSERT_TRUE(root_run.has_value());
  auto child = SubmitChildren(*root_run, "c", {MeshSpec()});
  ASSERT_TRUE(child.ok()) << child.status();
  std::optional<kiln::v1::Assignment> child_run = Acquire("w1", 1);
  ASSERT_TRUE(child_run.has_value());
  auto grandchild = SubmitChildren(*child_run, "g", {MeshSpec(), AfterIndex(MeshSpec(), 0)});
  ASSERT_TRUE(grandchild.ok()) << grandchild.status();

  Open();  // the children index is rebuilt from the stored parent ids
  ASSERT_TRUE(Cancel(root.id()).ok());
  EXPECT_EQ(StateOf(child->results(0).job().id()), kiln::v1::JOB_STATE_CANCELLED);
  for (const auto& r : grandchild->results()) {
    EXPECT_EQ(StateOf(r.job().id()), kiln::v1::JOB_STATE_CANCELLED);
  }
}

}  // namespace
}  // namespace kiln::core
