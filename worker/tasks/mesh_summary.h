// The part of a task's summary that every mesh-writing task reports the same way: the
// mesh's counts, watertightness and bounds. Pure functions; any thread may call them.
#ifndef KILN_WORKER_TASKS_MESH_SUMMARY_H_
#define KILN_WORKER_TASKS_MESH_SUMMARY_H_

#include "google/protobuf/struct.pb.h"
#include "worker/tasks/mesh_stats.h"

namespace kiln::tasks {

// A summary list value of numbers, e.g. a bounding box corner or grid dimensions.
inline google::protobuf::Value NumberList(const auto& values) {
  google::protobuf::Value v;
  for (const auto x : values) {
    v.mutable_list_value()->add_values()->set_number_value(static_cast<double>(x));
  }
  return v;
}

// Sets "vertices", "faces", "components", "watertight", "bbox_min" and "bbox_max".
inline void AddMeshSummary(const MeshStats& stats, google::protobuf::Struct* summary) {
  auto& fields = *summary->mutable_fields();
  fields["vertices"].set_number_value(static_cast<double>(stats.vertices));
  fields["faces"].set_number_value(static_cast<double>(stats.faces));
  fields["components"].set_number_value(static_cast<double>(stats.components));
  fields["watertight"].set_bool_value(stats.watertight);
  fields["bbox_min"] = NumberList(stats.bbox_min);
  fields["bbox_max"] = NumberList(stats.bbox_max);
}

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESH_SUMMARY_H_
