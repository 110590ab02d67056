#include <algorithm>
#include <memory>

#include "worker/render/render_preview_task.h"
#include "worker/tasks/debug_sleep_task.h"
#include "worker/tasks/image_segment/image_segment_task.h"
#include "worker/tasks/image_to3d/image_to3d_task.h"
#include "worker/tasks/mesh_extract_task.h"
#include "worker/tasks/meshio/mesh_convert_task.h"
#include "worker/tasks/scene_compose/scene_compose_task.h"
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
  // Without STEP; an executor with OpenCASCADE replaces it with one that has the hooks.
  r->Add(std::make_unique<MeshConvertTask>());
  r->Add(std::make_unique<ImageTo3dTask>());
  r->Add(std::make_unique<ImageSegmentTask>());
  r->Add(std::make_unique<SceneComposeTask>());
  // On the CPU; a GPU slot's executor replaces it with one on its device (exec_main.cc).
  r->Add(std::make_unique<render::RenderPreviewTask>());
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
