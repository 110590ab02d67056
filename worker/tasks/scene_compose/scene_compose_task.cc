#include "worker/tasks/scene_compose/scene_compose_task.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/meshio/mesh_format.h"
#include "worker/tasks/meshio/mesh_io.h"
#include "worker/tasks/scene_compose/scene_layout.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {
namespace {

// Reads the mesh of objects[index], naming the object and its input in every error.
absl::StatusOr<Mesh> ReadObjectMesh(const kiln::v1::RunTaskRequest& request,
                                    const SceneObjectParams& object, int index) {
  const std::string field = absl::StrCat("objects[", index, "].input");
  KILN_ASSIGN_OR_RETURN(const std::string path, FindJobInputPath(request, object.input, field));
  absl::StatusOr<MeshFormat> format = FormatFromPath(object.input);
  if (!format.ok() || *format == MeshFormat::kStep) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters.", field, ": cannot read \"", object.input,
        "\" as a mesh: scene.compose reads inputs named *.obj, *.ply, *.stl or *.glb"));
  }
  absl::StatusOr<Mesh> mesh = ReadMesh(path, *format);
  if (!mesh.ok()) {
    return absl::Status(mesh.status().code(), absl::StrCat("input \"", object.input, "\" (", field,
                                                           "): ", mesh.status().message()));
  }
  if (mesh->triangles.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input \"", object.input, "\" (", field, "): the mesh has no triangles"));
  }
  return mesh;
}

// All nodes' meshes in scene coordinates, merged (for the preview). Colours are kept
// when every node has them; normals are left to the renderer.
Mesh PlacedScene(const SceneComposeParams& params, const std::vector<SceneNode>& nodes) {
  Mesh scene;
  bool colors = true;
  for (const SceneNode& node : nodes) colors = colors && !node.mesh.colors.empty();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Mesh& mesh = nodes[i].mesh;
    const uint32_t base = static_cast<uint32_t>(scene.positions.size());
    for (const auto& p : mesh.positions) {
      const std::array<double, 3> w = ApplySceneTransform(params.objects[i], {p[0], p[1], p[2]});
      scene.positions.push_back(
          {static_cast<float>(w[0]), static_cast<float>(w[1]), static_cast<float>(w[2])});
    }
    if (colors) scene.colors.insert(scene.colors.end(), mesh.colors.begin(), mesh.colors.end());
    for (const auto& t : mesh.triangles) {
      scene.triangles.push_back({t[0] + base, t[1] + base, t[2] + base});
    }
  }
  return scene;
}

}  // namespace

std::array<double, 3> ApplySceneTransform(const SceneObjectParams& object,
                                          const std::array<double, 3>& p) {
  const double sx = p[0] * object.scale[0], sy = p[1] * object.scale[1],
               sz = p[2] * object.scale[2];
  const auto& [qx, qy, qz, qw] = object.rotation;
  // v' = v + 2 w (q x v) + 2 q x (q x v), q the vector part.
  const double tx = 2 * (qy * sz - qz * sy), ty = 2 * (qz * sx - qx * sz),
               tz = 2 * (qx * sy - qy * sx);
  return {sx + qw * tx + (qy * tz - qz * ty) + object.translation[0],
          sy + qw * ty + (qz * tx - qx * tz) + object.translation[1],
          sz + qw * tz + (qx * ty - qy * tx) + object.translation[2]};
}

absl::StatusOr<TaskOutput> SceneComposeTask::Run(const TaskContext& context) const {
  const absl::Time start = absl::Now();
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(SceneComposeParams params, ParseSceneComposeParams(request.parameters()));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  // Objects with a segment get their place from image.segment's objects.json.
  KILN_RETURN_IF_ERROR(ResolveSceneLayout(request, params));

  std::vector<SceneNode> nodes(params.objects.size());
  int64_t vertices = 0, faces = 0;
  std::array<double, 3> lo, hi;
  lo.fill(std::numeric_limits<double>::infinity());
  hi.fill(-std::numeric_limits<double>::infinity());
  try {
    // One read per distinct input; later placements copy the first one's mesh.
    std::map<std::string, size_t> first_use;
    for (size_t i = 0; i < params.objects.size(); ++i) {
      const SceneObjectParams& object = params.objects[i];
      report(0.8 * i / params.objects.size(), absl::StrCat("reading ", object.input));
      SceneNode& node = nodes[i];
      if (auto it = first_use.find(object.input); it != first_use.end()) {
        node.mesh = nodes[it->second].mesh;
      } else {
        KILN_ASSIGN_OR_RETURN(node.mesh, ReadObjectMesh(request, object, static_cast<int>(i)));
        first_use.emplace(object.input, i);
      }
      faces += static_cast<int64_t>(node.mesh.triangles.size());
      vertices += static_cast<int64_t>(node.mesh.positions.size());
      if (faces > kMaxSceneTriangles) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters.objects: the scene holds more than ", kMaxSceneTriangles,
                         " triangles (reached at objects[", i, "], input \"", object.input, "\")"));
      }
      node.name = object.name;
      node.translation = object.translation;
      node.rotation = object.rotation;
      node.scale = object.scale;
      for (const auto& p : node.mesh.positions) {
        const std::array<double, 3> w = ApplySceneTransform(object, {p[0], p[1], p[2]});
        for (int a = 0; a < 3; ++a) {
          lo[a] = std::min(lo[a], w[a]);
          hi[a] = std::max(hi[a], w[a]);
        }
      }
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while reading the scene's meshes");
  }

  report(0.8, absl::StrCat("writing ", params.output));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));
  const std::string path = (dir / params.output).string();
  KILN_RETURN_IF_ERROR(WriteGlbScene(nodes, path));

  TaskOutput output;
  AddOutputFile(params.output, path, &output);
  auto& fields = *output.summary.mutable_fields();
  fields["nodes"].set_number_value(static_cast<double>(nodes.size()));
  fields["vertices"].set_number_value(static_cast<double>(vertices));
  fields["faces"].set_number_value(static_cast<double>(faces));
  fields["bbox_min"] = NumberList(lo);
  fields["bbox_max"] = NumberList(hi);
  if (params.preview.has_value()) {
    report(0.9, "rendering the preview");
    KILN_RETURN_IF_ERROR(render::AddPreviewOutputs(*params.preview, PlacedScene(params, nodes),
                                                   dir.string(), /*cuda_device=*/-1, &output));
  }
  fields["seconds"].set_number_value(absl::ToDoubleSeconds(absl::Now() - start));
  report(1.0, absl::StrCat(nodes.size(), " nodes, ", faces, " faces"));
  return output;
}

}  // namespace kiln::tasks
