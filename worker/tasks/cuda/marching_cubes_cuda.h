// CudaMarchingCubes: marching cubes on a CUDA device, making the same mesh as the CPU
// path (marching_cubes_cpu.h) from the same field: the same vertices (one per crossing
// grid edge, plus the rare loop centres), the same triangles from the same tables and
// asymptotic decisions. Only the order of vertices and triangles differs (see
// marching_cubes_passes.h for the passes and the order they produce).
//
// The object owns its device scratch and output buffers and reuses them across calls
// (they grow to the largest grid seen; ReleaseBuffers() gives them back), so a steady
// stream of same-sized extractions allocates nothing. Per call, besides the output mesh:
// 4 bytes per sample (each sample's first edge vertex; only those on the surface are
// written), 12 bytes per row of 32 samples (row offsets and the active row list) and 80
// bytes per block of 4096 samples; the host entry points also hold the field (4 bytes per
// sample). The field is read in full once (pass 1); the later passes visit only the rows
// the surface touches.
//
// Errors come back as MarchingCubesStatus, never as an abort or exception: a NaN or
// infinite sample is InvalidArgument naming the first one (the object stays usable); out
// of device memory is ResourceExhausted; a device our kernels cannot run on (no kernel
// image) is FailedPrecondition with CUDA's message; an error that breaks the CUDA
// context (illegal address) is Internal, after which the process should be restarted.
//
// Depends on the CUDA runtime and the C++ standard library only (no Abseil, no
// protobuf). Not thread-safe: one thread at a time per object; objects are independent.
#ifndef KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_CUDA_H_
#define KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "worker/tasks/marching_cubes_types.h"
#include "worker/tasks/mesh.h"

namespace kiln::tasks {

struct CudaMarchingCubesOptions {
  // The CUDA device ordinal (a GPU slot's executor sees its GPU as 0).
  int device = 0;
};

// Where the device time of one ExtractFromDevice went (cudaEvent timings), for the
// benchmark. host_gap_ms is the round trip that sizes the outputs.
struct CudaExtractTimings {
  float count_ms = 0;      // Pass 1, the scan over blocks and the active row list.
  float host_gap_ms = 0;   // Reading the totals back, allocating, launching.
  float vertices_ms = 0;   // Pass 3.
  float triangles_ms = 0;  // Pass 4.
  float normals_ms = 0;    // Pass 5 (vanished gradients; a no-op when there are none).
  float total_ms = 0;
};

struct CudaExtractOptions {
  // The level to extract; a sample is inside when value < iso.
  double iso = 0;
  // Vertex normals from the field's central-difference gradient, interpolated to the
  // vertex (SampledFieldGradient in marching_cubes_cpu.h computes the same on the CPU);
  // the area-weighted face normal where that gradient vanishes.
  bool normals = false;
  // The stream all work is queued on; null: the default stream. The call synchronizes
  // with it twice (to size the outputs, and before returning).
  cudaStream_t stream = nullptr;
  // When set, filled in by ExtractFromDevice (costs a few event records).
  CudaExtractTimings* timings = nullptr;
};

// A mesh in device memory, owned by the CudaMarchingCubes that made it and valid until
// that object's next Extract*, ReleaseBuffers or destruction.
struct DeviceMesh {
  const float* positions = nullptr;     // 3 floats per vertex
  const float* normals = nullptr;       // 3 floats per vertex; null without normals
  const uint32_t* triangles = nullptr;  // 3 vertex indices per triangle, CCW from outside
  uint64_t vertex_count = 0;
  uint64_t triangle_count = 0;
};

class CudaMarchingCubes {
 public:
  // Checks that the device is visible and can run our kernels, and uploads the tables.
  // FailedPrecondition when it is not (no driver, no device, no kernel image).
  static MarchingCubesStatus Create(const CudaMarchingCubesOptions& options,
                                    std::unique_ptr<CudaMarchingCubes>* out);
  ~CudaMarchingCubes();
  CudaMarchingCubes(const CudaMarchingCubes&) = delete;
  CudaMarchingCubes& operator=(const CudaMarchingCubes&) = delete;

  // The field is already on this object's device: (cells+1)^3 float32 samples, x
  // fastest (sample (i, j, k) at i + (nx+1) * (j + (ny+1) * k)), at origin + (i, j, k) *
  // spacing. The field is only read.
  MarchingCubesStatus ExtractFromDevice(const float* device_field, const GridSpec& grid,
                                        const CudaExtractOptions& options, DeviceMesh* mesh);

  // Copies a mesh of this object to the host.
  MarchingCubesStatus Download(const DeviceMesh& mesh, cudaStream_t stream, Mesh* out);

  // Uploads a host field (same layout as above), extracts and downloads.
  MarchingCubesStatus ExtractFromHost(std::span<const float> field, const GridSpec& grid,
                                      const CudaExtractOptions& options, Mesh* out);

  // Samples the field slice by slice on the host (as the CPU path does), uploading each
  // slice, then extracts and downloads. `progress` (may be empty) gets (slices uploaded
  // after the first, cells[2]).
  MarchingCubesStatus ExtractFromSlices(const GridSpec& grid, const SliceSampler& sample,
                                        const CudaExtractOptions& options,
                                        const std::function<void(int done, int total)>& progress,
                                        Mesh* out);

  // Frees the scratch and output buffers (the tables stay).
  void ReleaseBuffers();
  // Device memory currently held by the buffers, in bytes.
  uint64_t reserved_bytes() const;
  int device() const { return device_; }

 private:
  struct State;
  explicit CudaMarchingCubes(int device);

  const int device_;
  std::unique_ptr<State> state_;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_CUDA_MARCHING_CUBES_CUDA_H_
