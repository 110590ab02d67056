// The CPU marching cubes (the algorithm is described in marching_cubes.h), without
// Abseil so that the CUDA path's GPU test and benchmark can compare against it on a box
// that has no Abseil. kiln_tasks callers use ExtractIsosurface (marching_cubes.h), which
// wraps ExtractIsosurfaceOnCpu into absl::StatusOr.
//
// The grid is processed slab by slab: only two z-slices of samples and their edge
// vertex indices are in memory (O(nx*ny)), plus the output mesh. All functions are
// reentrant; callbacks run on the calling thread.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_CPU_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_CPU_H_

#include <array>
#include <cstdint>
#include <functional>
#include <span>

#include "worker/tasks/marching_cubes_types.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// Replaces *mesh with the iso-surface. Triangles are counter-clockwise seen from outside
// (the side where value >= iso). Fails with InvalidArgument for a bad grid or a NaN or
// infinite sample, and ResourceExhausted past 2^32 vertices.
MarchingCubesStatus ExtractIsosurfaceOnCpu(const GridSpec& grid, const SliceSampler& sample,
                                           const MarchingCubesOptions& options, Mesh* mesh);

using GradientFunction = std::function<std::array<double, 3>(const std::array<double, 3>& p)>;

// Gives every vertex of *mesh the normalized gradient at its position; where the
// gradient vanishes (e.g. on a medial axis), the area-weighted normal of the triangles
// around the vertex. This is what ExtractIsosurfaceOnCpu does with options.gradient,
// except that it evaluates the gradient at the position before rounding it to float.
void SetNormalsFromGradient(const GradientFunction& gradient, Mesh* mesh);

// Where the gradient vanished: normals[v] for each v in `missing` becomes the normalized
// sum of the (area-weighted) normals of the triangles around v. Normals of vertices in
// `missing` must be zero on entry.
void FillMissingNormals(std::span<const uint32_t> missing, Mesh* mesh);

// The gradient that the CUDA path uses for normals (marching_cubes_cell.h: trilinear
// interpolation of the samples' central differences), as a gradient callback, so that
// the CPU path run on the same sampled field yields the same normals. `field` holds all
// (cells+1)^3 samples, x fastest, and must outlive the function.
GradientFunction SampledFieldGradient(const GridSpec& grid, std::span<const float> field);

// Serves slices of a whole field held in memory (x fastest). `field` must outlive it.
SliceSampler FieldSliceSampler(const GridSpec& grid, std::span<const float> field);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_CPU_H_
