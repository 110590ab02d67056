// FusedMlpField: decodes an MLP field network (see mlp_weights.h) over a dense grid on one
// CUDA device, writing float32 samples into a device buffer in the marching cubes layout
// (grid_spec.h), so decode and extraction chain without a host round trip. No LibTorch.
//
// Per chunk of at most Options::max_chunk_points samples it runs
//   first layer (kernel: grid index -> xyz -> W1,b1 -> ReLU; points never stored)
//   -> hidden layers (cuBLASLt GEMMs with the fused bias+ReLU epilogue, fp32 accumulate)
//   -> output layer (kernel: one warp per point, writes the float field directly),
// captured once as a CUDA graph (one of one chunk and one of several back to back) that is
// relaunched until the grid is done (a device-side chunk counter moves it along). Device memory is
// fixed at Create: activations 2 x chunk x width, the cuBLASLt workspace and the weights; it does
// not grow with the grid.
//
// Ownership and threads: the object owns all its device memory, its cuBLASLt handle, stream
// and graph. One Decode at a time per object (it is not thread-safe); consecutive Decodes on
// different streams are ordered by the object itself (each waits for the previous one).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "worker/fieldnet/fieldnet_status.h"
#include "worker/fieldnet/grid_spec.h"
#include "worker/fieldnet/mlp_weights.h"

namespace kiln::fieldnet {

// Storage type of weights and activations; accumulation is fp32 in every case.
enum class Precision { kBf16, kFp16, kFp32 };
const char* PrecisionName(Precision precision);  // "bf16", "fp16", "fp32"

// Called between chunks with samples finished so far; return false to cancel the decode.
using DecodeProgressCallback = std::function<bool(int64_t samples_done, int64_t samples_total)>;

class FusedMlpField {
 public:
  struct Options {
    Precision precision = Precision::kBf16;
    // Samples per chunk: bounds activation memory (2 * chunk * padded width * element size).
    int64_t max_chunk_points = int64_t{1} << 20;
    int device = 0;
    // cuBLASLt workspace; 32 MiB is what Hopper's best kernels ask for.
    int64_t workspace_bytes = int64_t{32} << 20;
    // Time cuBLASLt's heuristic candidates once at Create and keep the fastest; else the
    // heuristic's first choice.
    bool autotune = true;
    int autotune_candidates = 8;
    // Relaunch one captured CUDA graph per chunk (false: launch the kernels one by one; for
    // comparison in the benchmark).
    bool use_cuda_graph = true;
    // Chunks per graph launch where that many remain (a graph of N chunks back to back
    // saves the gap between graph launches); the rest go one chunk per launch. 1: off.
    int chunks_per_graph = 8;
    // With a progress callback, report about every this many samples.
    int64_t progress_interval_samples = int64_t{1} << 24;
  };

  // Validates the weights and options, uploads the weights (converted to the precision,
  // hidden widths padded to a multiple of 8 with zero units), allocates the buffers,
  // chooses the GEMM algorithms and captures the graph. Errors: InvalidArgument (weights,
  // options), FailedPrecondition (e.g. bf16 on a device below compute capability 8.0),
  // ResourceExhausted (device memory), Unavailable (no device), Internal (CUDA/cuBLAS).
  static Status Create(const MlpWeights& mlp, const Options& options,
                       std::unique_ptr<FusedMlpField>* field);

  ~FusedMlpField();
  FusedMlpField(const FusedMlpField&) = delete;
  FusedMlpField& operator=(const FusedMlpField&) = delete;

  // Decodes `grid` into device_field[GridSampleCount(grid)] (device memory of this object's
  // device, floats, x fastest) and, for a 4-output network, the raw colour outputs into
  // device_colour[3 * samples] (interleaved r, g, b; may be null; must be null for a
  // 1-output network). Work is queued on `stream`. Without a progress callback it returns
  // once queued (errors in the kernels surface at the caller's synchronisation); with one,
  // it returns when the decode has finished, or been cancelled (kCancelled; then nothing
  // queued by it is still running). The buffers' sizes cannot be checked: the caller owns that.
  Status Decode(const GridSpec& grid, float* device_field, float* device_colour,
                cudaStream_t stream, const DecodeProgressCallback& progress = {});

  Precision precision() const;
  int output_count() const;
  int64_t max_chunk_points() const;
  // Device bytes held (weights, activations, workspace).
  int64_t device_bytes() const;
  // One line per GEMM layer: shape and the chosen algorithm's id, tile and time.
  const std::string& algorithm_summary() const;

 private:
  struct Impl;
  explicit FusedMlpField(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::fieldnet
