// Mesh statistics for task summaries and tests: counts, bounds, connected components,
// watertightness and enclosed volume. Pure functions; any thread may call them.
#ifndef KILN_WORKER_TASKS_MESH_STATS_H_
#define KILN_WORKER_TASKS_MESH_STATS_H_

#include <array>
#include <cstdint>

#include "worker/tasks/mesh.h"

namespace kiln::tasks {

struct MeshStats {
  int64_t vertices = 0;  // All positions.
  int64_t faces = 0;
  int64_t edges = 0;               // Distinct undirected edges of the faces.
  int64_t boundary_edges = 0;      // Edges of one face only (holes, open borders).
  int64_t non_manifold_edges = 0;  // Edges shared by three or more faces.
  // Face-connected pieces (faces sharing a vertex are connected).
  int64_t components = 0;
  // Every undirected edge belongs to exactly two faces that traverse it in opposite
  // directions (closed, edge-manifold and consistently oriented). True for no faces.
  bool watertight = true;
  // V - E + F over the vertices that faces use; 2 per closed sphere-like component.
  int64_t euler_characteristic = 0;
  // Over all positions; zero for an empty mesh.
  std::array<float, 3> bbox_min{0, 0, 0};
  std::array<float, 3> bbox_max{0, 0, 0};
  // Sum of signed tetrahedron volumes (divergence theorem): the enclosed volume when
  // watertight, positive when faces wind counter-clockwise seen from outside.
  double signed_volume = 0;
};

// Requires every triangle index < mesh.positions.size().
MeshStats ComputeMeshStats(const Mesh& mesh);

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESH_STATS_H_
