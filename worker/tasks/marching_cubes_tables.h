// The marching cubes triangulation tables, generated once per process (see
// marching_cubes.h for the construction: asymptotic decider on ambiguous faces, loops
// triangulated without diagonals on the cube's -x/-y/-z faces, a centre vertex for the
// few loops that need one). One copy serves the CPU path, the CUDA kernels (which upload
// it) and the host emulation of the kernels, so all three make the same triangles.
//
// Layout, flat so that it uploads as a few arrays (TableView in marching_cubes_cell.h):
// case `mask` (bit c: corner c inside) with k ambiguous faces has 2^k variants starting at
// first_variant[mask]; bit b of the variant offset is the decision for the case's b-th
// ambiguous face (in face order). Variant v has triangles tri_begin[v]..tri_begin[v+1]
// (three vertex codes each in tri_codes: 0..11 cube edges, kCenterCode + m its m-th
// centre vertex) and centre vertices center_begin[v]..center_begin[v+1], centre c being
// the mean of the edge vertices center_edges[center_edge_begin[c]..center_edge_begin[c+1]).
//
// Plain C++ (no Abseil). GetMarchingCubesTables() is thread-safe; the tables are
// immutable and live until the process exits.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_TABLES_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_TABLES_H_

#include <array>
#include <cstdint>
#include <vector>

#include "worker/tasks/marching_cubes_cell.h"

namespace kiln::tasks {

struct MarchingCubesTables {
  std::array<uint8_t, 256> ambiguous_faces{};
  std::array<uint32_t, 256> first_variant{};
  std::vector<uint32_t> tri_begin;          // variants + 1 entries
  std::vector<uint32_t> center_begin;       // variants + 1 entries
  std::vector<uint8_t> tri_codes;           // 3 per triangle
  std::vector<uint32_t> center_edge_begin;  // centres + 1 entries
  std::vector<uint8_t> center_edges;        // the cube edges around each centre

  // Raw pointers into this object's arrays (host memory).
  marching_cubes::TableView View() const;
  size_t variant_count() const { return tri_begin.size() - 1; }
};

const MarchingCubesTables& GetMarchingCubesTables();

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_TABLES_H_
