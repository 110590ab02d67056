#include <algorithm>
#include <memory>

#include "common/task_catalog.h"
#include "gtest/gtest.h"
#include "worker/tasks/debug_sleep_task.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {
namespace {

TEST(TaskRegistryTest, BuiltinRunsEveryTaskTheCatalogKnows) {
  const TaskRegistry& registry = TaskRegistry::Builtin();
  // Tasks that need kiln-exec's model repository or OpenCASCADE are registered by kiln-exec
  // itself.
  const std::vector<std::string> outside_builtin = {"cad.build", "field.decode", "model.run"};
  std::vector<std::string> builtin_known;
  for (const std::string& kind : KnownTasks()) {
    if (std::find(outside_builtin.begin(), outside_builtin.end(), kind) == outside_builtin.end()) {
      builtin_known.push_back(kind);
    }
  }
  EXPECT_EQ(registry.Kinds(), builtin_known);
  for (const std::string& kind : builtin_known) {
    const Task* task = registry.Find(kind);
    ASSERT_NE(task, nullptr) << kind;
    EXPECT_EQ(task->kind(), kind);
  }
  EXPECT_EQ(registry.Find("mesh.render"), nullptr);
}

TEST(TaskRegistryTest, AddReplacesTheSameKind) {
  TaskRegistry registry;
  registry.Add(std::make_unique<DebugSleepTask>());
  auto second = std::make_unique<DebugSleepTask>();
  const Task* expected = second.get();
  registry.Add(std::move(second));
  EXPECT_EQ(registry.Kinds(), std::vector<std::string>{"debug.sleep"});
  EXPECT_EQ(registry.Find("debug.sleep"), expected);
}

}  // namespace
}  // namespace kiln::tasks
