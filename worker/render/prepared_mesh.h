// The mesh as both rasterizer paths consume it, checked and completed once (normals from
// the faces when missing, default colour), and the per-frame constants of a View. Shared
// by the CPU path, the CUDA renderer and the tests that compare them.
#ifndef KILN_WORKER_RENDER_PREPARED_MESH_H_
#define KILN_WORKER_RENDER_PREPARED_MESH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/image/image.h"
#include "worker/render/raster_core.h"
#include "worker/render/rasterizer.h"
#include "worker/tasks/mesh.h"

namespace kiln::render {

struct PreparedMesh {
  std::vector<core::Float3> positions;
  std::vector<core::Float3> normals;  // one per position; zero where a vertex has none
  std::vector<uint32_t> colors;       // packed RGBA, R in the low byte
  std::vector<uint32_t> indices;      // 3 per triangle
  std::array<double, 3> bbox_min{}, bbox_max{};
  // The largest distance of a used vertex from the bounding box's centre: the sphere a
  // perspective view fits (tighter than the box's own for round meshes).
  double radius = 0;
  bool empty() const { return indices.empty(); }
};

// InvalidArgument naming the problem: a triangle index out of range, a non-finite
// position, normals or colours whose count is not the vertex count, more than 2^32 - 2
// triangles.
absl::StatusOr<PreparedMesh> PrepareMesh(const tasks::Mesh& mesh,
                                         const std::array<uint8_t, 4>& default_color);

// The View of `options` for the mesh (FitView of the prepared mesh).
absl::StatusOr<View> FitViewToMesh(const PreparedMesh& mesh, const RenderOptions& options);

core::FrameConstants FrameFor(const View& view, const RenderOptions& options);

// The CPU path: vertex pass, z-buffer pass (triangles in index order), shading pass.
image::Image RenderPreparedOnCpu(const PreparedMesh& mesh, const core::FrameConstants& frame);

// The z-buffer pass alone (keys per pixel), for tests that check order independence.
std::vector<uint64_t> DepthPassOnCpu(const std::vector<core::ScreenVertex>& vertices,
                                     const std::vector<uint32_t>& indices,
                                     const std::vector<uint32_t>& triangle_order, int width,
                                     int height);
std::vector<core::ScreenVertex> VertexPassOnCpu(const PreparedMesh& mesh,
                                                const core::FrameConstants& frame);
image::Image ShadePassOnCpu(const std::vector<core::ScreenVertex>& vertices,
                            const std::vector<uint32_t>& indices, const std::vector<uint64_t>& keys,
                            const core::FrameConstants& frame);

}  // namespace kiln::render

#endif  // KILN_WORKER_RENDER_PREPARED_MESH_H_
