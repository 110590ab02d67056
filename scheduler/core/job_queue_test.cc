#include "scheduler/core/job_queue.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kiln::core
