// Test support: decides whether two meshes are the same up to vertex order and the
// rotation of each triangle's vertex list (orientation must agree), as the CPU and CUDA
// marching cubes must be. Vertices are matched by position within a tolerance (0: bit
// for bit) through a spatial hash; the matching must be one to one. Distinct vertices at
// one position (a sample exactly at iso: t = 0 or 1 on several edges) are paired by the
// triangles around them, so the result does not depend on vertex order. Pure C++ for the
// standalone GPU build; reentrant.
#ifndef KILN_WORKER_TASKS_CUDA_MESH_COMPARE_H_
#define KILN_WORKER_TASKS_CUDA_MESH_COMPARE_H_

#include <string>

#include "worker/tasks/mesh.h"

namespace kiln::tasks {

struct MeshCompareOptions {
  // Largest per-coordinate difference of matched positions.
  float position_tolerance = 0;
  // Largest per-component difference of matched normals; negative: normals not compared.
  float normal_tolerance = -1;
};

struct MeshComparison {
  bool same = false;
  // Why not, with the first few offending vertices or triangles; empty when same.
  std::string difference;
  // Largest differences seen among matched vertices.
  double max_position_difference = 0;
  double max_normal_difference = 0;
};

// `expected` is the reference (the CPU path), `actual` the mesh under test.
MeshComparison CompareMeshes(const Mesh& expected, const Mesh& actual,
                             const MeshCompareOptions& options);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_CUDA_MESH_COMPARE_H_
