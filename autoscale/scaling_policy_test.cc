#include "autoscale/scaling_policy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::autoscale {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ScalingPolicy Policy(int min, int max) {
  ScalingPolicy p;
  p.min_workers = min;
  p.max_workers = max;
  p.jobs_per_worker = 1;
  p.scale_up_polls = 2;
  p.scale_down_polls = 3;
  p.max_step = 4;
  return p;
}

WorkerJob Running(const std::string& id) { return WorkerJob{id, false, false}; }
WorkerJob Busy(const std::string& id) { return WorkerJob{id, false, true}; }
WorkerJob Pending(const std::string& id) { return WorkerJob{id, true, false}; }

// Feeds `demands` poll after poll to a pool whose jobs do not change; returns the
// decisions.
std::vector<Decision> Simulate(const ScalingPolicy& policy, const std::vector<int64_t>& demands,
                               const std::vector<WorkerJob>& jobs = {}) {
  std::vector<Decision> out;
  PoolMemory memory;
  for (int64_t demand : demands) {
    out.push_back(DecideScaling(policy, demand, jobs, memory));
    memory = out.back().memory;
  }
  return out;
}

TEST(ScalingPolicyTest, ValidatesEveryField) {
  EXPECT_TRUE(ValidateScalingPolicy(Policy(0, 1)).ok());
  ScalingPolicy p = Policy(3, 2);
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("max_workers"));
  p = Policy(-1, 2);
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("min_workers"));
  p = Policy(0, 0);
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("max_workers"));
  p = Policy(0, 2);
  p.jobs_per_worker = 0;
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("jobs_per_worker"));
  p = Policy(0, 2);
  p.scale_up_polls = 0;
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("scale_up_polls"));
  p = Policy(0, 2);
  p.scale_down_polls = 0;
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("scale_down_polls"));
  p = Policy(0, 2);
  p.max_step = 0;
  EXPECT_THAT(std::string(ValidateScalingPolicy(p).message()), HasSubstr("max_step"));
}

TEST(ScalingPolicyTest, NewerJobIdComparesNumerically) {
  EXPECT_TRUE(NewerJobId("10", "9"));
  EXPECT_FALSE(NewerJobId("9", "10"));
  EXPECT_TRUE(NewerJobId("124", "123"));
  EXPECT_FALSE(NewerJobId("123", "123"));
}

TEST(ScalingPolicyTest, DemandMustPersistBeforeScalingUp) {
  const std::vector<Decision> d = Simulate(Policy(0, 5), {3, 3}, {});
  EXPECT_EQ(d[0].submit, 0);  // one poll of demand is not enough
  EXPECT_EQ(d[1].submit, 3);  // the second is
  EXPECT_THAT(d[1].why, HasSubstr("3 queued"));
}

TEST(ScalingPolicyTest, ABlipOfDemandDoesNotScaleUp) {
  const std::vector<Decision> d = Simulate(Policy(0, 5), {3, 0, 3, 0, 3}, {});
  for (const Decision& decision : d) EXPECT_EQ(decision.submit, 0);
}

TEST(ScalingPolicyTest, ScaleUpIsBoundedByMaxWorkersAndMaxStep) {
  ScalingPolicy p = Policy(0, 10);
  p.max_step = 4;
  EXPECT_EQ(Simulate(p, {100, 100}, {}).back().submit, 4);  // max_step
  p.max_step = 100;
  EXPECT_EQ(Simulate(p, {100, 100}, {Running("1"), Running("2")}).back().submit, 8);  // room to max
  EXPECT_EQ(Simulate(p, {100, 100}, std::vector<WorkerJob>(10, Running("1"))).back().submit, 0);
}

TEST(ScalingPolicyTest, PendingJobsCountAsComingCapacity) {
  const ScalingPolicy p = Policy(0, 10);
  // Three queued jobs, two workers already waiting in Slurm's queue: one more.
  EXPECT_EQ(Simulate(p, {3, 3}, {Pending("7"), Pending("8")}).back().submit, 1);
  // Enough pending: none.
  EXPECT_EQ(Simulate(p, {2, 2}, {Pending("7"), Pending("8"), Running("6")}).back().submit, 0);
}

TEST(ScalingPolicyTest, JobsPerWorkerRoundsUp) {
  ScalingPolicy p = Policy(0, 10);
  p.jobs_per_worker = 4;
  EXPECT_EQ(Simulate(p, {9, 9}).back().submit, 3);
  EXPECT_EQ(Simulate(p, {8, 8}).back().submit, 2);
  EXPECT_EQ(Simulate(p, {1, 1}).back().submit, 1);
}

TEST(ScalingPolicyTest, AfterAScaleUpItWaitsTheHysteresisAgain) {
  const std::vector<Decision> d = Simulate(Policy(0, 10), {1, 1, 1, 1, 1}, {});
  std::vector<int> submits;
  for (const Decision& decision : d) submits.push_back(decision.submit);
  // Jobs never change here, so each round asks again, but only every second poll.
  EXPECT_THAT(submits, ElementsAre(0, 1, 0, 1, 0));
}

TEST(ScalingPolicyTest, EmptyQueueMustPersistBeforeScalingDown) {
  const std::vector<WorkerJob> jobs = {Running("5"), Running("6")};
  const std::vector<Decision> d = Simulate(Policy(0, 5), {0, 0, 0}, jobs);
  EXPECT_THAT(d[0].cancel, IsEmpty());
  EXPECT_THAT(d[1].cancel, IsEmpty());
  EXPECT_THAT(d[2].cancel, ElementsAre("6", "5"));  // newest first
  EXPECT_THAT(d[2].why, HasSubstr("no queued job"));
}

TEST(ScalingPolicyTest, DemandInBetweenResetsTheIdleCount) {
  const std::vector<WorkerJob> jobs = {Running("5")};
  const std::vector<Decision> d = Simulate(Policy(0, 5), {0, 0, 2, 0, 0}, jobs);
  for (const Decision& decision : d) EXPECT_THAT(decision.cancel, IsEmpty());
}

TEST(ScalingPolicyTest, ScaleDownStopsAtMinWorkersAndCancelsNewestFirst) {
  const std::vector<WorkerJob> jobs = {Running("100"), Pending("102"), Running("99"),
                                       Running("101")};
  const Decision d = Simulate(Policy(2, 5), {0, 0, 0}, jobs).back();
  EXPECT_THAT(d.cancel, ElementsAre("102", "101"));
}

TEST(ScalingPolicyTest, ScaleDownIsBoundedByMaxStep) {
  ScalingPolicy p = Policy(0, 10);
  p.max_step = 2;
  const std::vector<WorkerJob> jobs = {Running("1"), Running("2"), Running("3")};
  EXPECT_THAT(Simulate(p, {0, 0, 0}, jobs).back().cancel, ElementsAre("3", "2"));
}

TEST(ScalingPolicyTest, ScaleDownCancelsOnlyIdleWorkers) {
  const std::vector<WorkerJob> jobs = {Busy("9"), Running("7"), Busy("8")};
  const Decision d = Simulate(Policy(0, 5), {0, 0, 0}, jobs).back();
  EXPECT_THAT(d.cancel, ElementsAre("7"));
}

TEST(ScalingPolicyTest, BusyWorkersAreCancelledOnceIdle) {
  ScalingPolicy p = Policy(0, 5);
  PoolMemory m;
  Decision d;
  for (int i = 0; i < 3; ++i) {
    d = DecideScaling(p, 0, {Busy("4")}, m);
    m = d.memory;
    EXPECT_THAT(d.cancel, IsEmpty());
    EXPECT_TRUE(d.why.empty());
  }
  // The idle streak is still reached: the next poll that finds it idle cancels it.
  d = DecideScaling(p, 0, {Running("4")}, m);
  EXPECT_THAT(d.cancel, ElementsAre("4"));
}

TEST(ScalingPolicyTest, AboveMaxCancelsIdleBeforeBusy) {
  const Decision d = DecideScaling(
      Policy(0, 1), 0, {Busy("10"), Running("5"), Pending("11"), Busy("9")}, PoolMemory{});
  EXPECT_THAT(d.cancel, ElementsAre("11", "5", "10"));
}

TEST(ScalingPolicyTest, NoScaleDownAtMinWorkers) {
  const std::vector<Decision> d = Simulate(Policy(1, 5), {0, 0, 0, 0, 0, 0}, {Running("4")});
  for (const Decision& decision : d) EXPECT_THAT(decision.cancel, IsEmpty());
}

TEST(ScalingPolicyTest, BelowMinWorkersSubmitsAtOnceWithoutDemand) {
  const Decision d = DecideScaling(Policy(3, 5), 0, {Running("1")}, PoolMemory{});
  EXPECT_EQ(d.submit, 2);
  EXPECT_THAT(d.why, HasSubstr("min_workers"));
}

TEST(ScalingPolicyTest, AboveMaxWorkersCancelsTheNewestAtOnce) {
  const Decision d =
      DecideScaling(Policy(0, 2), 50, {Running("8"), Running("10"), Running("9")}, PoolMemory{});
  EXPECT_EQ(d.submit, 0);
  EXPECT_THAT(d.cancel, ElementsAre("10"));
  EXPECT_THAT(d.why, HasSubstr("max_workers"));
}

TEST(ScalingPolicyTest, MemoryCountsStreaks) {
  PoolMemory m;
  m = DecideScaling(Policy(0, 5), 0, {}, m).memory;
  m = DecideScaling(Policy(0, 5), 0, {}, m).memory;
  EXPECT_EQ(m.idle_polls, 2);
  EXPECT_EQ(m.demand_polls, 0);
  m = DecideScaling(Policy(0, 5), 1,
                    {Running("1"), Running("2"), Running("3"), Running("4"), Running("5")}, m)
          .memory;
  EXPECT_EQ(m.idle_polls, 0);
  EXPECT_EQ(m.demand_polls, 1);
}

TEST(ScalingPolicyTest, FullScaleUpThenDownCycle) {
  // A pool of 0..1 worker with the test's hysteresis: demand appears, the worker is
  // submitted, starts, the queue empties, the worker is cancelled.
  ScalingPolicy p = Policy(0, 1);
  p.scale_up_polls = 1;
  p.scale_down_polls = 2;
  PoolMemory m;
  Decision d = DecideScaling(p, 1, {}, m);
  EXPECT_EQ(d.submit, 1);
  d = DecideScaling(p, 1, {Pending("42")}, d.memory);
  EXPECT_EQ(d.submit, 0);  // at max
  d = DecideScaling(p, 0, {Running("42")}, d.memory);
  EXPECT_THAT(d.cancel, IsEmpty());
  d = DecideScaling(p, 0, {Running("42")}, d.memory);
  EXPECT_THAT(d.cancel, ElementsAre("42"));
  d = DecideScaling(p, 0, {}, d.memory);
  EXPECT_EQ(d.submit, 0);
  EXPECT_THAT(d.cancel, IsEmpty());
}

}  // namespace
}  // namespace kiln::autoscale
