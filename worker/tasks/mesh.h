// Mesh: an indexed triangle mesh with shared vertices, as the mesh tasks produce and
// the mesh file readers and writers (worker/tasks/meshio) exchange. A plain value type; no
// invariants are enforced beyond what the producer promises (see marching_cubes.h, ply.h).
#ifndef KILN_WORKER_TASKS_MESH_H_
#define KILN_WORKER_TASKS_MESH_H_

#include <array>
#include <cstdint>
#include <vector>

namespace kiln::tasks {

struct Mesh {
  std::vector<std::array<float, 3>> positions;
  // Unit normals, one per position, or empty when the mesh has none.
  std::vector<std::array<float, 3>> normals;
  // Vertex colors, RGBA with 8 bits per channel in sRGB (as images and PLY files hold
  // them), one per position, or empty when the mesh has none.
  std::vector<std::array<uint8_t, 4>> colors;
  // Counter-clockwise seen from outside (right-hand rule gives the outward normal).
  std::vector<std::array<uint32_t, 3>> triangles;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESH_H_
