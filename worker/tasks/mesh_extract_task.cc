#include "worker/tasks/mesh_extract_task.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <new>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/render/preview_output.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/marching_cubes_cpu.h"
#include "worker/tasks/marching_cubes_gpu.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {

GridSpec MeshExtractGrid(const MeshExtractParams& params) {
  const Aabb& b = params.bounds;
  double longest = 0;
  for (int a = 0; a < 3; ++a) longest = std::max(longest, b.max[a] - b.min[a]);
  const double cell = longest / params.resolution;
  GridSpec grid;
  for (int a = 0; a < 3; ++a) {
    const double extent = b.max[a] - b.min[a];
    // The epsilon keeps an axis that is an exact multiple of the cell from growing.
    grid.cells[a] = std::max(1, static_cast<int>(std::ceil(extent / cell - 1e-9)));
    grid.cells[a] = std::min(grid.cells[a], params.resolution);
    grid.spacing[a] = cell;
    grid.origin[a] = (b.min[a] + b.max[a]) / 2 - grid.cells[a] * cell / 2;
  }
  return grid;
}

absl::StatusOr<Mesh> ExtractMesh(const MeshExtractParams& params,
                                 const std::function<void(double fraction)>& progress,
                                 int cuda_device) {
  if (!params.shape.has_value()) return absl::InvalidArgumentError("parameters.shape: required");
  const GridSpec grid = MeshExtractGrid(params);
  const SdfScene& shape = *params.shape;
  const int sx = grid.cells[0] + 1;
  SliceSampler sample = [&](int k, std::span<float> values) {
    Vec3 p;
    p[2] = grid.origin[2] + grid.spacing[2] * k;
    for (size_t s = 0; s < values.size(); ++s) {
      p[0] = grid.origin[0] + grid.spacing[0] * static_cast<double>(s % sx);
      p[1] = grid.origin[1] + grid.spacing[1] * static_cast<double>(s / sx);
      values[s] = static_cast<float>(shape.Distance(p));
    }
  };
  MarchingCubesOptions options;
  options.iso = params.iso;
  if (params.normals) {
    // Central differences; a tenth of a cell is well inside the features the grid
    // resolves and far above double rounding.
    const double h = grid.spacing[0] / 10;
    options.gradient = [&shape, h](const std::array<double, 3>& p) {
      std::array<double, 3> g;
      for (int a = 0; a < 3; ++a) {
        Vec3 plus = p, minus = p;
        plus[a] += h;
        minus[a] -= h;
        g[a] = shape.Distance(plus) - shape.Distance(minus);
      }
      return g;
    };
  }
  if (progress) {
    options.progress = [&progress](int done, int total) { progress(double(done) / total); };
  }
  if (cuda_device >= 0) return ExtractIsosurfaceOnGpu(cuda_device, grid, sample, options);
  return ExtractIsosurface(grid, sample, options);
}

absl::StatusOr<Float32Volume> ReadMeshExtractVolume(const MeshExtractVolume& volume,
                                                    const kiln::v1::RunTaskRequest& request,
                                                    const TaskLimits& limits) {
  KILN_ASSIGN_OR_RETURN(const std::string path,
                        FindJobInputPath(request, volume.input, "volume.input"));
  absl::StatusOr<Float32Volume> read;
  if (volume.format == VolumeFormat::kNpy) {
    // The header's shape is checked before the samples are allocated.
    read = ReadNpyFloat32Volume(path, volume.input, MaxVolumeSamplesPerAxis(limits));
  } else if (volume.dims.has_value()) {
    read = ReadRawFloat32Volume(path, volume.input, *volume.dims);
  } else {
    return absl::InvalidArgumentError("parameters.volume.dims: required for a raw volume");
  }
  if (!read.ok()) {
    return absl::Status(read.status().code(), absl::StrCat("volume: ", read.status().message()));
  }
  if (volume.dims.has_value() && read->dims != *volume.dims) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume: ", volume.input, " has dims [", absl::StrJoin(read->dims, ", "),
                     "] (.npy shape reversed), parameters.volume.dims say [",
                     absl::StrJoin(*volume.dims, ", "), "]"));
  }
  for (int d : read->dims) {
    if (d < 2) {
      return absl::InvalidArgumentError(absl::StrCat("volume: ", volume.input, " has dims [",
                                                     absl::StrJoin(read->dims, ", "),
                                                     "]; each axis needs at least 2 samples"));
    }
  }
  return read;
}

GridSpec VolumeGrid(const MeshExtractVolume& volume, const std::array<int, 3>& dims) {
  GridSpec grid;
  for (int a = 0; a < 3; ++a) {
    grid.origin[a] = volume.origin[a];
    grid.spacing[a] = volume.spacing[a];
    grid.cells[a] = dims[a] - 1;
  }
  return grid;
}

absl::StatusOr<Mesh> ExtractMeshFromField(const GridSpec& grid, std::span<const float> field,
                                          double iso, bool normals,
                                          const std::function<void(double fraction)>& progress,
                                          int cuda_device) {
  const size_t samples = static_cast<size_t>(grid.cells[0] + 1) * (grid.cells[1] + 1) *
                         static_cast<size_t>(grid.cells[2] + 1);
  if (field.size() != samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("field: ", field.size(), " samples, the grid needs ", samples));
  }
  if (cuda_device >= 0) {
    // One upload of the whole field; no per-slab progress on this path.
    absl::StatusOr<Mesh> mesh =
        ExtractIsosurfaceFromFieldOnGpu(cuda_device, grid, field, iso, normals);
    if (progress) progress(1.0);
    return mesh;
  }
  MarchingCubesOptions options;
  options.iso = iso;
  if (normals) options.gradient = SampledFieldGradient(grid, field);
  if (progress) {
    options.progress = [&progress](int done, int total) { progress(double(done) / total); };
  }
  return ExtractIsosurface(grid, FieldSliceSampler(grid, field), options);
}

absl::StatusOr<TaskOutput> MeshExtractTask::Run(const TaskContext& context) const {
  const absl::Time start = absl::Now();
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(const MeshExtractParams params,
                        ParseMeshExtractParams(request.parameters(), limits_));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  GridSpec grid;
  const int cuda_device = GpuMarchingCubesBuilt() ? cuda_device_ : -1;

  // Reading, sampling and extraction take about 95% of the time, writing the rest.
  absl::StatusOr<Mesh> mesh;
  try {
    auto slab_progress = [&](double fraction) {
      const int slabs = grid.cells[2];
      report(0.95 * fraction, absl::StrFormat("marching cubes: slab %d of %d",
                                              static_cast<int>(fraction * slabs), slabs));
    };
    if (params.volume.has_value()) {
      report(0, absl::StrCat("reading ", params.volume->input));
      absl::StatusOr<Float32Volume> volume =
          ReadMeshExtractVolume(*params.volume, request, limits_);
      if (!volume.ok()) return volume.status();
      grid = VolumeGrid(*params.volume, volume->dims);
      mesh = ExtractMeshFromField(grid, volume->values, params.iso, params.normals, slab_progress,
                                  cuda_device);
      if (mesh.status().code() == absl::StatusCode::kInvalidArgument) {
        // E.g. a NaN sample: say which file it came from.
        return absl::InvalidArgumentError(
            absl::StrCat("volume: ", params.volume->input, ": ", mesh.status().message()));
      }
    } else {
      grid = MeshExtractGrid(params);
      mesh = ExtractMesh(params, slab_progress, cuda_device);
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while extracting the mesh");
  }
  if (!mesh.ok()) return mesh.status();
  const MeshStats stats = ComputeMeshStats(*mesh);

  report(0.95, absl::StrCat("writing ", params.output));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));
  const std::string path = (dir / params.output).string();
  KILN_RETURN_IF_ERROR(WritePly(*mesh, path));

  TaskOutput output;
  AddOutputFile(params.output, path, &output);
  AddMeshSummary(stats, &output.summary);
  auto& fields = *output.summary.mutable_fields();
  fields["grid"] = NumberList(grid.cells);
  if (params.volume.has_value()) {
    fields["dims"] =
        NumberList(std::array<int, 3>{grid.cells[0] + 1, grid.cells[1] + 1, grid.cells[2] + 1});
    fields["origin"] = NumberList(grid.origin);
    fields["spacing"] = NumberList(grid.spacing);
  } else {
    fields["resolution"].set_number_value(params.resolution);
    fields["cell_size"].set_number_value(grid.spacing[0]);
  }
  if (params.preview.has_value()) {
    report(0.97, "rendering the preview");
    // The slot's device, whether or not marching cubes ran there: the renderer has its
    // own CUDA build and falls back to the CPU itself.
    KILN_RETURN_IF_ERROR(
        render::AddPreviewOutputs(*params.preview, *mesh, dir.string(), cuda_device_, &output));
  }
  fields["seconds"].set_number_value(absl::ToDoubleSeconds(absl::Now() - start));
  fields["extractor"].set_string_value(cuda_device >= 0 ? "cuda" : "cpu");
  report(1.0, absl::StrCat(stats.vertices, " vertices, ", stats.faces, " faces"));
  return output;
}

}  // namespace kiln::tasks
