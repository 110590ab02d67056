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
// Two implementations make the same mesh from the same field: the CPU one here
// (marching_cubes_cpu.h: slab by slab, O(nx*ny) memory besides the mesh) and the CUDA
// one (marching_cubes_gpu.h, cuda/marching_cubes_cuda.h). They share the tables
// (marching_cubes_tables.h) and the per-cube arithmetic (marching_cubes_cell.h); only
// the order of the vertices and triangles differs.
//
// ExtractIsosurface is reentrant; the callbacks run on the calling thread.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tasks/marching_cubes_types.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// Triangles are counter-clockwise seen from outside (the side where value >= iso).
// Fails with InvalidArgument for a bad grid or a NaN or infinite sample, and
// ResourceExhausted past 2^32 vertices.
absl::StatusOr<Mesh> ExtractIsosurface(const GridSpec& grid, const SliceSampler& sample,
                                       const MarchingCubesOptions& options);

// The absl::Status for a status of the Abseil-free marching cubes code.
absl::Status ToAbslStatus(const MarchingCubesStatus& status);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_H_
