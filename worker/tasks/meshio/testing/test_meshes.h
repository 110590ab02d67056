// Small meshes for the mesh I/O tests and fuzz seeds. Test-only; pure functions.
#ifndef KILN_WORKER_TASKS_MESHIO_TESTING_TEST_MESHES_H_
#define KILN_WORKER_TASKS_MESHIO_TESTING_TEST_MESHES_H_

#include <cmath>
#include <string>

#include "worker/tasks/mesh.h"

namespace kiln::tasks::testing {

// A closed tetrahedron (4 vertices, 4 outward triangles) with unit normals pointing
// away from its centre and four distinct colors (one with alpha < 255).
inline Mesh ColoredTetrahedron() {
  Mesh m;
  m.positions = {{0, 0, 0}, {1.5f, 0, 0}, {0, 2.25f, 0}, {0, 0, 0.75f}};
  m.triangles = {{0, 2, 1}, {0, 1, 3}, {0, 3, 2}, {1, 2, 3}};
  for (const auto& p : m.positions) {
    const float c[3] = {p[0] - 0.375f, p[1] - 0.5625f, p[2] - 0.1875f};
    const float length = std::sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
    m.normals.push_back({c[0] / length, c[1] / length, c[2] / length});
  }
  m.colors = {{255, 0, 0, 255}, {0, 128, 0, 255}, {10, 20, 250, 200}, {1, 254, 77, 0}};
  return m;
}

// A unit cube of 8 vertices and 12 outward triangles: closed, one component.
inline Mesh Cube() {
  Mesh m;
  for (int i = 0; i < 8; ++i) {
    m.positions.push_back({float(i & 1), float((i >> 1) & 1), float((i >> 2) & 1)});
  }
  m.triangles = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4},
                 {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}};
  return m;
}

}  // namespace kiln::tasks::testing

#endif  // KILN_WORKER_TASKS_MESHIO_TESTING_TEST_MESHES_H_
