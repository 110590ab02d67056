// scene.compose: reads several meshes from the job's inputs and writes one GLB scene
// with one node per object, each placed by its translation, rotation and scale (see
// common/scene_compose_params.h for the parameters). An input placed several times is
// read once. The task object is stateless and immutable; Run may be called from any
// thread, one call per task run.
#ifndef KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_COMPOSE_TASK_H_
#define KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_COMPOSE_TASK_H_

#include <array>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/scene_compose_params.h"
#include "worker/tasks/mesh.h"
#include "worker/tasks/task.h"

namespace kiln::tasks {

// `p` scaled, then rotated by the unit quaternion (x, y, z, w), then translated: the
// glTF node transform of `object`. Exposed for tests.
std::array<double, 3> ApplySceneTransform(const SceneObjectParams& object,
                                          const std::array<double, 3>& p);

class SceneComposeTask : public Task {
 public:
  std::string_view kind() const override { return kSceneComposeTask; }
  // Outputs the GLB; summary: nodes, vertices and faces (totals over the nodes),
  // bbox_min and bbox_max of the placed scene, seconds.
  absl::StatusOr<TaskOutput> Run(const TaskContext& context) const override;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_SCENE_COMPOSE_SCENE_COMPOSE_TASK_H_
