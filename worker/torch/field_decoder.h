// Field decoding: evaluates a field model (points [N,3] -> values [N], or [N,1], or
// [N,4] with color) on the samples of a regular grid, batch by batch, on the model's
// device and in its dtype. Only one batch of points and values lives on the device at a
// time; each batch's values (float32, still on the device) go to a sink, which decides
// where the field lives: DecodeFieldToHost() copies it into one host buffer, and a GPU
// marching cubes can take a device-resident sink instead (the seam for it).
// Errors: a wrong output shape is InvalidArgument naming the model and the shape, NaN or
// infinite values InvalidArgument saying how many, LibTorch errors during forward()
// InvalidArgument with LibTorch's first line (ResourceExhausted for out of memory).
// Called from one thread at a time per model.
#ifndef KILN_WORKER_TORCH_FIELD_DECODER_H_
#define KILN_WORKER_TORCH_FIELD_DECODER_H_

#include <torch/script.h>

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/torch/model_cache.h"

namespace kiln::torchrt {

struct FieldDecodeOptions {
  // Points per forward() call.
  int64_t batch_size = 262144;
  // Called after each batch with the fraction of points done.
  std::function<void(double fraction)> progress;
};

// Gets values (1-D float32 on the model's device) for linear samples
// [offset, offset + values.numel()); sample (i, j, k) is i + sx * (j + sy * k) with
// sx = cells[0] + 1, sy = cells[1] + 1.
using FieldBatchSink = std::function<absl::Status(int64_t offset, const torch::Tensor& values)>;

// Samples of `grid`: (cells[0]+1) * (cells[1]+1) * (cells[2]+1).
int64_t GridSampleCount(const tasks::GridSpec& grid);

// Runs `model` on one batch of points ([N,3] on its device, in its dtype) and returns
// the field values as 1-D float32 on the device, checked for shape and finiteness.
absl::StatusOr<torch::Tensor> EvaluateFieldModel(const LoadedModel& model,
                                                 const torch::Tensor& points);

absl::Status DecodeField(const LoadedModel& model, const tasks::GridSpec& grid,
                         const FieldDecodeOptions& options, const FieldBatchSink& sink);

// DecodeField into a host buffer of GridSampleCount(grid) floats.
absl::StatusOr<std::vector<float>> DecodeFieldToHost(const LoadedModel& model,
                                                     const tasks::GridSpec& grid,
                                                     const FieldDecodeOptions& options);

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_FIELD_DECODER_H_
