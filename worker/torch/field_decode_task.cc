#include "worker/torch/field_decode_task.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <new>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "models/model_tier.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/tasks/task_outputs.h"
#include "worker/torch/field_decoder.h"
#include "worker/torch/npy_writer.h"

namespace kiln::torchrt {
namespace {

using tasks::NumberList;

constexpr char kMeshFile[] = "mesh.ply";
constexpr char kVolumeFile[] = "field.npy";

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The field's gradient at p: central differences at the 8 samples around p (one-sided
// at the border), interpolated trilinearly. Points from inside to outside.
std::array<double, 3> GridGradient(const std::vector<float>& field, const tasks::GridSpec& grid,
                                   const std::array<double, 3>& p) {
  const int64_t sx = grid.cells[0] + 1, sy = grid.cells[1] + 1;
  const auto at = [&](int i, int j, int k) { return field[i + sx * (j + sy * int64_t{k})]; };
  std::array<int, 3> base;
  std::array<double, 3> t;
  for (int a = 0; a < 3; ++a) {
    const double u = (p[a] - grid.origin[a]) / grid.spacing[a];
    base[a] = std::clamp(static_cast<int>(std::floor(u)), 0, grid.cells[a] - 1);
    t[a] = std::clamp(u - base[a], 0.0, 1.0);
  }
  std::array<double, 3> g{0, 0, 0};
  for (int corner = 0; corner < 8; ++corner) {
    std::array<int, 3> c = {base[0] + (corner & 1), base[1] + ((corner >> 1) & 1),
                            base[2] + ((corner >> 2) & 1)};
    double weight = 1;
    for (int a = 0; a < 3; ++a) weight *= ((corner >> a) & 1) ? t[a] : 1 - t[a];
    for (int a = 0; a < 3; ++a) {
      std::array<int, 3> lo = c, hi = c;
      lo[a] = std::max(c[a] - 1, 0);
      hi[a] = std::min(c[a] + 1, grid.cells[a]);
      const double d =
          (at(hi[0], hi[1], hi[2]) - at(lo[0], lo[1], lo[2])) / ((hi[a] - lo[a]) * grid.spacing[a]);
      g[a] += weight * d;
    }
  }
  return g;
}

std::string FieldKindName(kiln::v1::FieldKind kind) {
  return kind == kiln::v1::FIELD_KIND_OCCUPANCY ? "occupancy" : "sdf";
}

}  // namespace

tasks::GridSpec FieldGrid(const Aabb& b, int resolution) {
  double longest = 0;
  for (int a = 0; a < 3; ++a) longest = std::max(longest, b.max[a] - b.min[a]);
  const double cell = longest / resolution;
  tasks::GridSpec grid;
  for (int a = 0; a < 3; ++a) {
    const double extent = b.max[a] - b.min[a];
    // The epsilon keeps an axis that is an exact multiple of the cell from growing.
    grid.cells[a] = std::max(1, static_cast<int>(std::ceil(extent / cell - 1e-9)));
    grid.cells[a] = std::min(grid.cells[a], resolution);
    grid.spacing[a] = cell;
    grid.origin[a] = (b.min[a] + b.max[a]) / 2 - grid.cells[a] * cell / 2;
  }
  return grid;
}

FieldDecodeTask::FieldDecodeTask(const FieldDecodeTaskOptions& options)
    : options_(options),
      gpu_(options.device.device.is_cuda() && GpuFieldPipeline::Built()
               ? std::make_unique<GpuFieldPipeline>()
               : nullptr) {}

absl::StatusOr<tasks::TaskOutput> FieldDecodeTask::Run(const tasks::TaskContext& context) const {
  // The task boundary for LibTorch: nothing it throws gets past here.
  try {
    return RunUnguarded(context);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("field.decode: out of host memory");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    return absl::InternalError(
        absl::StrCat("field.decode: LibTorch: ", what.substr(0, what.find('\n'))));
  }
}

absl::StatusOr<tasks::TaskOutput> FieldDecodeTask::RunUnguarded(
    const tasks::TaskContext& context) const {
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  if (options_.repository == nullptr || options_.cache == nullptr) {
    return absl::FailedPreconditionError("field.decode: no model repository or cache");
  }
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(const FieldDecodeParams params,
                        ParseFieldDecodeParams(request.parameters(), options_.limits));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  if (request.model().empty()) {
    return absl::InvalidArgumentError("model: field.decode needs a model (JobSpec.model)");
  }
  KILN_ASSIGN_OR_RETURN(const models::ModelEntry* entry,
                        options_.repository->Find(request.model()));
  const kiln::v1::ModelManifest& manifest = entry->manifest;
  const std::string key = entry->Key();
  if (manifest.runtime() != kiln::v1::MODEL_RUNTIME_TORCHSCRIPT ||
      std::find(manifest.tasks().begin(), manifest.tasks().end(), kFieldDecodeTask) ==
          manifest.tasks().end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", key, " is not a field model: field.decode needs runtime torchscript and \"",
        "field.decode\" in the manifest's tasks"));
  }
  const TorchDevice& device = options_.device;
  if (!device.unavailable_reason.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "LibTorch cannot run on ", device.device.str(), ": ", device.unavailable_reason));
  }
  KILN_ASSIGN_OR_RETURN(const models::ModelTierChoice tier,
                        models::SelectModelTier(manifest, device.description));
  const std::string dtype_name = params.dtype ? *params.dtype : tier.dtype;
  KILN_ASSIGN_OR_RETURN(const torch::ScalarType dtype, ParseTorchDtype(dtype_name));

  Aabb bounds;
  if (params.bounds) {
    bounds = *params.bounds;
  } else {
    for (int a = 0; a < 3; ++a) {
      bounds.min[a] = manifest.field().bounds(a);
      bounds.max[a] = manifest.field().bounds(a + 3);
    }
  }
  const bool occupancy = manifest.field().kind() == kiln::v1::FIELD_KIND_OCCUPANCY;
  double iso = manifest.field().iso();
  if (occupancy && iso == 0) iso = 0.5;
  if (params.iso) iso = *params.iso;
  const tasks::GridSpec grid = FieldGrid(bounds, params.resolution);
  const int64_t points = GridSampleCount(grid);

  report(0, absl::StrCat("loading ", key, " on ", device.device.str(), " as ", dtype_name));
  const auto load_start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(const ModelCache::Acquired acquired,
                        options_.cache->Acquire(*entry, dtype));
  const double load_seconds = acquired.hit ? 0.0 : SecondsSince(load_start);

  // Decoding is most of a volume job; marching cubes takes a good share of a mesh job.
  const bool mesh_output = params.output == FieldDecodeOutput::kMesh;
  const double decode_share = mesh_output ? 0.7 : 0.9;
  const int64_t batches = (points + params.batch_size - 1) / params.batch_size;
  FieldDecodeOptions decode_options;
  decode_options.batch_size = params.batch_size;
  decode_options.progress = [&](double fraction) {
    report(decode_share * fraction,
           absl::StrFormat("decoding: batch %d of %d",
                           static_cast<int64_t>(std::llround(fraction * batches)), batches));
  };
  tasks::TaskOutput output;
  auto& fields = *output.summary.mutable_fields();
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, tasks::AbsoluteOutputDir(request));

  // On a GPU: field and mesh stay on the device until the mesh (or volume) is done.
  std::optional<GpuFieldResult> gpu;
  if (gpu_ != nullptr) {
    GpuFieldJob job;
    job.model = acquired.model.get();
    for (int a = 0; a < 3; ++a) {
      job.bounds[a] = bounds.min[a];
      job.bounds[a + 3] = bounds.max[a];
    }
    job.grid = grid;
    job.occupancy = occupancy;
    job.iso = iso;
    job.extract_mesh = mesh_output;
    job.normals = params.normals;
    job.batch_size = params.batch_size;
    job.progress = [&](double fraction) {
      report(decode_share * fraction, absl::StrFormat("decoding: %.0f%%", 100 * fraction));
    };
    KILN_ASSIGN_OR_RETURN(gpu, gpu_->Run(job));
    fields["decoder"].set_string_value(gpu->decoder);
    if (!gpu->not_fused_reason.empty()) {
      fields["not_fused_reason"].set_string_value(gpu->not_fused_reason);
    }
    fields["download_seconds"].set_number_value(gpu->download_seconds);
  }

  const auto decode_start = std::chrono::steady_clock::now();
  std::vector<float> field;
  if (gpu.has_value()) {
    field = std::move(gpu->field);  // Empty for a mesh: it never left the device.
  } else {
    KILN_ASSIGN_OR_RETURN(field, DecodeFieldToHost(*acquired.model, grid, decode_options));
  }
  const double decode_seconds = gpu.has_value() ? gpu->decode_seconds : SecondsSince(decode_start);
  double value_min = 0, value_max = 0;  // Before any negation below.
  if (gpu.has_value()) {
    value_min = gpu->value_min;
    value_max = gpu->value_max;
  } else {
    const auto [min_it, max_it] = std::minmax_element(field.begin(), field.end());
    value_min = *min_it;
    value_max = *max_it;
  }

  const auto extract_start = std::chrono::steady_clock::now();
  // Writes the mesh as PLY and records it and its statistics.
  auto write_mesh = [&](const tasks::Mesh& mesh) -> absl::Status {
    const tasks::MeshStats stats = tasks::ComputeMeshStats(mesh);
    report(0.95, absl::StrCat("writing ", kMeshFile));
    const std::string path = (dir / kMeshFile).string();
    KILN_RETURN_IF_ERROR(tasks::WritePly(mesh, path));
    tasks::AddOutputFile(kMeshFile, path, &output);
    fields["vertices"].set_number_value(static_cast<double>(stats.vertices));
    fields["faces"].set_number_value(static_cast<double>(stats.faces));
    fields["components"].set_number_value(static_cast<double>(stats.components));
    fields["watertight"].set_bool_value(stats.watertight);
    if (params.preview.has_value()) {
      report(0.97, "rendering the preview");
      // The slot's GPU (the executor sees it as device 0) when LibTorch runs on one.
      const torch::Device& torch_device = options_.device.device;
      const int cuda_device = torch_device.is_cuda() ? std::max<int>(0, torch_device.index()) : -1;
      KILN_RETURN_IF_ERROR(
          render::AddPreviewOutputs(*params.preview, mesh, dir.string(), cuda_device, &output));
    }
    report(1.0, absl::StrCat(stats.vertices, " vertices, ", stats.faces, " faces"));
    return absl::OkStatus();
  };
  if (mesh_output && gpu.has_value()) {
    report(decode_share, "marching cubes on the GPU");
    KILN_RETURN_IF_ERROR(write_mesh(gpu->mesh));
    fields["write_seconds"].set_number_value(SecondsSince(extract_start));
  } else if (mesh_output) {
    // Marching cubes takes inside as value < iso; an occupancy field is inside above it.
    if (occupancy) {
      for (float& v : field) v = -v;
    }
    // Host marching cubes over the host copy of the field (CPU slots).
    const int64_t slice = int64_t{grid.cells[0] + 1} * (grid.cells[1] + 1);
    tasks::MarchingCubesOptions mc;
    mc.iso = occupancy ? -iso : iso;
    if (params.normals) {
      mc.gradient = [&](const std::array<double, 3>& p) { return GridGradient(field, grid, p); };
    }
    mc.progress = [&](int done, int total) {
      report(decode_share + (0.95 - decode_share) * done / total,
             absl::StrFormat("marching cubes: slab %d of %d", done, total));
    };
    KILN_ASSIGN_OR_RETURN(const tasks::Mesh mesh, tasks::ExtractIsosurface(
                                                      grid,
                                                      [&](int k, std::span<float> values) {
                                                        std::copy_n(field.begin() + k * slice,
                                                                    values.size(), values.begin());
                                                      },
                                                      mc));
    KILN_RETURN_IF_ERROR(write_mesh(mesh));
  } else {
    report(decode_share, absl::StrCat("writing ", kVolumeFile));
    const std::vector<int64_t> shape = {grid.cells[2] + 1, grid.cells[1] + 1, grid.cells[0] + 1};
    const std::string path = (dir / kVolumeFile).string();
    KILN_RETURN_IF_ERROR(WriteNpyFloat32(path, shape, field));
    tasks::AddOutputFile(kVolumeFile, path, &output);
    fields["shape"] = NumberList(shape);
    report(1.0, absl::StrCat(points, " samples"));
  }
  const double extract_seconds =
      gpu.has_value() ? gpu->extract_seconds : SecondsSince(extract_start);

  fields["model"].set_string_value(key);
  fields["device"].set_string_value(device.device.str());
  fields["dtype"].set_string_value(dtype_name);
  fields["tier"].set_string_value(params.dtype ? "parameters" : tier.name);
  fields["field_kind"].set_string_value(FieldKindName(manifest.field().kind()));
  fields["iso"].set_number_value(iso);
  fields["resolution"].set_number_value(params.resolution);
  fields["grid"] = NumberList(grid.cells);
  fields["origin"] = NumberList(grid.origin);
  fields["cell_size"].set_number_value(grid.spacing[0]);
  fields["bounds_min"] = NumberList(bounds.min);
  fields["bounds_max"] = NumberList(bounds.max);
  fields["batch_size"].set_number_value(static_cast<double>(params.batch_size));
  fields["points"].set_number_value(static_cast<double>(points));
  fields["cache_hit"].set_bool_value(acquired.hit);
  fields["load_seconds"].set_number_value(load_seconds);
  fields["decode_seconds"].set_number_value(decode_seconds);
  fields["points_per_second"].set_number_value(
      decode_seconds > 0 ? static_cast<double>(points) / decode_seconds : 0);
  fields["extract_seconds"].set_number_value(extract_seconds);
  fields["value_min"].set_number_value(value_min);
  fields["value_max"].set_number_value(value_max);
  return output;
}

}  // namespace kiln::torchrt
