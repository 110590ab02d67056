// Marching cubes: extracts the iso-surface of a scalar field sampled on a regular grid
// as a closed, consistently oriented, indexed triangle mesh.
//
// The per-cube triangulations are generated once at start-up rather than copied from
// the classic tables, whose ambiguous faces can crack the surface. On each cube face the
// crossing edges are paired by a rule that depends only on that face's four samples
// (the asymptotic decider), so the two cubes sharing a face always agree; the face
// segments are chained into loops and each loop is triangulated so that no diagonal
// between two vertices of one face can also be used by the neighbouring cube (the few
// loops where that is impossible, 12 of 656 table entries, get an extra vertex at the
// mean of the loop, used by that cube only). Edge vertices are shared through their
// grid edge. Hence, when the surface stays inside the grid, every mesh edge has exactly
// two triangles, traversed in opposite directions (tests check all 256 sign cases).
//
// The grid is processed slab by slab: only two z-slices of samples and their edge
// vertex indices are in memory (O(nx*ny)), plus the output mesh.
//
// ExtractIsosurface is reentrant; the callbacks run on the calling thread.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_H_

#include <array>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "worker/tasks/mesh.h"

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

// Triangles are counter-clockwise seen from outside (the side where value >= iso).
// Fails with InvalidArgument for a bad grid and ResourceExhausted past 2^32 vertices.
absl::StatusOr<Mesh> ExtractIsosurface(const GridSpec& grid, const SliceSampler& sample,
                                       const MarchingCubesOptions& options);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_H_
