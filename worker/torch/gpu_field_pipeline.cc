#include "worker/torch/gpu_field_pipeline.h"

#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/fieldnet/fused_mlp_field.h"
#include "worker/tasks/cuda/marching_cubes_cuda.h"
#include "worker/torch/field_decoder.h"
#include "worker/torch/plain_mlp.h"

namespace kiln::torchrt {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status FromFieldnet(const fieldnet::Status& s) {
  const std::string message = absl::StrCat("fused MLP decode: ", s.message());
  switch (s.code()) {
    case fieldnet::StatusCode::kOk:
      return absl::OkStatus();
    case fieldnet::StatusCode::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case fieldnet::StatusCode::kFailedPrecondition:
      return absl::FailedPreconditionError(message);
    case fieldnet::StatusCode::kResourceExhausted:
      return absl::ResourceExhaustedError(message);
    case fieldnet::StatusCode::kUnavailable:
      return absl::UnavailableError(message);
    case fieldnet::StatusCode::kCancelled:
      return absl::CancelledError(message);
    case fieldnet::StatusCode::kInternal:
      break;
  }
  return absl::InternalError(message);
}

absl::Status FromCuda(cudaError_t error, absl::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", cudaGetErrorString(error));
  return error == cudaErrorMemoryAllocation ? absl::ResourceExhaustedError(message)
                                            : absl::InternalError(message);
}

// One device allocation of floats, freed when it goes out of scope.
class DeviceFloats {
 public:
  ~DeviceFloats() {
    if (data_ != nullptr) cudaFree(data_);
  }
  absl::Status Allocate(int64_t count) {
    return FromCuda(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(float)),
                    absl::StrCat("allocating the field (", count, " samples)"));
  }
  float* data() const { return data_; }

 private:
  float* data_ = nullptr;
};

std::optional<fieldnet::Precision> FusedPrecision(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return fieldnet::Precision::kBf16;
    case torch::kHalf:
      return fieldnet::Precision::kFp16;
    case torch::kFloat:
      return fieldnet::Precision::kFp32;
    default:
      return std::nullopt;
  }
}

fieldnet::GridSpec FieldnetGrid(const tasks::GridSpec& grid) {
  fieldnet::GridSpec g;
  for (int a = 0; a < 3; ++a) {
    g.origin[a] = static_cast<float>(grid.origin[a]);
    g.spacing[a] = static_cast<float>(grid.spacing[a]);
    g.cells[a] = grid.cells[a];
  }
  return g;
}

}  // namespace

struct GpuFieldPipeline::State {
  // Per model key: its weights when it is a plain MLP, else why not (checked once).
  std::map<std::string, absl::StatusOr<fieldnet::MlpWeights>> plain_mlps;
  // The fused decoder of the last (model, dtype, batch, negation) it ran.
  std::string fused_key;
  std::unique_ptr<fieldnet::FusedMlpField> fused;
  std::unique_ptr<tasks::CudaMarchingCubes> marching_cubes;
};

bool GpuFieldPipeline::Built() { return true; }

GpuFieldPipeline::GpuFieldPipeline() : state_(std::make_unique<State>()) {}
GpuFieldPipeline::~GpuFieldPipeline() = default;

absl::StatusOr<GpuFieldResult> GpuFieldPipeline::Run(const GpuFieldJob& job) {
  const LoadedModel& model = *job.model;
  if (!model.device.is_cuda()) {
    return absl::FailedPreconditionError("the GPU field pipeline needs a model on a CUDA device");
  }
  const int device = model.device.has_index() ? model.device.index() : 0;
  KILN_RETURN_IF_ERROR(FromCuda(cudaSetDevice(device), "selecting the CUDA device"));
  const int64_t samples = GridSampleCount(job.grid);
  // Marching cubes takes inside as value < iso; an occupancy field is inside above it.
  const bool negate = job.occupancy && job.extract_mesh;

  GpuFieldResult result;
  DeviceFloats field;
  KILN_RETURN_IF_ERROR(field.Allocate(samples));
  const auto decode_start = std::chrono::steady_clock::now();

  auto verdict = state_->plain_mlps.find(model.model_key);
  if (verdict == state_->plain_mlps.end()) {
    verdict = state_->plain_mlps.emplace(model.model_key, ExtractPlainMlp(model.module, job.bounds))
                  .first;
  }
  const std::optional<fieldnet::Precision> precision = FusedPrecision(model.dtype);
  bool fused = false;
  if (!verdict->second.ok()) {
    result.not_fused_reason = std::string(verdict->second.status().message());
  } else if (!precision.has_value()) {
    result.not_fused_reason = "the fused decoder has no such dtype";
  } else {
    const std::string key = absl::StrCat(model.model_key, "|", fieldnet::PrecisionName(*precision),
                                         "|", job.batch_size, "|", negate);
    if (state_->fused_key != key) {
      state_->fused.reset();  // Its memory first: one fused decoder at a time.
      state_->fused_key.clear();
      fieldnet::MlpWeights mlp = *verdict->second;
      if (negate) {  // -(W x + b) = (-W) x + (-b): the output layer yields the negation.
        for (float& w : mlp.weights.back()) w = -w;
        for (float& b : mlp.biases.back()) b = -b;
      }
      fieldnet::FusedMlpField::Options options;
      options.precision = *precision;
      options.max_chunk_points = job.batch_size;
      options.device = device;
      const fieldnet::Status created =
          fieldnet::FusedMlpField::Create(mlp, options, &state_->fused);
      if (created.ok()) {
        state_->fused_key = key;
      } else {
        // bf16 below sm_80, say: LibTorch may still run it.
        result.not_fused_reason = created.message();
      }
    }
    fused = state_->fused != nullptr;
  }
  if (fused) {
    result.decoder = "fused-mlp";
    KILN_RETURN_IF_ERROR(FromFieldnet(state_->fused->Decode(
        FieldnetGrid(job.grid), field.data(), nullptr, /*stream=*/nullptr,
        [&](int64_t done, int64_t total) {
          if (job.progress) job.progress(static_cast<double>(done) / static_cast<double>(total));
          return true;
        })));
  } else {
    result.decoder = "libtorch";
    FieldDecodeOptions options;
    options.batch_size = job.batch_size;
    options.progress = job.progress;
    KILN_RETURN_IF_ERROR(
        DecodeField(model, job.grid, options, [&](int64_t offset, const torch::Tensor& values) {
          torch::Tensor batch = (negate ? values.neg() : values).contiguous();
          return FromCuda(cudaMemcpy(field.data() + offset, batch.data_ptr<float>(),
                                     batch.numel() * sizeof(float), cudaMemcpyDeviceToDevice),
                          "copying a decoded batch");
        }));
  }
  KILN_RETURN_IF_ERROR(FromCuda(cudaDeviceSynchronize(), "decoding the field"));
  result.decode_seconds = SecondsSince(decode_start);

  {
    const torch::Tensor values = torch::from_blob(
        field.data(), {samples}, torch::TensorOptions().dtype(torch::kFloat).device(model.device));
    const double lo = values.min().item<float>(), hi = values.max().item<float>();
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
      return absl::InvalidArgumentError(absl::StrCat("model ", model.model_key,
                                                     " produced non-finite field values (min ", lo,
                                                     ", max ", hi, ")"));
    }
    result.value_min = negate ? -hi : lo;
    result.value_max = negate ? -lo : hi;
  }

  if (!job.extract_mesh) {
    const auto download_start = std::chrono::steady_clock::now();
    result.field.resize(samples);
    KILN_RETURN_IF_ERROR(FromCuda(cudaMemcpy(result.field.data(), field.data(),
                                             samples * sizeof(float), cudaMemcpyDeviceToHost),
                                  "copying the field to the host"));
    result.download_seconds = SecondsSince(download_start);
    return result;
  }

  if (state_->marching_cubes == nullptr) {
    KILN_RETURN_IF_ERROR(tasks::ToAbslStatus(
        tasks::CudaMarchingCubes::Create({.device = device}, &state_->marching_cubes)));
  }
  tasks::CudaMarchingCubes& mc = *state_->marching_cubes;
  const auto extract_start = std::chrono::steady_clock::now();
  tasks::CudaExtractOptions options;
  options.iso = negate ? -job.iso : job.iso;
  options.normals = job.normals;
  tasks::DeviceMesh device_mesh;
  absl::Status extracted =
      tasks::ToAbslStatus(mc.ExtractFromDevice(field.data(), job.grid, options, &device_mesh));
  result.extract_seconds = SecondsSince(extract_start);
  if (extracted.ok()) {
    const auto download_start = std::chrono::steady_clock::now();
    extracted = tasks::ToAbslStatus(mc.Download(device_mesh, nullptr, &result.mesh));
    result.download_seconds = SecondsSince(download_start);
  }
  mc.ReleaseBuffers();  // The device's memory is for models between tasks.
  KILN_RETURN_IF_ERROR(extracted);
  return result;
}

}  // namespace kiln::torchrt
