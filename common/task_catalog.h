// The task kinds the farm knows and how their parameters are validated, without any
// execution: the scheduler links this to reject bad jobs at submit time, and the
// executor's tasks use the same parsers so both sides agree on what a job means.
// Pure functions of their arguments; any thread may call them.
#ifndef KILN_COMMON_TASK_CATALOG_H_
#define KILN_COMMON_TASK_CATALOG_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/render_preview_params.h"
#include "common/sdf_scene.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kMeshExtractTask = "mesh.extract";
inline constexpr std::string_view kDebugSleepTask = "debug.sleep";
inline constexpr std::string_view kModelRunTask = "model.run";
inline constexpr std::string_view kFieldDecodeTask = "field.decode";

// Operator-set bounds on what one job may ask for. The scheduler enforces the
// operator's limits at submit; executors check against Ceiling(), the most any
// scheduler may allow, so raising a scheduler's limit needs no executor change.
struct TaskLimits {
  // The hard upper bounds of this build.
  static TaskLimits Ceiling() {
    return TaskLimits{.max_mesh_resolution = 1024, .max_sleep_seconds = 86400};
  }

  // Largest mesh.extract resolution (cells along the longest axis).
  int max_mesh_resolution = 512;
  // Longest debug.sleep.
  double max_sleep_seconds = 3600;
};

bool IsKnownTask(std::string_view task);
// Sorted.
std::vector<std::string> KnownTasks();

// OK when `parameters` are valid for `task`. Errors are InvalidArgument whose message
// starts with the offending field ("parameters.resolution: ..."); an unknown task gives
// "task: unknown task kind \"x\" (known: ...)".
absl::Status ValidateTaskParameters(std::string_view task,
                                    const google::protobuf::Struct& parameters,
                                    const TaskLimits& limits);

// mesh.extract: marching cubes over the signed distance field `shape`, or over an
// uploaded volume, written as PLY. Exactly one of `shape` and `volume` is required.
//   shape       an SdfScene node, see common/sdf_scene.h
//   volume      a sampled scalar field from one of the job's inputs:
//               {"input": "<input name>", "format": "npy" | "raw",
//                "dims": [sx, sy, sz]     samples per axis, each 2..max_mesh_resolution+1;
//                                         required for raw, checked against the header
//                                         for npy,
//                "origin": [x, y, z]      position of sample (0,0,0) (default [0,0,0]),
//                "spacing": [dx,dy,dz] or a number   distance between samples (default 1)}
//               npy: float32 '<f4', C order, shape [sz, sy, sx] (x fastest, as
//               field.decode's field.npy). raw: sx*sy*sz little-endian float32, x fastest,
//               nothing else in the file. resolution and bounds do not apply.
//   resolution  cells along the longest axis of the bounds, integer 8..max (default 64)
//   bounds      {"min":[x,y,z], "max":[x,y,z]}; default: the shape's bounding box padded
//               by 5% of its extent (plus iso when positive) and 2 cells on each side
//   iso         the level set to extract (default 0); inside is sdf < iso
//   output      file name, [A-Za-z0-9._-]{1,128} ending in ".ply" (default "mesh.ply")
//   normals     write per-vertex normals (default true)
//   preview     true or {frames, size, background, elevation}: also render a turntable,
//               preview.png and preview.gif (common/render_preview_params.h)
inline constexpr int kMinMeshResolution = 8;
inline constexpr int kDefaultMeshResolution = 64;

enum class VolumeFormat { kNpy, kRaw };

// Where mesh.extract's volume comes from and where its samples lie.
struct MeshExtractVolume {
  // The RunTaskRequest input (JobSpec.inputs name) holding the samples.
  std::string input;
  VolumeFormat format = VolumeFormat::kNpy;
  // Samples along x, y, z; required for raw, from the header when absent for npy.
  std::optional<std::array<int, 3>> dims;
  Vec3 origin = {0, 0, 0};
  Vec3 spacing = {1, 1, 1};
};

struct MeshExtractParams {
  // Exactly one of shape and volume is set.
  std::optional<SdfScene> shape;
  std::optional<MeshExtractVolume> volume;
  int resolution = kDefaultMeshResolution;
  // The region to sample: given or derived from the shape (always min < max); shape only.
  Aabb bounds = {};
  double iso = 0;
  std::string output = "mesh.ply";
  bool normals = true;
  // Turntable preview outputs (worker/render/preview_output.h); none when unset.
  std::optional<PreviewParams> preview;
};

// The most samples along one axis of a mesh.extract volume: resolution's cap plus one.
int MaxVolumeSamplesPerAxis(const TaskLimits& limits);

absl::StatusOr<MeshExtractParams> ParseMeshExtractParams(const google::protobuf::Struct& parameters,
                                                         const TaskLimits& limits);

// debug.sleep: sleeps, then succeeds or fails; exercises leases, retries and cancels.
//   seconds       (required) number, 0..max_sleep_seconds
//   fail_message  when set, the task fails with this message after sleeping
//   print         lines to print on stdout, spread over the sleep (0..kMaxDebugSleepLines;
//                 default 0): output for tests and demos of `kilnctl logs`
//   children      before sleeping, submit this many debug.sleep children of the same
//                 `seconds` (fan-out, docs/pipelines.md; 0..kMaxDebugSleepChildren,
//                 default 0): for tests of fan-out and of cancelling a parent
struct DebugSleepParams {
  double seconds = 0;
  std::optional<std::string> fail_message;
  int print = 0;
  int children = 0;
};
inline constexpr int kMaxDebugSleepLines = 1000000;
inline constexpr int kMaxDebugSleepChildren = 16;

absl::StatusOr<DebugSleepParams> ParseDebugSleepParams(const google::protobuf::Struct& parameters,
                                                       const TaskLimits& limits);

// model.run: runs the job's model (runtime exec) as its manifest on the worker says
// (models/exec_runtime.h). The parameters are the model's own: any object, passed to the
// command as a JSON file, at most kMaxModelRunParametersBytes of JSON.
inline constexpr size_t kMaxModelRunParametersBytes = 64 * 1024;

absl::Status ValidateModelRunParams(const google::protobuf::Struct& parameters);

// field.decode: evaluates the job's model (a TorchScript field model of the worker's
// repository whose manifest lists "field.decode"; JobSpec.model names it) on a regular
// grid on the slot's device, in batches, then writes a mesh or the sampled volume.
//   resolution  cells along the longest axis of the bounds, integer 8..max_mesh_resolution
//               (default 64)
//   bounds      {"min":[x,y,z], "max":[x,y,z]}; default: the model's field.bounds
//   batch_size  points per forward() call, integer 1..kMaxFieldDecodeBatchSize
//               (default kDefaultFieldDecodeBatchSize); device memory is bounded by it
//   dtype       "bfloat16", "float16" or "float32"; default: the dtype of the first tier
//               of the model's manifest that the device meets (float32 on a CPU)
//   output      "mesh" (default): marching cubes, written as mesh.ply; or "volume": the
//               samples as field.npy, float32, shape [nz+1, ny+1, nx+1], x fastest
//   iso         the surface level; default: the model's field.iso (0.5 for an occupancy
//               field that sets none). SDF: inside where value < iso; occupancy: > iso
//   normals     mesh only: per-vertex normals from the field's gradient (default true)
//   preview     mesh only: true or {frames, size, background, elevation}: adds
//               preview.png (and preview.gif) of the mesh (common/render_preview_params.h)
inline constexpr int64_t kDefaultFieldDecodeBatchSize = 262144;
inline constexpr int64_t kMaxFieldDecodeBatchSize = int64_t{1} << 24;

enum class FieldDecodeOutput { kMesh, kVolume };

struct FieldDecodeParams {
  int resolution = kDefaultMeshResolution;
  std::optional<Aabb> bounds;
  int64_t batch_size = kDefaultFieldDecodeBatchSize;
  std::optional<std::string> dtype;
  FieldDecodeOutput output = FieldDecodeOutput::kMesh;
  std::optional<double> iso;
  bool normals = true;
  // Mesh only: a turntable preview of the mesh (common/render_preview_params.h).
  std::optional<PreviewParams> preview;
};

absl::StatusOr<FieldDecodeParams> ParseFieldDecodeParams(const google::protobuf::Struct& parameters,
                                                         const TaskLimits& limits);

}  // namespace kiln

#endif  // KILN_COMMON_TASK_CATALOG_H_
