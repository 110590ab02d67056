// Weighted fair share and concurrency limits in the Scheduler (FairShare, JobQueue,
// scheduler_sharing.cc): a real RocksDB in a temp dir, a FakeClock, no ticker; workers are
// simulated in-process through the Scheduler API (acquire, complete).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/scheduler_test_util.h"

namespace kiln::core {
namespace {

using ::testing::HasSubstr;
using testing::Result;
using testing::StatusResult;

kiln::v1::JobSpec MeshSpec(int priority = 0,
                           const std::map<std::string, std::string>& labels = {}) {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  spec.set_max_attempts(1);
  spec.set_priority(priority);
  for (const auto& [key, value] : labels) (*spec.mutable_labels())[key] = value;
  google::protobuf::util::JsonStringToMessage(
      R"({"shape":{"type":"sphere","radius":1},"resolution":16})", spec.mutable_parameters());
  return spec;
}

SharingPolicy Policy(const std::string& json) {
  absl::StatusOr<SharingPolicy> policy = SharingPolicy::Parse(json, "test policy");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : SharingPolicy();
}

class SchedulerSharingTest : public ::testing::Test {
 protected:
  // (Re)opens store and scheduler on the same directory: a restart. `sync` off only
  // where a test makes thousands of writes and durability is not what it checks.
  void Open(const SharingPolicy& policy, bool sync = true) {
    SchedulerOptions options;
    options.clock = &clock_;
    options.run_ticker = false;
    options.sharing = policy;
    testing::OpenOnDisk({.path = dir_.Sub("db"), .sync = sync}, options, store_, committer_,
                        scheduler_);
  }

  void Register(const std::string& worker, int slots) {
    Result<kiln::v1::RegisterWorkerResponse> result;
    scheduler_->RegisterWorker(testing::CpuWorker(worker, slots), result.callback());
    ASSERT_TRUE(result.Get().ok()) << result.Get().status();
  }

  // Submits `specs` as `tenant` in one batch; returns the job ids.
  std::vector<std::string> Submit(const std::string& tenant, std::vector<kiln::v1::JobSpec> specs) {
    Result<std::vector<kiln::v1::SubmitJobResponse>> result;
    scheduler_->Submit(std::move(specs), /*batch=*/true, SubmitOrigin{tenant, true},
                       result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    std::vector<std::string> ids;
    if (result.Get().ok()) {
      for (const auto& response : *result.Get()) ids.push_back(response.job().id());
    }
    return ids;
  }

  std::vector<std::string> SubmitMany(const std::string& tenant, int count, int priority = 0) {
    std::vector<kiln::v1::JobSpec> specs(count, MeshSpec(priority));
    return Submit(tenant, std::move(specs));
  }

  std::optional<kiln::v1::Assignment> Acquire(const std::string& worker, int slot) {
    kiln::v1::AcquireJobRequest request;
    request.set_worker_id(worker);
    request.set_slot(slot);
    Result<kiln::v1::AcquireJobResponse> result;
    scheduler_->AcquireJob(request, result.callback());
    EXPECT_TRUE(result.Get().ok()) << result.Get().status();
    if (!result.Get().ok() || !result.Get()->has_assignment()) return std::nullopt;
    return result.Get()->assignment();
  }

  absl::Status Complete(const kiln::v1::Assignment& assignment) {
    kiln::v1::CompleteJobRequest request;
    request.set_worker_id(assignment.job().attempts().rbegin()->worker_id());
    request.set_job_id(assignment.job().id());
    request.set_attempt(assignment.attempt());
    StatusResult result;
    scheduler_->CompleteJob(request, result.callback());
    return result.Get();
  }

  std::string StatusOf(const std::string& job_id) {
    absl::StatusOr<kiln::v1::Job> job = scheduler_->GetJob(job_id);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->status_message() : "";
  }

  kiln::testing::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerSharingTest, TenantLimitHoldsJobsBackUntilOneEnds) {
  Open(Policy(R"({"tenants": [{"tenant": "team-a", "max_running": 2}]})"));
  Register("w1", 6);
  const std::vector<std::string> a = SubmitMany("team-a", 4);
  SubmitMany("team-b", 2);
  std::map<std::string, int> running;
  std::vector<kiln::v1::Assignment> team_a;
  for (int slot = 0; slot < 4; ++slot) {
    std::optional<kiln::v1::Assignment> got = Acquire("w1", slot);
    ASSERT_TRUE(got.has_value()) << "slot " << slot;
    ++running[got->job().tenant()];
    if (got->job().tenant() == "team-a") team_a.push_back(*got);
  }
  EXPECT_EQ(running["team-a"], 2);
  EXPECT_EQ(running["team-b"], 2);
  // Two slots are free and team-a has two queued jobs, but it is at its limit.
  EXPECT_FALSE(Acquire("w1", 4).has_value());
  EXPECT_EQ(scheduler_->RunningByTenant(),
            (std::map<std::string, int64_t>{{"team-a", 2}, {"team-b", 2}}));
  EXPECT_THAT(StatusOf(a[3]), HasSubstr("tenant team-a at its limit of 2 running jobs"));
  // The queue's classes (dashboard, metrics) say so too, per tenant.
  const std::vector<QueueClassInfo> classes = scheduler_->QueueClasses();
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0].tenant, "team-a");
  EXPECT_EQ(classes[0].jobs, 2u);
  EXPECT_THAT(classes[0].reason, HasSubstr("tenant team-a at its limit"));

  ASSERT_TRUE(Complete(team_a[0]).ok());
  std::optional<kiln::v1::Assignment> next = Acquire("w1", 4);
  ASSERT_TRUE(next.has_value()) << "the limit was not released when a job ended";
  EXPECT_EQ(next->job().tenant(), "team-a");
  EXPECT_FALSE(Acquire("w1", 5).has_value());
}

TEST_F(SchedulerSharingTest, ReleasedLimitReachesAParkedLongPoll) {
  Open(Policy(R"({"tenants": [{"tenant": "team-a", "max_running": 1}]})"));
  Register("w1", 2);
  const std::vector<std::string> a = SubmitMany("team-a", 2);
  std::optional<kiln::v1::Assignment> first = Acquire("w1", 0);
  ASSERT_TRUE(first.has_value());
  // Slot 1 long-polls: team-a is at its limit, so it parks.
  kiln::v1::AcquireJobRequest request;
  request.set_worker_id("w1");
  request.set_slot(1);
  request.mutable_wait()->set_seconds(30);
  Result<kiln::v1::AcquireJobResponse> parked;
  scheduler_->AcquireJob(request, parked.callback());
  EXPECT_FALSE(parked.ready());
  ASSERT_TRUE(Complete(*first).ok());
  scheduler_->Tick();  // dispatches to parked slots once a lease ended
  ASSERT_TRUE(parked.Get().ok()) << parked.Get().status();
  ASSERT_TRUE(parked.Get()->has_assignment()) << "the parked slot got nothing";
  EXPECT_EQ(parked.Get()->assignment().job().id(), a[1]);
}

TEST_F(SchedulerSharingTest, LabelLimitSpansTenantsAndOthersStillRun) {
  Open(Policy(R"({"label_limits": [{"key": "license", "value": "houdini", "max_running": 1}]})"));
  Register("w1", 4);
  const std::vector<std::string> a = Submit(
      "team-a", {MeshSpec(0, {{"license", "houdini"}}), MeshSpec(0, {{"license", "houdini"}})});
  const std::vector<std::string> b =
      Submit("team-b", {MeshSpec(0, {{"license", "houdini"}}), MeshSpec(0, {{"license", "maya"}})});
  int houdini = 0, other = 0;
  for (int slot = 0; slot < 3; ++slot) {
    std::optional<kiln::v1::Assignment> got = Acquire("w1", slot);
    if (!got.has_value()) continue;
    (got->job().spec().labels().at("license") == "houdini" ? houdini : other)++;
  }
  EXPECT_EQ(houdini, 1);
  EXPECT_EQ(other, 1);
  EXPECT_FALSE(Acquire("w1", 3).has_value());
  int held = 0;
  for (const std::string& id : {a[0], a[1], b[0]}) {
    if (absl::StrContains(StatusOf(id), "label license=houdini at its limit of 1 running job")) {
      ++held;
    }
  }
  EXPECT_EQ(held, 2);
}

TEST_F(SchedulerSharingTest, PriorityOrdersJobsOnlyWithinATenant) {
  Open(SharingPolicy());
  Register("w1", 6);
  // team-a's jobs all outrank team-b's, yet the tenants take turns; within team-a the
  // urgent job goes first although it was submitted last.
  const std::vector<std::string> a = Submit("team-a", {MeshSpec(5), MeshSpec(5), MeshSpec(9)});
  const std::vector<std::string> b = SubmitMany("team-b", 3, /*priority=*/0);
  std::vector<std::string> order;
  for (int slot = 0; slot < 6; ++slot) {
    std::optional<kiln::v1::Assignment> got = Acquire("w1", slot);
    ASSERT_TRUE(got.has_value());
    order.push_back(got->job().id());
  }
  EXPECT_EQ(order, (std::vector<std::string>{a[2], b[0], a[0], b[1], a[1], b[2]}));
}

TEST_F(SchedulerSharingTest, PolicyReloadAppliesNewLimitsToQueuedJobs) {
  Open(SharingPolicy());
  Register("w1", 4);
  const std::vector<std::string> a = Submit(
      "team-a",
      {MeshSpec(0, {{"pool", "x"}}), MeshSpec(0, {{"pool", "x"}}), MeshSpec(0, {{"pool", "x"}})});
  ASSERT_TRUE(Acquire("w1", 0).has_value());
  // The label had no limit when the jobs were queued: the reload must re-queue them.
  scheduler_->SetSharingPolicy(
      Policy(R"({"label_limits": [{"key": "pool", "value": "x", "max_running": 1}]})"));
  EXPECT_FALSE(Acquire("w1", 1).has_value());
  EXPECT_THAT(StatusOf(a[1]), HasSubstr("label pool=x at its limit of 1 running job"));
  scheduler_->SetSharingPolicy(
      Policy(R"({"label_limits": [{"key": "pool", "value": "x", "max_running": 2}]})"));
  EXPECT_TRUE(Acquire("w1", 1).has_value());
  EXPECT_FALSE(Acquire("w1", 2).has_value());
  scheduler_->SetSharingPolicy(SharingPolicy());
  EXPECT_TRUE(Acquire("w1", 2).has_value());
}

TEST_F(SchedulerSharingTest, RunningCountsAreRebuiltAfterARestart) {
  const SharingPolicy policy = Policy(R"({"tenants": [{"tenant": "team-a", "max_running": 1}]})");
  Open(policy);
  Register("w1", 2);
  const std::vector<std::string> a = SubmitMany("team-a", 2);
  std::optional<kiln::v1::Assignment> first = Acquire("w1", 0);
  ASSERT_TRUE(first.has_value());
  Open(policy);  // restart: the leased job still counts against the limit
  EXPECT_FALSE(Acquire("w1", 1).has_value());
  EXPECT_EQ(scheduler_->RunningByTenant(), (std::map<std::string, int64_t>{{"team-a", 1}}));
  ASSERT_TRUE(Complete(*first).ok());
  EXPECT_TRUE(Acquire("w1", 1).has_value());
}

// The fleet simulation: `slots` slots over two workers run jobs of deterministic
// pseudo-random length (1..9 s of fake time); every second, jobs that are due complete
// and every free slot asks for work, as workers do. Each second is one sample of the
// running jobs per tenant, taken while every tenant still has queued work.
struct FleetRun {
  std::map<std::string, double> mean_share;       // of all running jobs
  std::map<std::string, int64_t> max_running;     // the most a tenant ever ran at once
  std::map<std::string, int> longest_starvation;  // samples in a row at 0 running with work queued
  int samples = 0;
};

class FleetSimulation : public SchedulerSharingTest {
 protected:
  FleetRun Run(const std::vector<std::string>& tenants, int jobs_per_tenant, int slots) {
    for (const std::string& tenant : tenants) {
      // Submitted in batches of 100 (one durable write each), interleaved between tenants.
      for (int done = 0; done < jobs_per_tenant; done += 100) {
        SubmitMany(tenant, std::min(100, jobs_per_tenant - done));
      }
    }
    std::map<std::string, int> queued;
    for (const std::string& tenant : tenants) queued[tenant] = jobs_per_tenant;
    struct Running {
      kiln::v1::Assignment assignment;
      absl::Time ends;
    };
    std::vector<std::optional<Running>> slot_job(slots);
    uint64_t rng = 12345;  // deterministic: the same run every time
    auto next_length = [&rng] {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      return absl::Seconds(1 + static_cast<int>((rng >> 33) % 9));
    };
    FleetRun run;
    std::map<std::string, double> share_sum;
    std::map<std::string, int> streak;
    for (int second = 0; second < 100000; ++second) {
      const absl::Time now = clock_.Now();
      for (int s = 0; s < slots; ++s) {
        if (slot_job[s].has_value() && slot_job[s]->ends <= now) {
          EXPECT_TRUE(Complete(slot_job[s]->assignment).ok());
          slot_job[s].reset();
        }
      }
      for (int s = 0; s < slots; ++s) {
        if (slot_job[s].has_value()) continue;
        std::optional<kiln::v1::Assignment> got = Acquire(s % 2 == 0 ? "w1" : "w2", s / 2);
        if (!got.has_value()) continue;
        --queued[got->job().tenant()];
        slot_job[s] = Running{*got, now + next_length()};
      }
      // Sample only while every tenant still has queued work (the contended phase).
      if (std::any_of(queued.begin(), queued.end(), [](const auto& q) { return q.second == 0; })) {
        break;
      }
      std::map<std::string, int64_t> running;
      int64_t total = 0;
      for (const auto& job : slot_job) {
        if (!job.has_value()) continue;
        ++running[job->assignment.job().tenant()];
        ++total;
      }
      // The scheduler's own counts agree with what the workers hold.
      EXPECT_EQ(scheduler_->RunningByTenant(), running) << "second " << second;
      if (total == 0) break;
      ++run.samples;
      for (const std::string& tenant : tenants) {
        share_sum[tenant] += static_cast<double>(running[tenant]) / static_cast<double>(total);
        run.max_running[tenant] = std::max(run.max_running[tenant], running[tenant]);
        streak[tenant] = running[tenant] == 0 ? streak[tenant] + 1 : 0;
        run.longest_starvation[tenant] = std::max(run.longest_starvation[tenant], streak[tenant]);
      }
      clock_.Advance(absl::Seconds(1));
    }
    for (const std::string& tenant : tenants) {
      run.mean_share[tenant] = run.samples == 0 ? 0 : share_sum[tenant] / run.samples;
    }
    return run;
  }
};

TEST_F(FleetSimulation, RunningSharesFollowWeights121) {
  // Thousands of writes: sync WAL off here (durability is covered by the other tests).
  Open(Policy(R"({"tenants": [{"tenant": "t1", "weight": 1}, {"tenant": "t2", "weight": 2},
                              {"tenant": "t3", "weight": 1}]})"),
       /*sync=*/false);
  Register("w1", 4);
  Register("w2", 4);
  const FleetRun run = Run({"t1", "t2", "t3"}, 300, 8);
  std::printf("fair share over %d samples: t1 %.2f%%  t2 %.2f%%  t3 %.2f%%\n", run.samples,
              100 * run.mean_share.at("t1"), 100 * run.mean_share.at("t2"),
              100 * run.mean_share.at("t3"));
  std::printf("longest stretch at 0 running with work queued (samples): t1 %d  t2 %d  t3 %d\n",
              run.longest_starvation.at("t1"), run.longest_starvation.at("t2"),
              run.longest_starvation.at("t3"));
  ASSERT_GE(run.samples, 100);  // many samples across the contended phase
  const std::map<std::string, double> expected = {{"t1", 0.25}, {"t2", 0.50}, {"t3", 0.25}};
  for (const auto& [tenant, want] : expected) {
    EXPECT_NEAR(run.mean_share.at(tenant), want, 0.1 * want) << tenant;
    // No tenant sits at 0 running while it has queued work for more than a moment.
    EXPECT_LE(run.longest_starvation.at(tenant), 1) << tenant;
  }
}

TEST_F(FleetSimulation, TenantAtItsLimitStaysThereAndOthersTakeTheRest) {
  Open(Policy(R"({"tenants": [{"tenant": "t1", "max_running": 2}, {"tenant": "t2"}]})"),
       /*sync=*/false);
  Register("w1", 4);
  Register("w2", 4);
  const FleetRun run = Run({"t1", "t2"}, 200, 8);
  ASSERT_GE(run.samples, 50);
  // Equal weights would give t1 half the fleet; its limit keeps it at 2 of 8.
  EXPECT_EQ(run.max_running.at("t1"), 2);
  EXPECT_NEAR(run.mean_share.at("t1"), 0.25, 0.025);
  EXPECT_NEAR(run.mean_share.at("t2"), 0.75, 0.075);
  EXPECT_LE(run.longest_starvation.at("t1"), 1);
}

}  // namespace
}  // namespace kiln::core
