#include <algorithm>
#include <memory>

#include "worker/tasks/debug_sleep_task.h"
#include "worker/tasks/mesh_extract_task.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

const TaskRegistry& TaskRegistry::Builtin() {
  static const TaskRegistry* registry = NewBuiltin().release();
  return *registry;
}

std::unique_ptr<TaskRegistry> TaskRegistry::NewBuiltin() {
  auto r = std::make_unique<TaskRegistry>();
  // The scheduler applies the operator's limits; the executor only the ceiling.
  r->Add(std::make_unique<MeshExtractTask>(TaskLimits::Ceiling()));
  r->Add(std::make_unique<DebugSleepTask>(DebugSleepOptions{.limits = TaskLimits::Ceiling()}));
  return r;
}

void TaskRegistry::Add(std::unique_ptr<Task> task) {
  // A later task of the same kind replaces the earlier one.
  auto same = [&](const std::unique_ptr<Task>& t) { return t->kind() == task->kind(); };
  std::erase_if(tasks_, same);
  tasks_.push_back(std::move(task));
}

const Task* TaskRegistry::Find(std::string_view kind) const {
  for (const auto& t : tasks_) {
    if (t->kind() == kind) return t.get();
  }
  return nullptr;
}

std::vector<std::string> TaskRegistry::Kinds() const {
  std::vector<std::string> kinds;
  for (const auto& t : tasks_) kinds.emplace_back(t->kind());
  std::sort(kinds.begin(), kinds.end());
  return kinds;
}

}  // namespace kiln::tasks
