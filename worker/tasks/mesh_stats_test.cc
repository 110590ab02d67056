#include "worker/tasks/mesh_stats.h"

#include "gtest/gtest.h"

namespace kiln::tasks {
namespace {

// A tetrahedron with counter-clockwise faces seen from outside; volume 1/6.
Mesh Tetrahedron(float dx = 0) {
  Mesh m;
  m.positions = {{dx, 0, 0}, {dx + 1, 0, 0}, {dx, 1, 0}, {dx, 0, 1}};
  m.triangles = {{0, 2, 1}, {0, 1, 3}, {0, 3, 2}, {1, 2, 3}};
  return m;
}

TEST(MeshStatsTest, Tetrahedron) {
  const MeshStats s = ComputeMeshStats(Tetrahedron());
  EXPECT_EQ(s.vertices, 4);
  EXPECT_EQ(s.faces, 4);
  EXPECT_EQ(s.edges, 6);
  EXPECT_EQ(s.boundary_edges, 0);
  EXPECT_EQ(s.non_manifold_edges, 0);
  EXPECT_EQ(s.components, 1);
  EXPECT_TRUE(s.watertight);
  EXPECT_EQ(s.euler_characteristic, 2);
  EXPECT_NEAR(s.signed_volume, 1.0 / 6, 1e-12);
  EXPECT_EQ(s.bbox_min, (std::array<float, 3>{0, 0, 0}));
  EXPECT_EQ(s.bbox_max, (std::array<float, 3>{1, 1, 1}));
}

TEST(MeshStatsTest, InsideOutHasNegativeVolume) {
  Mesh m = Tetrahedron();
  for (auto& t : m.triangles) std::swap(t[1], t[2]);
  const MeshStats s = ComputeMeshStats(m);
  EXPECT_TRUE(s.watertight);
  EXPECT_NEAR(s.signed_volume, -1.0 / 6, 1e-12);
}

TEST(MeshStatsTest, OpenMeshIsNotWatertight) {
  Mesh m = Tetrahedron();
  m.triangles.pop_back();
  const MeshStats s = ComputeMeshStats(m);
  EXPECT_FALSE(s.watertight);
  EXPECT_EQ(s.edges, 6);
  EXPECT_EQ(s.boundary_edges, 3);  // The missing face's rim.
  EXPECT_EQ(s.non_manifold_edges, 0);
  EXPECT_EQ(s.euler_characteristic, 1);  // A disc.
}

TEST(MeshStatsTest, InconsistentOrientationIsNotWatertight) {
  Mesh m = Tetrahedron();
  std::swap(m.triangles[0][1], m.triangles[0][2]);
  EXPECT_FALSE(ComputeMeshStats(m).watertight);
}

TEST(MeshStatsTest, EdgeInFourFacesIsNotWatertight) {
  // Two tetrahedra glued along edge 0-1 (shared vertices): each edge use is paired, but
  // the directed edges 0->1 and 1->0 each appear twice.
  Mesh m = Tetrahedron();
  m.positions.push_back({0, -1, 0});
  m.positions.push_back({0, 0, -1});
  // The first rotated half a turn about x (vertex 2 -> 4, 3 -> 5).
  m.triangles.push_back({0, 4, 1});
  m.triangles.push_back({0, 1, 5});
  m.triangles.push_back({0, 5, 4});
  m.triangles.push_back({1, 4, 5});
  const MeshStats s = ComputeMeshStats(m);
  EXPECT_FALSE(s.watertight);
  EXPECT_EQ(s.components, 1);
  EXPECT_EQ(s.edges, 11);  // 6 + 6, one shared.
  EXPECT_EQ(s.non_manifold_edges, 1);
  EXPECT_EQ(s.boundary_edges, 0);
}

TEST(MeshStatsTest, ComponentsAndUnusedVertices) {
  Mesh a = Tetrahedron(), b = Tetrahedron(5);
  for (auto t : b.triangles) {
    for (auto& v : t) v += 4;
    a.triangles.push_back(t);
  }
  a.positions.insert(a.positions.end(), b.positions.begin(), b.positions.end());
  a.positions.push_back({100, 0, 0});  // Used by no face.
  const MeshStats s = ComputeMeshStats(a);
  EXPECT_EQ(s.components, 2);
  EXPECT_TRUE(s.watertight);
  EXPECT_EQ(s.euler_characteristic, 4);
  EXPECT_EQ(s.vertices, 9);
  EXPECT_EQ(s.bbox_max[0], 100);
  EXPECT_NEAR(s.signed_volume, 2.0 / 6, 1e-9);
}

TEST(MeshStatsTest, Empty) {
  const MeshStats s = ComputeMeshStats(Mesh{});
  EXPECT_EQ(s.vertices, 0);
  EXPECT_EQ(s.components, 0);
  EXPECT_TRUE(s.watertight);
  EXPECT_EQ(s.signed_volume, 0);
}

}  // namespace
}  // namespace kiln::tasks
