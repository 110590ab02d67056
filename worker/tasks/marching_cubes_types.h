// Vocabulary shared by the CPU and CUDA marching cubes: the sampling grid, the options,
// the slice sampler and a small status type. Plain C++20 and the standard library only
// (no Abseil, no protobuf), so that the CUDA library, its GPU test and its benchmark build
// on a GPU box that has nothing but CUDA and GoogleTest (worker/tasks/cuda/CMakeLists.txt).
// kiln_tasks wraps MarchingCubesStatus into absl::Status (marching_cubes.h).
// All types are plain values; thread-safety is that of the standard library.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_TYPES_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_TYPES_H_

#include <array>
#include <functional>
#include <span>
#include <string>
#include <utility>

namespace kiln::tasks {

// Samples lie at origin + (i, j, k) * spacing for 0 <= i <= cells[0], etc.
struct GridSpec {
  std::array<double, 3> origin{0, 0, 0};
  std::array<double, 3> spacing{1, 1, 1};
  std::array<int, 3> cells{1, 1, 1};  // Cubes along each axis, >= 1.
};

struct MarchingCubesOptions {
  // The level to extract; a sample is inside when value < iso.
  double iso = 0;
  // When set, each vertex gets the normalized gradient at its position as its normal
  // (the gradient points from inside to outside). Called once per vertex.
  std::function<std::array<double, 3>(const std::array<double, 3>& p)> gradient;
  // Called after each slab of cubes with (slabs done, cells[2]).
  std::function<void(int done, int total)> progress;
};

// Fills `values` with the field on the z-slice k: values[j * (cells[0]+1) + i] is the
// sample at (i, j, k). Called once per slice, k = 0..cells[2], in order.
using SliceSampler = std::function<void(int k, std::span<float> values)>;

// The codes a caller acts on; kiln_tasks maps them one to one onto absl::StatusCode.
enum class MarchingCubesCode {
  kOk,
  kInvalidArgument,     // bad grid or field (NaN/Inf samples, sizes)
  kResourceExhausted,   // out of (device) memory, or more than 2^32 vertices
  kFailedPrecondition,  // the device cannot run our kernels (no kernel image, no device)
  kInternal,            // a CUDA error that says the process's CUDA context is broken
};

struct MarchingCubesStatus {
  MarchingCubesCode code = MarchingCubesCode::kOk;
  // Starts with what was wrong, e.g. "field: sample (3, 4, 5) is nan".
  std::string message;

  bool ok() const { return code == MarchingCubesCode::kOk; }
  static MarchingCubesStatus Ok() { return {}; }
  static MarchingCubesStatus Error(MarchingCubesCode code, std::string message) {
    return {code, std::move(message)};
  }
};

// Checks a grid: cells >= 1, finite origin, finite positive spacing. OK or InvalidArgument
// naming the field ("grid: ...").
MarchingCubesStatus ValidateGrid(const GridSpec& grid);

// InvalidArgument for a NaN or infinite sample at (i, j, k): one message for both paths.
MarchingCubesStatus NonFiniteSampleError(long long i, long long j, long long k, float value);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_TYPES_H_
