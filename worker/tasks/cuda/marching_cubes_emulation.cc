#include "worker/tasks/cuda/marching_cubes_emulation.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/marching_cubes_tables.h"

namespace kiln::tasks {

namespace mc = marching_cubes;

MarchingCubesStatus EmulateCudaMarchingCubes(std::span<const float> field, const GridSpec& grid,
                                             double iso, bool normals, Mesh* mesh) {
  if (MarchingCubesStatus s = mc::ValidateGridForCuda(grid); !s.ok()) return s;
  if (MarchingCubesStatus s = mc::ValidateFieldSize(grid, field.size()); !s.ok()) return s;
  const mc::FieldView f = mc::MakeFieldView(field.data(), grid, iso);
  const mc::TableView tables = GetMarchingCubesTables().View();
  const mc::LaunchShape shape = mc::LaunchShapeFor(grid);

  // Pass 1: per block, each thread's column (CountColumn), summed per row; then the rows
  // scanned in order: offsets within the block and active lanes for the active rows, the
  // row mask, the block's totals.
  std::vector<mc::MeshCounts> scanned(shape.block_count);
  std::vector<uint32_t> row_masks(shape.block_count * mc::kRowMaskWords, 0);
  std::vector<uint64_t> row_prefix(shape.block_count * mc::kRowsPerBlock, 0);
  std::vector<uint32_t> lane_masks(shape.block_count * mc::kRowsPerBlock, 0);
  uint64_t first_nonfinite = std::numeric_limits<uint64_t>::max();
  for (uint32_t bz = 0; bz < shape.blocks_z; ++bz) {
    for (uint32_t by = 0; by < shape.blocks_y; ++by) {
      for (uint32_t bx = 0; bx < shape.blocks_x; ++bx) {
        const uint64_t b = mc::BlockIndex(shape.blocks_x, shape.blocks_y, bx, by, bz);
        uint64_t row_counts[mc::kRowsPerBlock] = {};
        for (uint32_t ty = 0; ty < mc::kBlockY; ++ty) {
          for (uint32_t tx = 0; tx < mc::kBlockX; ++tx) {
            const uint64_t i = uint64_t(bx) * mc::kBlockX + tx, j = uint64_t(by) * mc::kBlockY + ty;
            const uint64_t k0 = uint64_t(bz) * mc::kBlockZ;
            mc::CountColumn(f, tables, i, j, k0, [&](int dz, const mc::SampleCounts& c) {
              if (c.nonfinite) {
                first_nonfinite =
                    std::min(first_nonfinite, mc::SampleIndex(f, int(i), int(j), int(k0 + dz)));
              }
              row_counts[dz * mc::kBlockY + ty] += c.Packed();
              if (c.active()) lane_masks[b * mc::kRowsPerBlock + dz * mc::kBlockY + ty] |= 1u << tx;
            });
          }
        }
        uint64_t running = 0, rows = 0;
        for (int r = 0; r < mc::kRowsPerBlock; ++r) {
          if (row_counts[r] == 0) continue;
          row_prefix[b * mc::kRowsPerBlock + r] = running;
          row_masks[b * mc::kRowMaskWords + r / 32] |= 1u << (r % 32);
          running += row_counts[r];
          ++rows;
        }
        scanned[b] = mc::UnpackCounts(running);
        scanned[b].rows = rows;
      }
    }
  }
  if (first_nonfinite != std::numeric_limits<uint64_t>::max()) {
    return mc::NonFiniteSampleAt(grid, first_nonfinite, field[first_nonfinite]);
  }

  // Pass 2: inclusive scan over the blocks, then the list of active rows.
  for (size_t b = 1; b < scanned.size(); ++b)
    scanned[b] = mc::AddMeshCounts()(scanned[b - 1], scanned[b]);
  const mc::MeshCounts total = scanned.back();
  const uint64_t vertex_count = total.vertices + total.centers;
  if (vertex_count > uint64_t{std::numeric_limits<uint32_t>::max()} + 1) {
    return MarchingCubesStatus::Error(MarchingCubesCode::kResourceExhausted,
                                      "mesh has more than 2^32 vertices");
  }
  auto before = [&](uint64_t b) { return b == 0 ? mc::MeshCounts{} : scanned[b - 1]; };
  std::vector<uint32_t> active_rows(total.rows);
  for (uint64_t b = 0; b < shape.block_count; ++b) {
    for (int w = 0; w < mc::kRowMaskWords; ++w)
      mc::CompactRowWord(row_masks.data(), before(b).rows, b, w, active_rows.data());
  }

  std::vector<uint32_t> edge_base(mc::SampleCount(grid), 0);
  std::vector<float> positions(3 * vertex_count), normal_values(normals ? 3 * vertex_count : 0);
  std::vector<uint8_t> missing(normals ? vertex_count : 0);
  std::vector<uint32_t> triangles(3 * total.triangles);
  std::vector<uint64_t> center_cubes(normals ? total.centers : 0);
  unsigned int missing_count = 0;
  mc::MeshBuffers out;
  out.edge_base = edge_base.data();
  out.positions = positions.data();
  out.normals = normals ? normal_values.data() : nullptr;
  out.missing = normals ? missing.data() : nullptr;
  out.missing_count = &missing_count;
  out.triangles = triangles.data();
  out.center_cubes = normals ? center_cubes.data() : nullptr;
  out.first_center = uint32_t(total.vertices);

  // Pass 3: the active samples in order, each one's case, and the exclusive scan of
  // what they add.
  std::vector<uint64_t> keys(total.samples);
  for (const uint32_t row : active_rows) {
    const uint64_t b = row / mc::kRowsPerBlock;
    mc::ExpandRow(row, lane_masks[row],
                  before(b).samples + mc::UnpackCounts(row_prefix[row]).samples, keys.data());
  }
  std::vector<uint32_t> infos(total.samples);
  std::vector<mc::SampleOffsets> offsets(total.samples);
  mc::SampleOffsets running;
  for (uint64_t m = 0; m < total.samples; ++m) {
    infos[m] = mc::SampleInfoAt(f, tables, shape, keys[m]);
    offsets[m] = running;
    running = mc::AddSampleOffsets()(running, mc::SampleOffsetsOfInfo()(infos[m]));
  }

  // Pass 4: each active sample's edge vertices.
  for (uint64_t m = 0; m < total.samples; ++m) {
    const int flags = mc::InfoFlags(infos[m]);
    if (flags == 0) continue;
    const mc::ThreadSample t = mc::SampleOfKey(f, shape, keys[m]);
    mc::WriteEdgeVertices(f, out, t.i, t.j, t.k, flags, offsets[m].vertices);
  }

  // Pass 5: triangles and centre vertices (centres after all edge vertices).
  for (uint64_t m = 0; m < total.samples; ++m) {
    if (mc::InfoTriangles(infos[m]) == 0) continue;
    const mc::ThreadSample t = mc::SampleOfKey(f, shape, keys[m]);
    mc::WriteSampleTriangles(f, tables, out, t, infos[m], offsets[m].triangles,
                             uint32_t(total.vertices + offsets[m].centers));
  }

  // Pass 5b: centre vertex normals.
  if (normals) {
    for (uint64_t n = 0; n < total.centers; ++n) mc::WriteCenterNormal(f, tables, out, uint32_t(n));
  }

  // Pass 6: face normals where the gradient vanished.
  if (normals && missing_count > 0) {
    for (uint64_t t = 0; t < total.triangles; ++t) mc::AccumulateFaceNormal(out, t);
    for (uint64_t v = 0; v < vertex_count; ++v) mc::NormalizeMissingNormal(out, uint32_t(v));
  }

  // memcpy wants valid pointers even for 0 bytes, and an empty mesh's vectors have none
  // (UBSan: nonnull-attribute).
  const auto copy = [](void* to, const void* from, size_t bytes) {
    if (bytes > 0) std::memcpy(to, from, bytes);
  };
  mesh->positions.resize(vertex_count);
  copy(mesh->positions.data(), positions.data(), positions.size() * sizeof(float));
  mesh->normals.resize(normals ? vertex_count : 0);
  if (normals)
    copy(mesh->normals.data(), normal_values.data(), normal_values.size() * sizeof(float));
  mesh->triangles.resize(total.triangles);
  copy(mesh->triangles.data(), triangles.data(), triangles.size() * sizeof(uint32_t));
  return MarchingCubesStatus::Ok();
}

}  // namespace kiln::tasks
