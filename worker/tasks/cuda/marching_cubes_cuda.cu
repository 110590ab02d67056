// The CUDA marching cubes: kernels that call the per-thread functions of
// marching_cubes_passes.h, CUB for the block and device scans, and the one place where a
// cudaError_t becomes a MarchingCubesStatus (KILN_MC_RETURN_IF_CUDA_ERROR).
#include <cuda_runtime.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cub/device/device_scan.cuh>
#include <limits>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "worker/cuda_common/cuda_error.h"
#include "worker/tasks/cuda/marching_cubes_cuda.h"
#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/marching_cubes_tables.h"

namespace kiln::tasks {
namespace {

namespace mc = marching_cubes;

static_assert(sizeof(std::array<float, 3>) == 3 * sizeof(float), "Mesh positions are packed");
static_assert(sizeof(std::array<uint32_t, 3>) == 3 * sizeof(uint32_t), "Mesh triangles are packed");

// The one translation of CUDA errors, chosen by what the caller can do about them. It
// also clears the thread's last (non-sticky) error so the next call starts clean.
MarchingCubesStatus FromCuda(cudaError_t error, const std::string& what) {
  MarchingCubesCode code = MarchingCubesCode::kInternal;
  if (error == cudaErrorMemoryAllocation) {
    code = MarchingCubesCode::kResourceExhausted;
  } else if (cuda::IsCudaUnavailableError(error)) {
    code = MarchingCubesCode::kFailedPrecondition;
  }
  std::string hint;
  switch (error) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorHardwareStackError:
    case cudaErrorLaunchTimeout:
      hint = "; the CUDA context is now unusable, the process must restart";
      break;
    default:
      break;
  }
  cudaGetLastError();
  return MarchingCubesStatus::Error(
      code, "CUDA marching cubes: " + what + ": " + cuda::CudaErrorText(error) + hint);
}

#define KILN_MC_RETURN_IF_CUDA_ERROR(call, what)                                \
  do {                                                                          \
    const cudaError_t kiln_mc_error_ = (call);                                  \
    if (kiln_mc_error_ != cudaSuccess) return FromCuda(kiln_mc_error_, (what)); \
  } while (false)

std::string Mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", double(bytes) / (1 << 20));
  return text;
}

// Makes `device` current for the scope and restores the caller's device after it.
class ScopedDevice {
 public:
  cudaError_t Enter(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    entered_ = device;
    return previous_ == device ? cudaSuccess : cudaSetDevice(device);
  }
  ~ScopedDevice() {
    if (previous_ >= 0 && previous_ != entered_) cudaSetDevice(previous_);
  }

 private:
  int previous_ = -1;
  int entered_ = -1;
};

// A device allocation that only grows (with some headroom, so sizes that vary a little
// from call to call do not reallocate each time).
class DeviceBuffer {
 public:
  ~DeviceBuffer() { Release(); }
  MarchingCubesStatus Reserve(uint64_t bytes, int device, const char* what) {
    if (bytes <= capacity_) return MarchingCubesStatus::Ok();
    Release();
    const uint64_t roomy = bytes + bytes / 8;
    for (uint64_t attempt : {roomy, bytes}) {
      const cudaError_t error = cudaMalloc(&data_, attempt);
      if (error == cudaSuccess) {
        capacity_ = attempt;
        return MarchingCubesStatus::Ok();
      }
      data_ = nullptr;
      if (error != cudaErrorMemoryAllocation)
        return FromCuda(error, std::string("allocating ") + what);
      cudaGetLastError();
    }
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return MarchingCubesStatus::Error(MarchingCubesCode::kResourceExhausted,
                                      "CUDA marching cubes: out of device memory allocating " +
                                          Mib(bytes) + " for " + what + " on device " +
                                          std::to_string(device) + " (" + Mib(free_bytes) +
                                          " free of " + Mib(total_bytes) + ")");
  }
  void Release() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  uint64_t capacity() const { return capacity_; }

 private:
  void* data_ = nullptr;
  uint64_t capacity_ = 0;
};

// Passes 4 and 5: at most 64 registers, so that 4 blocks (1024 threads) share an SM and
// enough loads are in flight.
constexpr int kMinBlocksPerSm = 4;
constexpr unsigned kFullWarp = 0xffffffffu;

// Pass 1: each block's totals, its active rows' offsets within it and active lanes, and
// its row mask.
__global__ void __launch_bounds__(mc::kBlockThreads)
    CountKernel(mc::FieldView f, mc::TableView tables, mc::MeshCounts* __restrict__ block_counts,
                uint32_t* __restrict__ row_masks, uint64_t* __restrict__ row_prefix,
                uint32_t* __restrict__ lane_masks, unsigned long long* first_nonfinite) {
  __shared__ unsigned long long row_counts[mc::kRowsPerBlock];
  __shared__ unsigned long long word_totals[mc::kRowMaskWords];
  __shared__ uint32_t words[mc::kRowMaskWords];
  const uint32_t tx = threadIdx.x, ty = threadIdx.y;
  const uint64_t i = uint64_t(blockIdx.x) * mc::kBlockX + tx;
  const uint64_t j = uint64_t(blockIdx.y) * mc::kBlockY + ty;
  const uint64_t k0 = uint64_t(blockIdx.z) * mc::kBlockZ;
  const uint64_t b = mc::BlockIndex(gridDim.x, gridDim.y, blockIdx.x, blockIdx.y, blockIdx.z);
  mc::CountColumn(f, tables, i, j, k0, [&](int dz, const mc::SampleCounts& c) {
    if (c.nonfinite) {
      atomicMin(first_nonfinite,
                (unsigned long long)mc::SampleIndex(f, int(i), int(j), int(k0 + dz)));
    }
    const uint32_t lanes = __ballot_sync(kFullWarp, c.active());
    unsigned long long packed = c.Packed();
#pragma unroll
    for (int d = 16; d > 0; d /= 2) packed += __shfl_xor_sync(kFullWarp, packed, d);
    if (tx == 0) {
      row_counts[dz * mc::kBlockY + ty] = packed;
      if (lanes != 0) lane_masks[b * mc::kRowsPerBlock + dz * mc::kBlockY + ty] = lanes;
    }
  });
  __syncthreads();
  // Rows in order: warp w of the first kRowMaskWords scans rows 32w .. 32w + 31.
  const uint32_t rank = ty * mc::kBlockX + tx;
  unsigned long long own = 0, inclusive = 0;
  if (rank < mc::kRowsPerBlock) {
    own = row_counts[rank];
    inclusive = own;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const unsigned long long up = __shfl_up_sync(kFullWarp, inclusive, d);
      if (tx >= uint32_t(d)) inclusive += up;
    }
    const uint32_t word = __ballot_sync(kFullWarp, own != 0);
    if (tx == 31) word_totals[ty] = inclusive;
    if (tx == 0) {
      words[ty] = word;
      row_masks[b * mc::kRowMaskWords + ty] = word;
    }
  }
  __syncthreads();
  if (rank < mc::kRowsPerBlock && own != 0) {
    unsigned long long before = 0;
    for (uint32_t w = 0; w < ty; ++w) before += word_totals[w];
    row_prefix[b * mc::kRowsPerBlock + rank] = before + inclusive - own;
  }
  if (rank == 0) {
    unsigned long long sum = 0, rows = 0;
#pragma unroll
    for (int w = 0; w < mc::kRowMaskWords; ++w) {
      sum += word_totals[w];
      rows += mc::PopCount32(words[w]);
    }
    mc::MeshCounts counts = mc::UnpackCounts(sum);
    counts.rows = rows;
    block_counts[b] = counts;
  }
}

// Pass 2b: the active rows, listed in order (a thread per row mask word).
__global__ void CompactRowsKernel(const uint32_t* __restrict__ row_masks,
                                  const mc::MeshCounts* __restrict__ scanned,
                                  unsigned long long block_count,
                                  uint32_t* __restrict__ active_rows) {
  const uint64_t n = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= block_count * mc::kRowMaskWords) return;
  const uint64_t b = n / mc::kRowMaskWords;
  mc::CompactRowWord(row_masks, b == 0 ? 0 : scanned[b - 1].rows, b, int(n % mc::kRowMaskWords),
                     active_rows);
}

// Pass 3a: a thread per active row lists its active samples.
__global__ void ExpandRowsKernel(const uint32_t* __restrict__ active_rows, unsigned long long rows,
                                 const mc::MeshCounts* __restrict__ scanned,
                                 const uint64_t* __restrict__ row_prefix,
                                 const uint32_t* __restrict__ lane_masks,
                                 uint64_t* __restrict__ keys) {
  const uint64_t n = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= rows) return;
  const uint32_t row = active_rows[n];
  const uint32_t block = row / mc::kRowsPerBlock;
  const uint64_t first =
      (block == 0 ? 0ull : scanned[block - 1].samples) + mc::UnpackCounts(row_prefix[row]).samples;
  mc::ExpandRow(row, lane_masks[row], first, keys);
}

// Pass 3b: a thread per active sample classifies it.
__global__ void __launch_bounds__(256)
    SampleInfoKernel(mc::FieldView f, mc::TableView tables, mc::LaunchShape shape,
                     const uint64_t* __restrict__ keys, unsigned long long samples,
                     uint32_t* __restrict__ infos) {
  const uint64_t m = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= samples) return;
  infos[m] = mc::SampleInfoAt(f, tables, shape, keys[m]);
}

// Pass 4: a thread per active sample writes its edge vertices.
__global__ void __launch_bounds__(256, kMinBlocksPerSm)
    VertexKernel(mc::FieldView f, mc::LaunchShape shape, const uint64_t* __restrict__ keys,
                 const uint32_t* __restrict__ infos, const mc::SampleOffsets* __restrict__ offsets,
                 unsigned long long samples, mc::MeshBuffers out) {
  const uint64_t m = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= samples) return;
  const int flags = mc::InfoFlags(infos[m]);
  if (flags == 0) return;
  const mc::ThreadSample t = mc::SampleOfKey(f, shape, keys[m]);
  mc::WriteEdgeVertices(f, out, t.i, t.j, t.k, flags, offsets[m].vertices);
}

// Pass 5: a thread per active sample writes its cube's triangles and centre vertices.
__global__ void __launch_bounds__(256, kMinBlocksPerSm)
    TriangleKernel(mc::FieldView f, mc::TableView tables, mc::LaunchShape shape,
                   const uint64_t* __restrict__ keys, const uint32_t* __restrict__ infos,
                   const mc::SampleOffsets* __restrict__ offsets, unsigned long long samples,
                   unsigned long long edge_vertices, mc::MeshBuffers out) {
  const uint64_t m = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= samples) return;
  const uint32_t info = infos[m];
  if (mc::InfoTriangles(info) == 0) return;
  const mc::ThreadSample t = mc::SampleOfKey(f, shape, keys[m]);
  const mc::SampleOffsets o = offsets[m];
  mc::WriteSampleTriangles(f, tables, out, t, info, o.triangles,
                           uint32_t(edge_vertices + o.centers));
}

// Pass 5b: normals of the centre vertices [first, first + count).
__global__ void CenterNormalKernel(mc::FieldView f, mc::TableView tables, mc::MeshBuffers out,
                                   unsigned long long count) {
  for (uint64_t n = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; n < count;
       n += uint64_t(gridDim.x) * blockDim.x) {
    mc::WriteCenterNormal(f, tables, out, uint32_t(n));
  }
}

// Pass 6, only where some gradient vanished (the kernels check the count on the device
// so that the host need not wait for it).
__global__ void FaceNormalKernel(mc::MeshBuffers out, unsigned long long triangles) {
  if (*out.missing_count == 0) return;
  for (uint64_t t = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < triangles;
       t += uint64_t(gridDim.x) * blockDim.x) {
    mc::AccumulateFaceNormal(out, t);
  }
}

__global__ void NormalizeKernel(mc::MeshBuffers out, unsigned long long vertices) {
  if (*out.missing_count == 0) return;
  for (uint64_t v = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < vertices;
       v += uint64_t(gridDim.x) * blockDim.x) {
    mc::NormalizeMissingNormal(out, uint32_t(v));
  }
}

// Blocks of 256 threads, one thread per item (items < 2^32 * 256: samples of a grid that
// ValidateGridForCuda accepts).
unsigned int GridBlocks(uint64_t items) { return unsigned((items + 255) / 256); }

unsigned int GridStrideBlocks(uint64_t items) {
  return unsigned(std::min<uint64_t>((items + 255) / 256, 16384));
}

// What the host reads back after pass 2 (pinned).
struct Readback {
  mc::MeshCounts total;
  unsigned long long first_nonfinite;
  float nonfinite_value;
};

// The device-side counters (one allocation).
struct DeviceCounters {
  unsigned long long first_nonfinite;
  unsigned int missing_normals;
};

}  // namespace

struct CudaMarchingCubes::State {
  DeviceBuffer tables;
  mc::TableView table_view;      // Into `tables`.
  DeviceBuffer counters;         // DeviceCounters
  Readback* readback = nullptr;  // Pinned.
  DeviceBuffer block_counts;
  DeviceBuffer scanned;
  DeviceBuffer scan_temp;
  DeviceBuffer row_masks;
  DeviceBuffer row_prefix;
  DeviceBuffer active_rows;
  DeviceBuffer lane_masks;
  DeviceBuffer keys;
  DeviceBuffer infos;
  DeviceBuffer offsets;
  DeviceBuffer sample_scan_temp;
  DeviceBuffer edge_base;
  DeviceBuffer positions;
  DeviceBuffer normals;
  DeviceBuffer missing;
  DeviceBuffer triangles;
  DeviceBuffer center_cubes;
  DeviceBuffer field;  // For the host entry points.
  // For CudaExtractOptions::timings: before pass 1, after the scan, before pass 3, after
  // passes 3 and 4, after pass 5, after passes 5b and 6.
  cudaEvent_t events[6] = {};

  ~State() {
    if (readback != nullptr) cudaFreeHost(readback);
    for (cudaEvent_t e : events) {
      if (e != nullptr) cudaEventDestroy(e);
    }
  }
};

CudaMarchingCubes::CudaMarchingCubes(int device) : device_(device), state_(new State) {}

CudaMarchingCubes::~CudaMarchingCubes() {
  ScopedDevice scope;
  scope.Enter(device_);
  state_.reset();
}

MarchingCubesStatus CudaMarchingCubes::Create(const CudaMarchingCubesOptions& options,
                                              std::unique_ptr<CudaMarchingCubes>* out) {
  int count = 0;
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetDeviceCount(&count), "looking for CUDA devices");
  if (options.device < 0 || options.device >= count) {
    return MarchingCubesStatus::Error(MarchingCubesCode::kFailedPrecondition,
                                      "CUDA marching cubes: device " +
                                          std::to_string(options.device) + " is not visible (" +
                                          std::to_string(count) + " CUDA devices visible)");
  }
  ScopedDevice scope;
  KILN_MC_RETURN_IF_CUDA_ERROR(scope.Enter(options.device),
                               "selecting device " + std::to_string(options.device));
  // Fails with "no kernel image is available" where this build has no code for the SM.
  cudaFuncAttributes attributes;
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaFuncGetAttributes(&attributes, CountKernel),
                               "loading the marching cubes kernels");

  std::unique_ptr<CudaMarchingCubes> self(new CudaMarchingCubes(options.device));
  State& s = *self->state_;
  // The tables, packed into one upload (each array 4-byte aligned).
  const MarchingCubesTables& t = GetMarchingCubesTables();
  if (t.variant_count() > mc::kMaxVariant) {  // PackSampleInfo's field for it.
    return MarchingCubesStatus::Error(MarchingCubesCode::kInternal,
                                      "CUDA marching cubes: too many table variants");
  }
  std::vector<uint8_t> packed;
  auto append = [&packed](const void* data, size_t bytes) {
    const size_t at = packed.size();
    packed.resize(at + ((bytes + 3) & ~size_t{3}));
    std::memcpy(packed.data() + at, data, bytes);
    return at;
  };
  const size_t ambiguous = append(t.ambiguous_faces.data(), t.ambiguous_faces.size());
  const size_t first_variant = append(t.first_variant.data(), t.first_variant.size() * 4);
  const size_t tri_begin = append(t.tri_begin.data(), t.tri_begin.size() * 4);
  const size_t center_begin = append(t.center_begin.data(), t.center_begin.size() * 4);
  const size_t tri_codes = append(t.tri_codes.data(), t.tri_codes.size());
  const size_t center_edge_begin =
      append(t.center_edge_begin.data(), t.center_edge_begin.size() * 4);
  const size_t center_edges = append(t.center_edges.data(), t.center_edges.size());
  if (MarchingCubesStatus st = s.tables.Reserve(packed.size(), options.device, "the tables");
      !st.ok()) {
    return st;
  }
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cudaMemcpy(s.tables.as<void>(), packed.data(), packed.size(), cudaMemcpyHostToDevice),
      "uploading the tables");
  const uint8_t* base = s.tables.as<uint8_t>();
  s.table_view.ambiguous_faces = base + ambiguous;
  s.table_view.first_variant = reinterpret_cast<const uint32_t*>(base + first_variant);
  s.table_view.tri_begin = reinterpret_cast<const uint32_t*>(base + tri_begin);
  s.table_view.center_begin = reinterpret_cast<const uint32_t*>(base + center_begin);
  s.table_view.tri_codes = base + tri_codes;
  s.table_view.center_edge_begin = reinterpret_cast<const uint32_t*>(base + center_edge_begin);
  s.table_view.center_edges = base + center_edges;

  if (MarchingCubesStatus st =
          s.counters.Reserve(sizeof(DeviceCounters), options.device, "counters");
      !st.ok()) {
    return st;
  }
  void* pinned = nullptr;
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaMallocHost(&pinned, sizeof(Readback)),
                               "allocating pinned host memory");
  s.readback = new (pinned) Readback();
  for (cudaEvent_t& e : s.events) {
    KILN_MC_RETURN_IF_CUDA_ERROR(cudaEventCreate(&e), "creating timing events");
  }
  *out = std::move(self);
  return MarchingCubesStatus::Ok();
}

void CudaMarchingCubes::ReleaseBuffers() {
  ScopedDevice scope;
  scope.Enter(device_);
  State& s = *state_;
  for (DeviceBuffer* b :
       {&s.block_counts, &s.scanned, &s.scan_temp, &s.row_masks, &s.row_prefix, &s.active_rows,
        &s.lane_masks, &s.keys, &s.infos, &s.offsets, &s.sample_scan_temp, &s.edge_base,
        &s.positions, &s.normals, &s.missing, &s.triangles, &s.center_cubes, &s.field}) {
    b->Release();
  }
}

uint64_t CudaMarchingCubes::reserved_bytes() const {
  const State& s = *state_;
  uint64_t total = 0;
  for (const DeviceBuffer* b :
       {&s.block_counts, &s.scanned, &s.scan_temp, &s.row_masks, &s.row_prefix, &s.active_rows,
        &s.lane_masks, &s.keys, &s.infos, &s.offsets, &s.sample_scan_temp, &s.edge_base,
        &s.positions, &s.normals, &s.missing, &s.triangles, &s.center_cubes, &s.field}) {
    total += b->capacity();
  }
  return total;
}

MarchingCubesStatus CudaMarchingCubes::ExtractFromDevice(const float* device_field,
                                                         const GridSpec& grid,
                                                         const CudaExtractOptions& options,
                                                         DeviceMesh* mesh) {
  *mesh = DeviceMesh();
  if (options.timings != nullptr) *options.timings = CudaExtractTimings();
  if (MarchingCubesStatus st = mc::ValidateGridForCuda(grid); !st.ok()) return st;
  if (device_field == nullptr) {
    return MarchingCubesStatus::Error(MarchingCubesCode::kInvalidArgument, "field: null pointer");
  }
  ScopedDevice scope;
  KILN_MC_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting device " + std::to_string(device_));
  State& s = *state_;
  const cudaStream_t stream = options.stream;
  const mc::FieldView f = mc::MakeFieldView(device_field, grid, options.iso);
  const mc::LaunchShape shape = mc::LaunchShapeFor(grid);
  const dim3 block(mc::kBlockX, mc::kBlockY);
  const int blocks = int(shape.block_count);  // <= 2^25 (ValidateGridForCuda).

  // Passes 1 and 2.
  size_t scan_bytes = 0;
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cub::DeviceScan::InclusiveScan(nullptr, scan_bytes, s.block_counts.as<mc::MeshCounts>(),
                                     s.scanned.as<mc::MeshCounts>(), mc::AddMeshCounts(), blocks,
                                     stream),
      "sizing the block scan");
  for (auto [buffer, bytes, what] :
       {std::tuple{&s.block_counts, shape.block_count * sizeof(mc::MeshCounts), "block counts"},
        std::tuple{&s.scanned, shape.block_count * sizeof(mc::MeshCounts), "scanned block counts"},
        std::tuple{&s.scan_temp, uint64_t(std::max<size_t>(scan_bytes, 1)), "the scan"},
        std::tuple{&s.row_masks, shape.block_count * mc::kRowMaskWords * 4, "row masks"},
        std::tuple{&s.row_prefix, shape.block_count * mc::kRowsPerBlock * 8, "row offsets"},
        std::tuple{&s.active_rows, shape.block_count * mc::kRowsPerBlock * 4, "active rows"},
        std::tuple{&s.lane_masks, shape.block_count * mc::kRowsPerBlock * 4, "active lanes"}}) {
    if (MarchingCubesStatus st = buffer->Reserve(bytes, device_, what); !st.ok()) return st;
  }
  DeviceCounters* counters = s.counters.as<DeviceCounters>();
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaMemsetAsync(counters, 0xff, sizeof(DeviceCounters), stream),
                               "resetting counters");
  auto mark = [&](int event) {
    return options.timings == nullptr ? cudaSuccess : cudaEventRecord(s.events[event], stream);
  };
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(0), "recording a timing event");
  CountKernel<<<dim3(shape.blocks_x, shape.blocks_y, shape.blocks_z), block, 0, stream>>>(
      f, s.table_view, s.block_counts.as<mc::MeshCounts>(), s.row_masks.as<uint32_t>(),
      s.row_prefix.as<uint64_t>(), s.lane_masks.as<uint32_t>(), &counters->first_nonfinite);
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the count pass");
  KILN_MC_RETURN_IF_CUDA_ERROR(cub::DeviceScan::InclusiveScan(s.scan_temp.as<void>(), scan_bytes,
                                                              s.block_counts.as<mc::MeshCounts>(),
                                                              s.scanned.as<mc::MeshCounts>(),
                                                              mc::AddMeshCounts(), blocks, stream),
                               "scanning the block counts");
  // The active rows are listed before the round trip (their list is sized for all rows).
  const uint64_t mask_words = shape.block_count * mc::kRowMaskWords;
  CompactRowsKernel<<<unsigned((mask_words + 255) / 256), 256, 0, stream>>>(
      s.row_masks.as<uint32_t>(), s.scanned.as<mc::MeshCounts>(), shape.block_count,
      s.active_rows.as<uint32_t>());
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the row compaction");
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(1), "recording a timing event");
  Readback* readback = s.readback;
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(&readback->total, s.scanned.as<mc::MeshCounts>() + (blocks - 1),
                      sizeof(mc::MeshCounts), cudaMemcpyDeviceToHost, stream),
      "reading the totals");
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(&readback->first_nonfinite, &counters->first_nonfinite,
                      sizeof(unsigned long long), cudaMemcpyDeviceToHost, stream),
      "reading the non-finite check");
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(stream), "running the count pass");
  if (readback->first_nonfinite != std::numeric_limits<unsigned long long>::max()) {
    KILN_MC_RETURN_IF_CUDA_ERROR(
        cudaMemcpyAsync(&readback->nonfinite_value, device_field + readback->first_nonfinite,
                        sizeof(float), cudaMemcpyDeviceToHost, stream),
        "reading a non-finite sample");
    KILN_MC_RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(stream), "reading a non-finite sample");
    return mc::NonFiniteSampleAt(grid, readback->first_nonfinite, readback->nonfinite_value);
  }
  const mc::MeshCounts total = readback->total;
  const uint64_t vertex_count = total.vertices + total.centers;
  if (vertex_count > uint64_t{std::numeric_limits<uint32_t>::max()} + 1) {
    return MarchingCubesStatus::Error(
        MarchingCubesCode::kResourceExhausted,
        "mesh has more than 2^32 vertices (" + std::to_string(vertex_count) + ")");
  }
  if (vertex_count == 0) return MarchingCubesStatus::Ok();

  // Passes 3 to 6.
  const bool normals = options.normals;
  const uint64_t samples = total.samples;
  size_t sample_scan_bytes = 0;
  const auto offsets_of = [](const uint32_t* infos) {
    return thrust::make_transform_iterator(infos, mc::SampleOffsetsOfInfo());
  };
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cub::DeviceScan::ExclusiveScan(nullptr, sample_scan_bytes, offsets_of(nullptr),
                                     s.offsets.as<mc::SampleOffsets>(), mc::AddSampleOffsets(),
                                     mc::SampleOffsets{}, int64_t(samples), stream),
      "sizing the sample scan");
  for (auto [buffer, bytes, what] :
       {std::tuple{&s.keys, samples * 8, "active samples"},
        std::tuple{&s.infos, samples * 4, "active sample cases"},
        std::tuple{&s.offsets, samples * sizeof(mc::SampleOffsets), "active sample offsets"},
        std::tuple{&s.sample_scan_temp, uint64_t(std::max<size_t>(sample_scan_bytes, 1)),
                   "the sample scan"},
        std::tuple{&s.edge_base, mc::SampleCount(grid) * 4, "the per-sample vertex index"},
        std::tuple{&s.positions, vertex_count * 12, "vertex positions"},
        std::tuple{&s.normals, normals ? vertex_count * 12 : 0, "vertex normals"},
        std::tuple{&s.missing, normals ? vertex_count : 0, "normal flags"},
        std::tuple{&s.triangles, uint64_t(total.triangles) * 12, "triangles"},
        std::tuple{&s.center_cubes, normals ? uint64_t(total.centers) * 8 : 0, "centre cubes"}}) {
    if (MarchingCubesStatus st = buffer->Reserve(bytes, device_, what); !st.ok()) return st;
  }
  mc::MeshBuffers out;
  out.edge_base = s.edge_base.as<uint32_t>();
  out.positions = s.positions.as<float>();
  out.normals = normals ? s.normals.as<float>() : nullptr;
  out.missing = normals ? s.missing.as<uint8_t>() : nullptr;
  out.missing_count = &counters->missing_normals;
  out.triangles = s.triangles.as<uint32_t>();
  out.center_cubes = normals ? s.center_cubes.as<uint64_t>() : nullptr;
  out.first_center = uint32_t(total.vertices);
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cudaMemsetAsync(&counters->missing_normals, 0, sizeof(unsigned int), stream),
      "resetting counters");
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(2), "recording a timing event");
  ExpandRowsKernel<<<GridBlocks(total.rows), 256, 0, stream>>>(
      s.active_rows.as<uint32_t>(), total.rows, s.scanned.as<mc::MeshCounts>(),
      s.row_prefix.as<uint64_t>(), s.lane_masks.as<uint32_t>(), s.keys.as<uint64_t>());
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the sample listing");
  const unsigned sample_blocks = GridBlocks(samples);
  SampleInfoKernel<<<sample_blocks, 256, 0, stream>>>(f, s.table_view, shape, s.keys.as<uint64_t>(),
                                                      samples, s.infos.as<uint32_t>());
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the sample pass");
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cub::DeviceScan::ExclusiveScan(s.sample_scan_temp.as<void>(), sample_scan_bytes,
                                     offsets_of(s.infos.as<uint32_t>()),
                                     s.offsets.as<mc::SampleOffsets>(), mc::AddSampleOffsets(),
                                     mc::SampleOffsets{}, int64_t(samples), stream),
      "scanning the active samples");
  VertexKernel<<<sample_blocks, 256, 0, stream>>>(f, shape, s.keys.as<uint64_t>(),
                                                  s.infos.as<uint32_t>(),
                                                  s.offsets.as<mc::SampleOffsets>(), samples, out);
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the vertex pass");
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(3), "recording a timing event");
  TriangleKernel<<<sample_blocks, 256, 0, stream>>>(
      f, s.table_view, shape, s.keys.as<uint64_t>(), s.infos.as<uint32_t>(),
      s.offsets.as<mc::SampleOffsets>(), samples, total.vertices, out);
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the triangle pass");
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(4), "recording a timing event");
  if (normals && total.centers > 0) {
    CenterNormalKernel<<<GridStrideBlocks(total.centers), 256, 0, stream>>>(f, s.table_view, out,
                                                                            total.centers);
    KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the centre normal pass");
  }
  if (normals && total.triangles > 0) {
    FaceNormalKernel<<<GridStrideBlocks(total.triangles), 256, 0, stream>>>(out, total.triangles);
    KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the face normal pass");
    NormalizeKernel<<<GridStrideBlocks(vertex_count), 256, 0, stream>>>(out, vertex_count);
    KILN_MC_RETURN_IF_CUDA_ERROR(cudaGetLastError(), "launching the normalize pass");
  }
  KILN_MC_RETURN_IF_CUDA_ERROR(mark(5), "recording a timing event");
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(stream), "running the mesh passes");
  if (options.timings != nullptr) {
    float ms[5] = {};
    for (int e = 0; e < 5; ++e) {
      KILN_MC_RETURN_IF_CUDA_ERROR(cudaEventElapsedTime(&ms[e], s.events[e], s.events[e + 1]),
                                   "reading timing events");
    }
    CudaExtractTimings& t = *options.timings;
    t.count_ms = ms[0];
    t.host_gap_ms = ms[1];
    t.vertices_ms = ms[2];
    t.triangles_ms = ms[3];
    t.normals_ms = ms[4];
    t.total_ms = ms[0] + ms[1] + ms[2] + ms[3] + ms[4];
  }

  mesh->positions = out.positions;
  mesh->normals = out.normals;
  mesh->triangles = out.triangles;
  mesh->vertex_count = vertex_count;
  mesh->triangle_count = total.triangles;
  return MarchingCubesStatus::Ok();
}

MarchingCubesStatus CudaMarchingCubes::Download(const DeviceMesh& mesh, cudaStream_t stream,
                                                Mesh* out) {
  ScopedDevice scope;
  KILN_MC_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting device " + std::to_string(device_));
  out->positions.resize(mesh.vertex_count);
  out->normals.resize(mesh.normals != nullptr ? mesh.vertex_count : 0);
  out->triangles.resize(mesh.triangle_count);
  if (mesh.vertex_count > 0) {
    KILN_MC_RETURN_IF_CUDA_ERROR(
        cudaMemcpyAsync(out->positions.data(), mesh.positions, mesh.vertex_count * 12,
                        cudaMemcpyDeviceToHost, stream),
        "downloading positions");
  }
  if (mesh.normals != nullptr && mesh.vertex_count > 0) {
    KILN_MC_RETURN_IF_CUDA_ERROR(
        cudaMemcpyAsync(out->normals.data(), mesh.normals, mesh.vertex_count * 12,
                        cudaMemcpyDeviceToHost, stream),
        "downloading normals");
  }
  if (mesh.triangle_count > 0) {
    KILN_MC_RETURN_IF_CUDA_ERROR(
        cudaMemcpyAsync(out->triangles.data(), mesh.triangles, mesh.triangle_count * 12,
                        cudaMemcpyDeviceToHost, stream),
        "downloading triangles");
  }
  KILN_MC_RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(stream), "downloading the mesh");
  return MarchingCubesStatus::Ok();
}

MarchingCubesStatus CudaMarchingCubes::ExtractFromHost(std::span<const float> field,
                                                       const GridSpec& grid,
                                                       const CudaExtractOptions& options,
                                                       Mesh* out) {
  if (MarchingCubesStatus st = mc::ValidateGridForCuda(grid); !st.ok()) return st;
  if (MarchingCubesStatus st = mc::ValidateFieldSize(grid, field.size()); !st.ok()) return st;
  ScopedDevice scope;
  KILN_MC_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting device " + std::to_string(device_));
  if (MarchingCubesStatus st = state_->field.Reserve(field.size_bytes(), device_, "the field");
      !st.ok()) {
    return st;
  }
  KILN_MC_RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(state_->field.as<float>(), field.data(), field.size_bytes(),
                      cudaMemcpyHostToDevice, options.stream),
      "uploading the field");
  DeviceMesh mesh;
  if (MarchingCubesStatus st = ExtractFromDevice(state_->field.as<float>(), grid, options, &mesh);
      !st.ok()) {
    return st;
  }
  return Download(mesh, options.stream, out);
}

MarchingCubesStatus CudaMarchingCubes::ExtractFromSlices(
    const GridSpec& grid, const SliceSampler& sample, const CudaExtractOptions& options,
    const std::function<void(int done, int total)>& progress, Mesh* out) {
  if (MarchingCubesStatus st = mc::ValidateGridForCuda(grid); !st.ok()) return st;
  ScopedDevice scope;
  KILN_MC_RETURN_IF_CUDA_ERROR(scope.Enter(device_), "selecting device " + std::to_string(device_));
  const uint64_t slice = (uint64_t(grid.cells[0]) + 1) * (uint64_t(grid.cells[1]) + 1);
  if (MarchingCubesStatus st =
          state_->field.Reserve(mc::SampleCount(grid) * sizeof(float), device_, "the field");
      !st.ok()) {
    return st;
  }
  std::vector<float> values(slice);
  for (int k = 0; k <= grid.cells[2]; ++k) {
    sample(k, std::span<float>(values));
    // From pageable memory the copy has taken the data when the call returns, so the
    // buffer can be refilled at once.
    KILN_MC_RETURN_IF_CUDA_ERROR(
        cudaMemcpyAsync(state_->field.as<float>() + slice * k, values.data(), slice * sizeof(float),
                        cudaMemcpyHostToDevice, options.stream),
        "uploading slice " + std::to_string(k));
    if (progress && k > 0) progress(k, grid.cells[2]);
  }
  DeviceMesh mesh;
  if (MarchingCubesStatus st = ExtractFromDevice(state_->field.as<float>(), grid, options, &mesh);
      !st.ok()) {
    return st;
  }
  return Download(mesh, options.stream, out);
}

}  // namespace kiln::tasks
