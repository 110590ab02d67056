// A host emulation of the CUDA marching cubes: the kernels' per-thread functions
// (marching_cubes_passes.h) run in plain loops, block by block, row by row and lane by lane in
// the kernels' launch shape, with each block scan and the scan over blocks done
// sequentially in the order CUB would. It writes the same vertex and triangle order as
// the GPU, so a CPU-only test can check the kernels' logic against the CPU path, and a GPU
// run can be compared with it element by element.
//
// Slow (a few times the CPU path) and memory hungry (a per-sample index array); for tests
// only. Reentrant.
#ifndef KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_EMULATION_H_
#define KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_EMULATION_H_

#include <span>

#include "worker/tasks/marching_cubes_types.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

// `field` holds the (cells+1)^3 samples, x fastest. With `normals`, every vertex gets the
// normalized central-difference gradient of the field (SampledFieldGradient).
MarchingCubesStatus EmulateCudaMarchingCubes(std::span<const float> field, const GridSpec& grid,
                                             double iso, bool normals, Mesh* mesh);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_EMULATION_H_
