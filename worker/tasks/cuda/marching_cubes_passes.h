// The per-thread work of the CUDA marching cubes, written once as __host__ __device__
// functions: the kernels in marching_cubes_cuda.cu call them, and
// marching_cubes_emulation.cc calls the same functions in plain loops (with the block
// and warp scans done sequentially) so that the whole algorithm is tested on a CPU.
//
// Pass 1 reads the whole field once; the later passes visit only the samples that the
// surface touches (an edge of theirs crosses it, or their cube does), one thread each, so
// their cost follows the surface, not the volume, and no lane idles.
//  1. count: a block of kBlockX x kBlockY threads covers kBlockZ slices (block b = bx +
//     bx_count * (by + by_count * bz)); each thread marches its column up z, loading each
//     slice's 2x2 square once (CountColumn). A sample owns the (up to) three grid edges
//     that start at it (+x, +y, +z) and, unless it is on the grid's top x, y or z side,
//     the cube whose lowest corner it is. A row is the 32 samples of one warp at one dz
//     (row r = dz * kBlockY + ty of the block, 128 per block). Per row the block sums edge
//     vertices, triangles, centre vertices and active samples, scans the rows in order and
//     keeps, for each row the surface touches (an active row), its offsets within the block
//     (row_prefix), its active lanes (lane_masks) and a bit in row_masks; per block it
//     writes the totals (MeshCounts). Non-finite samples are reported through the lowest
//     such sample index.
//  2. an inclusive scan over the blocks' counts gives each block its first vertex,
//     triangle, centre vertex, active row and active sample; CompactRowWord lists the
//     active rows in order (row id = block * 128 + r). The totals size the outputs.
//  3. samples: a thread per active row lists its active samples in order (ExpandRow: key =
//     row id * 32 + lane); a thread per active sample classifies it (SampleInfoAt: its
//     crossing edges, and its cube's table variant, triangle and centre counts, packed in
//     32 bits); an exclusive scan over those gives each sample its first edge vertex,
//     triangle and centre vertex (SampleOffsets).
//  4. vertices: a thread per active sample writes its edge vertices as x, then y, then z,
//     each with the interpolated gradient as normal, and its first vertex index
//     (edge_base[sample]).
//  5. triangles: a thread per active sample writes its cube's triangles and centre
//     vertices (centres after all edge vertices); a cube finds the vertex of each of its
//     edges at edge_base[owner sample] + the owner's crossing edges on lower axes.
//     With normals, pass 5b gives the centre vertices the gradient at their position.
//  6. only when some gradient vanished: area-weighted face normals for those vertices.
// The order is deterministic (blocks, then rows, then lanes) and the emulation makes the
// same; it differs from the CPU path's, whose vertices, triangles (up to rotation) and
// decisions are the same (marching_cubes_cell.h).
//
// Index types: samples are addressed with 64 bits (a grid may have more than 2^31
// samples), vertices and row ids with 32 (a mesh has at most 2^32 vertices; a grid at
// most 2^25 blocks), triangles with 64.
#ifndef KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_PASSES_H_
#define KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_PASSES_H_

#include <cstdint>
#include <string>

#include "worker/tasks/marching_cubes_cell.h"
#include "worker/tasks/marching_cubes_types.h"

namespace kiln::tasks::marching_cubes {

// A warp reads 32 consecutive samples of a row; 8 rows per slice, 16 slices per block.
inline constexpr int kBlockX = 32;
inline constexpr int kBlockY = 8;
inline constexpr int kBlockZ = 16;
inline constexpr int kBlockThreads = kBlockX * kBlockY;
inline constexpr int kRowsPerBlock = kBlockY * kBlockZ;
inline constexpr int kRowMaskWords = kRowsPerBlock / 32;  // 32-bit words of row_masks per block
// CUDA's limit on gridDim.y and gridDim.z; the z limit also bounds cells[2] (as before
// the z-march, so that the grids accepted do not change).
inline constexpr uint32_t kMaxGridYZ = 65535;
// Row ids are 32-bit.
inline constexpr uint64_t kMaxBlocks = (uint64_t{1} << 32) / kRowsPerBlock;

// Per block, then (scanned) the running totals before and including a block.
struct MeshCounts {
  unsigned long long vertices = 0;  // Edge vertices.
  unsigned long long triangles = 0;
  unsigned long long centers = 0;  // Loop centre vertices.
  unsigned long long rows = 0;     // Active rows.
  unsigned long long samples = 0;  // Active samples.
};

struct AddMeshCounts {
  KILN_MC_HD MeshCounts operator()(const MeshCounts& a, const MeshCounts& b) const {
    MeshCounts sum;
    sum.vertices = a.vertices + b.vertices;
    sum.triangles = a.triangles + b.triangles;
    sum.centers = a.centers + b.centers;
    sum.rows = a.rows + b.rows;
    sum.samples = a.samples + b.samples;
    return sum;
  }
};

// Counts within one block packed into 64 bits, so one add sums all four: vertices in
// bits 0..15, triangles in 16..31, centres in 32..47, active samples in 48..63. A block of
// 4096 samples has at most 12288 edge vertices, 40960 triangles (10 per cube) and 16384
// centres (4 per cube), so sums never carry.
static_assert(3 * kBlockThreads * kBlockZ < 65536 && 10 * kBlockThreads * kBlockZ < 65536 &&
                  kMaxCenters * kBlockThreads * kBlockZ < 65536,
              "block counts fit 16 bits each");
KILN_MC_INLINE uint64_t PackCounts(uint32_t vertices, uint32_t triangles, uint32_t centers,
                                   uint32_t samples) {
  return uint64_t(vertices) | (uint64_t(triangles) << 16) | (uint64_t(centers) << 32) |
         (uint64_t(samples) << 48);
}
KILN_MC_INLINE MeshCounts UnpackCounts(uint64_t packed) {
  MeshCounts c;
  c.vertices = packed & 0xffff;
  c.triangles = (packed >> 16) & 0xffff;
  c.centers = (packed >> 32) & 0xffff;
  c.samples = packed >> 48;
  return c;
}

KILN_MC_INLINE int PopCount32(uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}

KILN_MC_INLINE int LowestBit(uint32_t x) {  // x != 0
#if defined(__CUDA_ARCH__)
  return __ffs(int(x)) - 1;
#else
  return __builtin_ctz(x);
#endif
}

// The launch shape of pass 1.
struct LaunchShape {
  uint32_t blocks_x = 0, blocks_y = 0, blocks_z = 0;
  uint64_t block_count = 0;
};

inline LaunchShape LaunchShapeFor(const GridSpec& grid) {
  LaunchShape shape;
  shape.blocks_x = uint32_t((uint64_t(grid.cells[0]) + 1 + kBlockX - 1) / kBlockX);
  shape.blocks_y = uint32_t((uint64_t(grid.cells[1]) + 1 + kBlockY - 1) / kBlockY);
  shape.blocks_z = uint32_t((uint64_t(grid.cells[2]) + 1 + kBlockZ - 1) / kBlockZ);
  shape.block_count = uint64_t(shape.blocks_x) * shape.blocks_y * shape.blocks_z;
  return shape;
}

KILN_MC_INLINE uint64_t BlockIndex(uint32_t blocks_x, uint32_t blocks_y, uint32_t bx, uint32_t by,
                                   uint32_t bz) {
  return bx + uint64_t(blocks_x) * (by + uint64_t(blocks_y) * bz);
}

// A sample of a row or column; in_grid false for the lanes of partial blocks past the
// grid's x, y or z end.
struct ThreadSample {
  int i, j, k;
  bool in_grid;
};
KILN_MC_INLINE ThreadSample MakeThreadSample(const FieldView& f, uint64_t i, uint64_t j,
                                             uint64_t k) {
  ThreadSample t;
  t.in_grid = i <= uint64_t(f.cells[0]) && j <= uint64_t(f.cells[1]) && k <= uint64_t(f.cells[2]);
  t.i = int(i);
  t.j = int(j);
  t.k = int(k);
  return t;
}

// Lane `lane` of active row `row` (passes 3 and 4), and the row's block.
struct RowLane {
  ThreadSample sample;
  uint32_t block;
};
KILN_MC_INLINE RowLane SampleOfRowLane(const FieldView& f, const LaunchShape& shape, uint32_t row,
                                       uint32_t lane) {
  RowLane r;
  r.block = row / kRowsPerBlock;
  const uint32_t in_block = row % kRowsPerBlock;
  const uint32_t bx = r.block % shape.blocks_x;
  const uint32_t rest = r.block / shape.blocks_x;
  const uint32_t by = rest % shape.blocks_y, bz = rest / shape.blocks_y;
  r.sample = MakeThreadSample(f, uint64_t(bx) * kBlockX + lane,
                              uint64_t(by) * kBlockY + in_block % kBlockY,
                              uint64_t(bz) * kBlockZ + in_block / kBlockY);
  return r;
}

// Bits 0, 1, 2: the grid edge from sample (i, j, k) along x, y, z crosses iso.
KILN_MC_INLINE int CrossingEdges(const FieldView& f, int i, int j, int k) {
  const uint64_t s = SampleIndex(f, i, j, k);
  const bool inside = RelativeSample(f, s) < 0;
  int flags = 0;
  if (i < f.cells[0] && (RelativeSample(f, s + 1) < 0) != inside) flags |= 1;
  if (j < f.cells[1] && (RelativeSample(f, s + f.row) < 0) != inside) flags |= 2;
  if (k < f.cells[2] && (RelativeSample(f, s + f.slice) < 0) != inside) flags |= 4;
  return flags;
}

KILN_MC_INLINE int PopCount3(int flags) { return (flags & 1) + ((flags >> 1) & 1) + (flags >> 2); }

KILN_MC_INLINE bool OwnsCube(const FieldView& f, int i, int j, int k) {
  return i < f.cells[0] && j < f.cells[1] && k < f.cells[2];
}

// The cube's corner values relative to iso, in corner order.
KILN_MC_INLINE void LoadCube(const FieldView& f, int i, int j, int k, float v[8]) {
  const uint64_t s = SampleIndex(f, i, j, k);
  v[0] = RelativeSample(f, s);
  v[1] = RelativeSample(f, s + 1);
  v[2] = RelativeSample(f, s + f.row);
  v[3] = RelativeSample(f, s + f.row + 1);
  v[4] = RelativeSample(f, s + f.slice);
  v[5] = RelativeSample(f, s + f.slice + 1);
  v[6] = RelativeSample(f, s + f.slice + f.row);
  v[7] = RelativeSample(f, s + f.slice + f.row + 1);
}

// A cube's corner values (relative to iso) and its table entry; triangles == 0 for a
// cube the surface does not cross.
struct CubeCase {
  float v[8];
  uint32_t variant = 0;
  uint32_t triangles = 0;
  uint32_t centers = 0;
};
KILN_MC_INLINE void ClassifyCorners(const TableView& tables, CubeCase& cube) {
  const int mask = CubeMask(cube.v);
  if (mask != 0 && mask != 255) {
    cube.variant = CubeVariant(tables, mask, cube.v);
    cube.triangles = tables.tri_begin[cube.variant + 1] - tables.tri_begin[cube.variant];
    cube.centers = tables.center_begin[cube.variant + 1] - tables.center_begin[cube.variant];
  }
}
KILN_MC_INLINE CubeCase ClassifyCube(const FieldView& f, const TableView& tables, int i, int j,
                                     int k) {
  CubeCase cube;
  LoadCube(f, i, j, k, cube.v);
  ClassifyCorners(tables, cube);
  return cube;
}

// Pass 1 for one sample.
struct SampleCounts {
  uint32_t vertices = 0;
  uint32_t triangles = 0;
  uint32_t centers = 0;
  bool nonfinite = false;
  // Whether later passes visit this sample.
  KILN_MC_HD bool active() const { return vertices != 0 || triangles != 0; }
  KILN_MC_HD uint64_t Packed() const {
    return PackCounts(vertices, triangles, centers, active() ? 1 : 0);
  }
};

// The 2x2 square of samples (i, j), (i+1, j), (i, j+1), (i+1, j+1) of slice k, relative
// to iso; a neighbour past the grid's x or y end reads as the sample itself (it is never
// used). *finite: whether the raw sample (i, j, k) is finite.
KILN_MC_INLINE void LoadSquare(const FieldView& f, int i, int j, int k, float q[4], bool* finite) {
  const uint64_t s = SampleIndex(f, i, j, k);
  const uint64_t dx = i < f.cells[0] ? 1 : 0, dy = j < f.cells[1] ? f.row : 0;
  const float raw = RawSample(f, s);
  *finite = IsFiniteSample(raw);
  q[0] = raw - f.iso;
  q[1] = RelativeSample(f, s + dx);
  q[2] = RelativeSample(f, s + dy);
  q[3] = RelativeSample(f, s + dx + dy);
}

// Pass 1 for the in-grid sample (i, j, k) from its square `lo` and the square above, `hi`
// (unused on the grid's top z side): the same edges and cube as CrossingEdges and
// ClassifyCube find, from the same values.
KILN_MC_INLINE SampleCounts CountFromSquares(const FieldView& f, const TableView& tables, int i,
                                             int j, int k, const float lo[4], const float hi[4]) {
  SampleCounts c;
  const bool inside = lo[0] < 0;
  const bool x = i < f.cells[0], y = j < f.cells[1], z = k < f.cells[2];
  c.vertices = uint32_t(x && (lo[1] < 0) != inside) + uint32_t(y && (lo[2] < 0) != inside) +
               uint32_t(z && (hi[0] < 0) != inside);
  if (x && y && z) {
    CubeCase cube;
    KILN_MC_UNROLL
    for (int n = 0; n < 4; ++n) {
      cube.v[n] = lo[n];
      cube.v[4 + n] = hi[n];
    }
    ClassifyCorners(tables, cube);
    c.triangles = cube.triangles;
    c.centers = cube.centers;
  }
  return c;
}

// Pass 1 for the column of samples (i, j, k0 .. k0 + kBlockZ - 1): each slice's square is
// loaded once and carried up as the next sample's lower square. Calls
// per_sample(dz, counts) for every dz, uniformly (the kernel's warps reduce each dz
// together), with zero counts for samples outside the grid.
template <typename PerSample>
KILN_MC_INLINE void CountColumn(const FieldView& f, const TableView& tables, uint64_t i, uint64_t j,
                                uint64_t k0, PerSample&& per_sample) {
  const bool column = i <= uint64_t(f.cells[0]) && j <= uint64_t(f.cells[1]);
  float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
  bool lo_finite = true, hi_finite = true;
  if (column && k0 <= uint64_t(f.cells[2])) LoadSquare(f, int(i), int(j), int(k0), lo, &lo_finite);
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
  for (int dz = 0; dz < kBlockZ; ++dz) {
    const uint64_t k = k0 + dz;
    SampleCounts c;
    if (column && k <= uint64_t(f.cells[2])) {
      if (k < uint64_t(f.cells[2])) LoadSquare(f, int(i), int(j), int(k + 1), hi, &hi_finite);
      c = CountFromSquares(f, tables, int(i), int(j), int(k), lo, hi);
      c.nonfinite = !lo_finite;
      KILN_MC_UNROLL
      for (int n = 0; n < 4; ++n) lo[n] = hi[n];
      lo_finite = hi_finite;
    }
    per_sample(dz, c);
  }
}

// Pass 2b for word w of block b's row mask: lists its active rows (ids in order) from
// rows_before (the active rows of all earlier blocks) plus those of the block's earlier
// words.
KILN_MC_INLINE void CompactRowWord(const uint32_t* row_masks, uint64_t rows_before, uint64_t b,
                                   int w, uint32_t* active_rows) {
  uint64_t next = rows_before;
  for (int u = 0; u < w; ++u) next += PopCount32(row_masks[b * kRowMaskWords + u]);
  uint32_t mask = row_masks[b * kRowMaskWords + w];
  while (mask != 0) {
    const int bit = LowestBit(mask);
    active_rows[next++] = uint32_t(b * kRowsPerBlock + 32 * w + bit);
    mask &= mask - 1;
  }
}

// Pass 3a for active row n (row id `row`, whose first active sample is `first`): lists
// the keys (row * 32 + lane) of its active lanes `lanes`, in lane order.
KILN_MC_INLINE void ExpandRow(uint32_t row, uint32_t lanes, uint64_t first, uint64_t* keys) {
  while (lanes != 0) {
    keys[first++] = uint64_t(row) * 32 + uint32_t(LowestBit(lanes));
    lanes &= lanes - 1;
  }
}

// An active sample as pass 3b found it, packed in 32 bits: crossing edges (bits 0..2),
// its cube's triangles (3..6) and centres (7..9), and its table variant (10..31).
inline constexpr uint32_t kMaxVariant = (1u << 22) - 1;
KILN_MC_INLINE uint32_t PackSampleInfo(int flags, const CubeCase& cube) {
  return uint32_t(flags) | (cube.triangles << 3) | (cube.centers << 7) | (cube.variant << 10);
}
KILN_MC_INLINE int InfoFlags(uint32_t info) { return int(info & 7); }
KILN_MC_INLINE uint32_t InfoTriangles(uint32_t info) { return (info >> 3) & 15; }
KILN_MC_INLINE uint32_t InfoCenters(uint32_t info) { return (info >> 7) & 7; }
KILN_MC_INLINE uint32_t InfoVariant(uint32_t info) { return info >> 10; }

// The sample a key names.
KILN_MC_INLINE ThreadSample SampleOfKey(const FieldView& f, const LaunchShape& shape,
                                        uint64_t key) {
  return SampleOfRowLane(f, shape, uint32_t(key / 32), uint32_t(key % 32)).sample;
}

// Pass 3b for the active sample `key`: its crossing edges and its cube's case, from one
// load of the cube's corners (the edges are the cube's edges 0, 3 and 8 where it has a
// cube; a sample on the grid's top side loads its edges alone).
KILN_MC_INLINE uint32_t SampleInfoAt(const FieldView& f, const TableView& tables,
                                     const LaunchShape& shape, uint64_t key) {
  const ThreadSample t = SampleOfKey(f, shape, key);
  if (!OwnsCube(f, t.i, t.j, t.k)) {
    return PackSampleInfo(CrossingEdges(f, t.i, t.j, t.k), CubeCase{});
  }
  CubeCase cube;
  LoadCube(f, t.i, t.j, t.k, cube.v);
  const bool inside = cube.v[0] < 0;
  const int flags = int((cube.v[1] < 0) != inside) | (int((cube.v[2] < 0) != inside) << 1) |
                    (int((cube.v[4] < 0) != inside) << 2);
  ClassifyCorners(tables, cube);
  return PackSampleInfo(flags, cube);
}

// Where an active sample's outputs start: the exclusive scan of its predecessors'.
struct SampleOffsets {
  uint32_t vertices = 0;  // Edge vertices.
  uint32_t centers = 0;   // Centre vertices, counted from the first centre vertex.
  unsigned long long triangles = 0;
};
struct AddSampleOffsets {
  KILN_MC_HD SampleOffsets operator()(const SampleOffsets& a, const SampleOffsets& b) const {
    SampleOffsets sum;
    sum.vertices = a.vertices + b.vertices;
    sum.centers = a.centers + b.centers;
    sum.triangles = a.triangles + b.triangles;
    return sum;
  }
};
// What one sample adds to the scan.
struct SampleOffsetsOfInfo {
  KILN_MC_HD SampleOffsets operator()(uint32_t info) const {
    SampleOffsets o;
    o.vertices = uint32_t(PopCount3(InfoFlags(info)));
    o.centers = InfoCenters(info);
    o.triangles = InfoTriangles(info);
    return o;
  }
};

// Where passes 4 to 6 write. normals and missing are null when no normals are wanted.
struct MeshBuffers {
  uint32_t* edge_base = nullptr;  // [samples]: first edge vertex of each sample that has one.
  float* positions = nullptr;     // 3 per vertex
  float* normals = nullptr;       // 3 per vertex, or null
  uint8_t* missing = nullptr;     // 1 per vertex: the gradient vanished; or null
  unsigned int* missing_count = nullptr;  // How many vertices have missing[v] = 1.
  uint32_t* triangles = nullptr;          // 3 per triangle
  // With normals: for centre vertex first_center + n, center_cubes[n] is its cube's sample
  // index * 4 + its number within the cube, so pass 5b can recompute its exact position.
  uint64_t* center_cubes = nullptr;
  uint32_t first_center = 0;  // The first centre vertex (after all edge vertices).
};

// The normal for vertex v from gradient g; marks it missing where g has no direction.
KILN_MC_INLINE void WriteNormal(const MeshBuffers& out, uint32_t v, const double g[3]) {
  float n[3];
  const bool ok = NormalFromGradient(g, n);
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) out.normals[3 * uint64_t(v) + a] = n[a];
  out.missing[v] = ok ? 0 : 1;
  if (!ok) {
#if defined(__CUDA_ARCH__)
    atomicAdd(out.missing_count, 1u);
#else
    ++*out.missing_count;
#endif
  }
}

// Pass 4 for one in-grid sample whose crossing edges are `flags`, its first vertex `first`.
KILN_MC_INLINE void WriteEdgeVertices(const FieldView& f, const MeshBuffers& out, int i, int j,
                                      int k, int flags, uint32_t first) {
  const uint64_t s = SampleIndex(f, i, j, k);
  out.edge_base[s] = first;
  const float v0 = RelativeSample(f, s);
  const uint64_t stride[3] = {1, f.row, f.slice};
  uint32_t v = first;
  KILN_MC_UNROLL
  for (int axis = 0; axis < 3; ++axis) {
    if (!((flags >> axis) & 1)) continue;
    const double t = EdgeCrossingT(v0, RelativeSample(f, s + stride[axis]));
    double p[3];
    EdgePoint(f, i, j, k, axis, t, p);
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) out.positions[3 * uint64_t(v) + a] = float(p[a]);
    if (out.normals != nullptr) {
      double g[3];
      EdgeGradient(f, i, j, k, axis, t, g);
      WriteNormal(out, v, g);
    }
    ++v;
  }
}

// Whether the grid edge from sample (i, j, k) along `axis` exists and crosses iso.
KILN_MC_INLINE bool EdgeCrosses(const FieldView& f, int i, int j, int k, int axis) {
  const int index[3] = {i, j, k};
  if (index[axis] >= f.cells[axis]) return false;
  const uint64_t stride = axis == 0 ? 1 : (axis == 1 ? f.row : f.slice);
  const uint64_t s = SampleIndex(f, i, j, k);
  return (RelativeSample(f, s) < 0) != (RelativeSample(f, s + stride) < 0);
}

// The vertex of crossing edge e of cube (i, j, k), written by pass 4 of its owner sample.
KILN_MC_INLINE uint32_t EdgeVertexIndex(const FieldView& f, const uint32_t* edge_base, int i, int j,
                                        int k, int e) {
  const int c = EdgeLowCorner(e), axis = EdgeAxis(e);
  const int oi = i + (c & 1), oj = j + ((c >> 1) & 1), ok = k + ((c >> 2) & 1);
  uint32_t index = edge_base[SampleIndex(f, oi, oj, ok)];
  if (axis >= 1 && EdgeCrosses(f, oi, oj, ok, 0)) ++index;
  if (axis == 2 && EdgeCrosses(f, oi, oj, ok, 1)) ++index;
  return index;
}

// Table centre c of cube (i, j, k) with corner values v: the mean of its loop's vertices,
// each rounded to float as stored, summed in double in loop order (as the CPU path does).
KILN_MC_INLINE void CenterPoint(const FieldView& f, const TableView& tables, int i, int j, int k,
                                const float v[8], uint32_t c, double p[3]) {
  p[0] = p[1] = p[2] = 0;
  const uint32_t begin = tables.center_edge_begin[c], end = tables.center_edge_begin[c + 1];
  for (uint32_t m = begin; m < end; ++m) {
    const int e = tables.center_edges[m];
    const int lo = EdgeLowCorner(e), axis = EdgeAxis(e);
    double q[3];
    EdgePoint(f, i + (lo & 1), j + ((lo >> 1) & 1), k + ((lo >> 2) & 1), axis,
              EdgeCrossingT(CornerValue(v, lo), CornerValue(v, lo | (1 << axis))), q);
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) p[a] += RoundToFloat(q[a]);
  }
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) p[a] /= double(end - begin);
}

// Pass 5 for one cube the surface crosses (cube.triangles > 0): its triangles from
// `first_triangle` on and the positions of its centre vertices from `first_center` on
// (their normals are pass 5b's: the gradient anywhere in a cube needs many registers,
// which would slow this pass for every cube).
KILN_MC_INLINE void WriteCubeTriangles(const FieldView& f, const TableView& tables,
                                       const MeshBuffers& out, int i, int j, int k,
                                       const CubeCase& cube, uint64_t first_triangle,
                                       uint32_t first_center) {
  const float* v = cube.v;
  const uint32_t var = cube.variant;
  // Centre vertices (rare).
  for (uint32_t c = tables.center_begin[var]; c < tables.center_begin[var + 1]; ++c) {
    double p[3];
    CenterPoint(f, tables, i, j, k, v, c, p);
    const uint32_t number = c - tables.center_begin[var];
    const uint32_t vertex = first_center + number;
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) out.positions[3 * uint64_t(vertex) + a] = float(p[a]);
    if (out.center_cubes != nullptr) {
      out.center_cubes[vertex - out.first_center] = SampleIndex(f, i, j, k) * 4 + number;
    }
  }
  uint64_t t_out = first_triangle;
  for (uint32_t t = tables.tri_begin[var]; t < tables.tri_begin[var + 1]; ++t, ++t_out) {
    KILN_MC_UNROLL
    for (int c = 0; c < 3; ++c) {
      const int code = tables.tri_codes[3 * t + c];
      out.triangles[3 * t_out + c] = code < kCenterCode
                                         ? EdgeVertexIndex(f, out.edge_base, i, j, k, code)
                                         : first_center + uint32_t(code - kCenterCode);
    }
  }
}

// Pass 5 for an active sample whose cube the surface crosses (InfoTriangles(info) > 0).
// Only centre vertices need the corner values again (rare), so only they reload them.
KILN_MC_INLINE void WriteSampleTriangles(const FieldView& f, const TableView& tables,
                                         const MeshBuffers& out, const ThreadSample& t,
                                         uint32_t info, uint64_t first_triangle,
                                         uint32_t first_center) {
  CubeCase cube;
  cube.variant = InfoVariant(info);
  cube.triangles = InfoTriangles(info);
  cube.centers = InfoCenters(info);
  if (cube.centers > 0) LoadCube(f, t.i, t.j, t.k, cube.v);
  WriteCubeTriangles(f, tables, out, t.i, t.j, t.k, cube, first_triangle, first_center);
}

// Pass 5b for centre vertex out.first_center + n (when normals are wanted): the gradient
// at its position, recomputed in double from its cube as the CPU path has it.
KILN_MC_INLINE void WriteCenterNormal(const FieldView& f, const TableView& tables,
                                      const MeshBuffers& out, uint32_t n) {
  const uint64_t key = out.center_cubes[n];
  const uint64_t s = key / 4;
  const int i = int(s % f.row), j = int((s / f.row) % (f.slice / f.row)), k = int(s / f.slice);
  const CubeCase cube = ClassifyCube(f, tables, i, j, k);
  double p[3], u[3], g[3];
  CenterPoint(f, tables, i, j, k, cube.v, tables.center_begin[cube.variant] + uint32_t(key % 4), p);
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) u[a] = (p[a] - f.origin[a]) / f.spacing[a];
  InterpolatedGradient(f, u, g);
  WriteNormal(out, out.first_center + n, g);
}

// Pass 6a for triangle t: adds its area-weighted normal to those of its vertices whose
// gradient vanished (summed in float, as the CPU path does).
KILN_MC_INLINE void AccumulateFaceNormal(const MeshBuffers& out, uint64_t t) {
  uint32_t v[3];
  bool any = false;
  KILN_MC_UNROLL
  for (int c = 0; c < 3; ++c) {
    v[c] = out.triangles[3 * t + c];
    any |= out.missing[v[c]] != 0;
  }
  if (!any) return;
  double p[3][3];
  KILN_MC_UNROLL
  for (int c = 0; c < 3; ++c) {
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) p[c][a] = out.positions[3 * uint64_t(v[c]) + a];
  }
  const double e1[3] = {p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]};
  const double e2[3] = {p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]};
  const double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                       e1[0] * e2[1] - e1[1] * e2[0]};
  KILN_MC_UNROLL
  for (int c = 0; c < 3; ++c) {
    if (out.missing[v[c]] == 0) continue;
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) {
#if defined(__CUDA_ARCH__)
      atomicAdd(&out.normals[3 * uint64_t(v[c]) + a], float(n[a]));
#else
      out.normals[3 * uint64_t(v[c]) + a] += float(n[a]);
#endif
    }
  }
}

// Pass 6b for vertex v: normalizes a summed face normal.
KILN_MC_INLINE void NormalizeMissingNormal(const MeshBuffers& out, uint32_t v) {
  if (out.missing[v] == 0) return;
  float* n = &out.normals[3 * uint64_t(v)];
  const float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  if (len > 0) {
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) n[a] /= len;
  }
}

// Checks what the CUDA path needs beyond ValidateGrid: launch limits and a sample count
// that fits in memory addressing. OK or InvalidArgument naming the grid.
inline MarchingCubesStatus ValidateGridForCuda(const GridSpec& grid) {
  if (MarchingCubesStatus status = ValidateGrid(grid); !status.ok()) return status;
  const LaunchShape shape = LaunchShapeFor(grid);
  if (shape.blocks_y > kMaxGridYZ || uint64_t(grid.cells[2]) + 1 > kMaxGridYZ ||
      shape.block_count > kMaxBlocks) {
    return MarchingCubesStatus::Error(
        MarchingCubesCode::kInvalidArgument,
        "grid: " + std::to_string(grid.cells[0]) + "x" + std::to_string(grid.cells[1]) + "x" +
            std::to_string(grid.cells[2]) + " cells is beyond the CUDA path's launch limits " +
            "(at most 524279 cells along y, 65534 along z and 2^37 samples)");
  }
  return MarchingCubesStatus::Ok();
}

inline uint64_t SampleCount(const GridSpec& grid) {
  return (uint64_t(grid.cells[0]) + 1) * (uint64_t(grid.cells[1]) + 1) *
         (uint64_t(grid.cells[2]) + 1);
}

// OK when a field of `size` samples fits the grid, else InvalidArgument naming both.
inline MarchingCubesStatus ValidateFieldSize(const GridSpec& grid, uint64_t size) {
  if (size == SampleCount(grid)) return MarchingCubesStatus::Ok();
  return MarchingCubesStatus::Error(
      MarchingCubesCode::kInvalidArgument,
      "field: " + std::to_string(size) + " samples for a grid of " + std::to_string(grid.cells[0]) +
          "x" + std::to_string(grid.cells[1]) + "x" + std::to_string(grid.cells[2]) +
          " cells, which needs (cells+1) per axis = " + std::to_string(SampleCount(grid)));
}

// NonFiniteSampleError for the sample at linear index s.
inline MarchingCubesStatus NonFiniteSampleAt(const GridSpec& grid, uint64_t s, float value) {
  const uint64_t row = uint64_t(grid.cells[0]) + 1, rows = uint64_t(grid.cells[1]) + 1;
  return NonFiniteSampleError((long long)(s % row), (long long)((s / row) % rows),
                              (long long)(s / (row * rows)), value);
}

inline FieldView MakeFieldView(const float* values, const GridSpec& grid, double iso) {
  FieldView f;
  f.values = values;
  f.iso = float(iso);
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) {
    f.origin[a] = grid.origin[a];
    f.spacing[a] = grid.spacing[a];
    f.cells[a] = grid.cells[a];
  }
  f.row = uint64_t(grid.cells[0]) + 1;
  f.slice = f.row * (uint64_t(grid.cells[1]) + 1);
  return f;
}

}  // namespace kiln::tasks::marching_cubes

#endif  // KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_PASSES_H_
