#include "worker/torch/field_decoder.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace kiln::torchrt {
namespace {

std::string FirstLine(std::string_view what) {
  return std::string(what.substr(0, what.find('\n')));
}

std::string ShapeString(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes().vec(), ", "), "]");
}

absl::Status ForwardError(const LoadedModel& model, int64_t points, std::string_view what) {
  std::string lower(what);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  const std::string message = absl::StrCat("model ", model.model_key, ": forward() failed on ",
                                           points, " points: ", FirstLine(what));
  if (lower.find("out of memory") != std::string::npos) {
    return absl::ResourceExhaustedError(
        absl::StrCat(message, " (a smaller batch_size needs less device memory)"));
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace

int64_t GridSampleCount(const tasks::GridSpec& grid) {
  return int64_t{grid.cells[0] + 1} * (grid.cells[1] + 1) * (grid.cells[2] + 1);
}

absl::StatusOr<torch::Tensor> EvaluateFieldModel(const LoadedModel& model,
                                                 const torch::Tensor& points) {
  const int64_t n = points.size(0);
  torch::Tensor values;
  try {
    torch::jit::IValue output = model.module.forward({points});
    if (!output.isTensor()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model ", model.model_key, ": forward() returned a ", output.tagKind(),
                       ", not a tensor of shape [N] or [N, 1] (N = ", n, ")"));
    }
    values = output.toTensor();
  } catch (const c10::Error& e) {
    return ForwardError(model, n, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return ForwardError(model, n, e.what());
  }
  // [N], [N, 1], or [N, 4] (value then RGB; the color is not used yet).
  const bool shape_ok =
      (values.dim() == 1 && values.size(0) == n) ||
      (values.dim() == 2 && values.size(0) == n && (values.size(1) == 1 || values.size(1) == 4));
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", model.model_key, ": forward() returned shape ", ShapeString(values),
        " for points of shape ", ShapeString(points), "; expected [", n, "] or [", n, ", 1]"));
  }
  if (!values.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", model.model_key, ": forward() returned ",
                     c10::toString(values.scalar_type()), " values, not floating point"));
  }
  if (values.dim() == 2) values = values.select(1, 0);
  values = values.to(torch::kFloat32).contiguous();
  const int64_t finite = torch::isfinite(values).sum().item<int64_t>();
  if (finite != n) {
    return absl::InvalidArgumentError(absl::StrCat("model ", model.model_key, ": ", n - finite,
                                                   " of ", n,
                                                   " field values in a batch are NaN or infinite"));
  }
  return values;
}

absl::Status DecodeField(const LoadedModel& model, const tasks::GridSpec& grid,
                         const FieldDecodeOptions& options, const FieldBatchSink& sink) {
  if (options.batch_size < 1) return absl::InvalidArgumentError("batch_size must be >= 1");
  const int64_t total = GridSampleCount(grid);
  const int64_t sx = grid.cells[0] + 1;
  const int64_t sy = grid.cells[1] + 1;
  torch::InferenceMode inference;
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64).device(model.device);
  for (int64_t offset = 0; offset < total; offset += options.batch_size) {
    const int64_t n = std::min(options.batch_size, total - offset);
    torch::Tensor points;
    try {
      // The points are made on the device from their indices: no host copy per batch.
      const torch::Tensor index = torch::arange(offset, offset + n, index_options);
      const torch::Tensor i = index.remainder(sx);
      const torch::Tensor j = index.div(sx, "floor").remainder(sy);
      const torch::Tensor k = index.div(sx * sy, "floor");
      points = torch::stack({i.to(torch::kFloat32) * grid.spacing[0] + grid.origin[0],
                             j.to(torch::kFloat32) * grid.spacing[1] + grid.origin[1],
                             k.to(torch::kFloat32) * grid.spacing[2] + grid.origin[2]},
                            1)
                   .to(model.dtype);
    } catch (const c10::Error& e) {
      return ForwardError(model, n, e.what_without_backtrace());
    }
    KILN_ASSIGN_OR_RETURN(const torch::Tensor values, EvaluateFieldModel(model, points));
    KILN_RETURN_IF_ERROR(sink(offset, values));
    if (options.progress) options.progress(static_cast<double>(offset + n) / total);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> DecodeFieldToHost(const LoadedModel& model,
                                                     const tasks::GridSpec& grid,
                                                     const FieldDecodeOptions& options) {
  std::vector<float> field;
  try {
    field.resize(static_cast<size_t>(GridSampleCount(grid)));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of host memory for a field of ", GridSampleCount(grid), " samples"));
  }
  KILN_RETURN_IF_ERROR(DecodeField(
      model, grid, options, [&](int64_t offset, const torch::Tensor& values) -> absl::Status {
        try {
          const torch::Tensor host = values.to(torch::kCPU).contiguous();
          std::memcpy(field.data() + offset, host.data_ptr<float>(),
                      static_cast<size_t>(host.numel()) * sizeof(float));
        } catch (const c10::Error& e) {
          return absl::InternalError(absl::StrCat("copying field values to the host: ",
                                                  FirstLine(e.what_without_backtrace())));
        }
        return absl::OkStatus();
      }));
  return field;
}

}  // namespace kiln::torchrt
