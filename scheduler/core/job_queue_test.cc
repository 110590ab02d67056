#include "scheduler/core/job_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "common/capability_match.h"

namespace kiln::core {
namespace {

kiln::v1::JobSpec Spec(const std::string& task, int priority,
                       kiln::v1::Accelerator accelerator = kiln::v1::ACCELERATOR_ANY) {
  kiln::v1::JobSpec spec;
  spec.set_task(task);
  spec.set_priority(priority);
  spec.mutable_requirements()->set_accelerator(accelerator);
  return spec;
}

JobQueue::Rank Any() {
  return [](const kiln::v1::JobSpec&) { return std::optional<int64_t>(0); };
}

TEST(JobQueueTest, HigherPriorityFirstThenOlder) {
  JobQueue queue;
  queue.Push(Spec("mesh.extract", 0), 1, "a");
  queue.Push(Spec("mesh.extract", 5), 2, "b");
  queue.Push(Spec("mesh.extract", 0), 3, "c");
  queue.Push(Spec("debug.sleep", 5), 0, "d");  // another class, same priority, older
  EXPECT_EQ(queue.class_count(), 2u);
  EXPECT_EQ(queue.PopBest(Any()), "d");
  EXPECT_EQ(queue.PopBest(Any()), "b");
  EXPECT_EQ(queue.PopBest(Any()), "a");
  EXPECT_EQ(queue.PopBest(Any()), "c");
  EXPECT_EQ(queue.PopBest(Any()), std::nullopt);
  EXPECT_EQ(queue.class_count(), 0u);
}

TEST(JobQueueTest, OnlyFittingClassesAreConsidered) {
  JobQueue queue;
  queue.Push(Spec("mesh.extract", 9, kiln::v1::ACCELERATOR_GPU), 1, "gpu-job");
  queue.Push(Spec("mesh.extract", 0, kiln::v1::ACCELERATOR_CPU), 2, "cpu-job");
  int asked = 0;
  JobQueue::Rank cpu_only = [&](const kiln::v1::JobSpec& spec) -> std::optional<int64_t> {
    ++asked;
    if (spec.requirements().accelerator() == kiln::v1::ACCELERATOR_GPU) return std::nullopt;
    return 0;
  };
  EXPECT_EQ(queue.PopBest(cpu_only), "cpu-job");
  EXPECT_EQ(asked, 2);  // one question per class, not per job
  EXPECT_EQ(queue.PopBest(cpu_only), std::nullopt);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(JobQueueTest, RankBreaksPriorityTiesBeforeAge) {
  JobQueue queue;
  kiln::v1::JobSpec generic = Spec("mesh.extract", 0);
  kiln::v1::JobSpec blackwell = Spec("mesh.extract", 0);
  blackwell.mutable_requirements()->add_architectures("sm_120");
  queue.Push(generic, 1, "generic-old");
  queue.Push(blackwell, 2, "blackwell-new");
  queue.Push(Spec("mesh.extract", 3), 3, "urgent");
  // More specific work ranks first (as placement ranks it for a Blackwell slot).
  JobQueue::Rank specific_first = [](const kiln::v1::JobSpec& spec) -> std::optional<int64_t> {
    return spec.requirements().architectures().empty() ? 0 : -120;
  };
  EXPECT_EQ(queue.PopBest(specific_first), "urgent");  // priority still wins
  EXPECT_EQ(queue.PopBest(specific_first), "blackwell-new");
  EXPECT_EQ(queue.PopBest(specific_first), "generic-old");
}

TEST(JobQueueTest, RemoveAndDuplicatePush) {
  JobQueue queue;
  queue.Push(Spec("mesh.extract", 0), 1, "a");
  queue.Push(Spec("mesh.extract", 0), 1, "a");
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_TRUE(queue.Remove("a"));
  EXPECT_FALSE(queue.Remove("a"));
  EXPECT_EQ(queue.class_count(), 0u);
}

// A Fairness with usage and blocked tenants set by the test.
}  // namespace
}  // namespace kiln::core

namespace kiln::core {
namespace {

TEST(JobQueueTest, OldestJobOfLooksAcrossPriorities) {
  JobQueue queue;
  EXPECT_EQ(queue.OldestJobOf("nope"), nullptr);
  queue.Push(Spec("mesh.extract", 9), 7, "new-urgent");
  queue.Push(Spec("mesh.extract", 0), 3, "old-plain");
  queue.Push(Spec("mesh.extract", 5), 5, "mid");
  queue.Push(Spec("mesh.extract", 0), 4, "newer-plain");
  std::string key;
  queue.ForEachClass([&](const std::string& k, const kiln::v1::JobSpec&, size_t) { key = k; });
  ASSERT_EQ(queue.class_count(), 1u);
  ASSERT_NE(queue.OldestJobOf(key), nullptr);
  EXPECT_EQ(*queue.OldestJobOf(key), "old-plain");
  EXPECT_TRUE(queue.Remove("old-plain"));
  EXPECT_EQ(*queue.OldestJobOf(key), "newer-plain");
  EXPECT_TRUE(queue.Remove("newer-plain"));
  EXPECT_EQ(*queue.OldestJobOf(key), "mid");
}

// A Fairness with usage and blocked tenants set by the test.
class TestFairness : public JobQueue::Fairness {
 public:
  double Usage(const std::string& tenant) const override {
    auto it = usage.find(tenant);
    return it == usage.end() ? 0 : it->second;
  }
  bool Blocked(const JobQueue::Share& share) const override {
    if (blocked_tenants.contains(share.tenant)) return true;
    for (const auto& label : share.limited_labels) {
      if (blocked_labels.contains(label.first + "=" + label.second)) return true;
    }
    return false;
  }
  std::map<std::string, double> usage;
  std::set<std::string> blocked_tenants;
  std::set<std::string> blocked_labels;
};

TEST(JobQueueTest, FairnessPicksTheTenantFurthestBelowItsShareThenPriorityWithin) {
  JobQueue queue;
  queue.Push(Spec("mesh.extract", 9), 1, "a-urgent", {"a", {}});
  queue.Push(Spec("mesh.extract", 0), 2, "b-old", {"b", {}});
  queue.Push(Spec("mesh.extract", 5), 3, "b-mid", {"b", {}});
  TestFairness fairness;
  fairness.usage = {{"a", 2.0}, {"b", 1.0}};
  // b is below a: its best job (priority first within b) goes, whatever a's priority.
  EXPECT_EQ(queue.BestPick(Any(), &fairness)->tenant, "b");
  EXPECT_EQ(queue.BestPick(Any(), &fairness)->priority, 5);
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "b-mid");
  // Equal usage: the tenant whose best job is oldest.
  fairness.usage = {{"a", 1.0}, {"b", 1.0}};
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "a-urgent");
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "b-old");
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), std::nullopt);
}

TEST(JobQueueTest, BlockedClassesAreSkippedAndOnlyNarrowsToATenant) {
  JobQueue queue;
  queue.Push(Spec("mesh.extract", 0), 1, "a-1", {"a", {}});
  queue.Push(Spec("mesh.extract", 0), 2, "a-licensed", {"a", {{"license", "houdini"}}});
  queue.Push(Spec("mesh.extract", 0), 3, "b-1", {"b", {}});
  EXPECT_EQ(queue.class_count(), 3u);  // tenant and limited label values split classes
  TestFairness fairness;
  fairness.blocked_tenants = {"a"};
  EXPECT_EQ(queue.PopBest(Any(), JobQueue::Pick{"a", 0}, &fairness), std::nullopt);
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "b-1");
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), std::nullopt);
  fairness.blocked_tenants.clear();
  fairness.blocked_labels = {"license=houdini"};
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "a-1");
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), std::nullopt);
  fairness.blocked_labels.clear();
  EXPECT_EQ(queue.PopBest(Any(), std::nullopt, &fairness), "a-licensed");
}

TEST(JobQueueTest, ClassKeysKeepTenantsAndLabelValuesApart) {
  const kiln::v1::JobSpec spec = Spec("mesh.extract", 0);
  EXPECT_EQ(JobQueue::ClassKey(spec, {}), RequirementClassKey(spec));
  EXPECT_NE(JobQueue::ClassKey(spec, {"a", {}}), JobQueue::ClassKey(spec, {"b", {}}));
  // A value cannot pose as a second label.
  EXPECT_NE(JobQueue::ClassKey(spec, {"a", {{"k", std::string("v\0l=x=1:y", 10)}}}),
            JobQueue::ClassKey(spec, {"a", {{"k", "v"}, {"x", "y"}}}));
}

}  // namespace
}  // namespace kiln::core
