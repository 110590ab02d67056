// field_decode_job_bench: one field.decode job (decode a field model on a grid, extract
// its mesh, write the PLY) run through the real FieldDecodeTask on the executor's device,
// as kiln-exec runs it, with the time of each stage. Run 0 loads the model (cold); the
// others find it resident. See bench/README.md ("decode-and-extract job").
//   field_decode_job_bench --model-repo=DIR --model=NAME [--resolution=511] [--runs=4]
//                          [--batch-size=1048576] [--dtype=bfloat16] [--normals]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "worker/device/device_probe.h"
#include "worker/exec/executor.h"
#include "worker/torch/field_decode_task.h"
#include "worker/torch/model_cache.h"
#include "worker/torch/torch_device.h"

namespace {

std::string Flag(int argc, char** argv, const std::string& name, std::string fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with(prefix)) return argv[i] + prefix.size();
    if (std::string_view(argv[i]) == absl::StrCat("--", name)) return "true";
  }
  return fallback;
}

double Number(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? 0 : it->second.number_value();
}

std::string Text(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string repo_dir = Flag(argc, argv, "model-repo", "");
  const std::string model = Flag(argc, argv, "model", "");
  const int resolution = std::atoi(Flag(argc, argv, "resolution", "511").c_str());
  const int runs = std::atoi(Flag(argc, argv, "runs", "4").c_str());
  const std::string batch = Flag(argc, argv, "batch-size", "1048576");
  const std::string dtype = Flag(argc, argv, "dtype", "");
  const bool normals = Flag(argc, argv, "normals", "false") == "true";
  if (repo_dir.empty() || model.empty()) {
    std::fprintf(stderr, "usage: field_decode_job_bench --model-repo=DIR --model=NAME ...\n");
    return 2;
  }
  auto repository = kiln::models::ModelRepository::Open({.root = repo_dir});
  if (!repository.ok()) {
    std::fprintf(stderr, "%s\n", repository.status().ToString().c_str());
    return 1;
  }
  kiln::torchrt::SetTorchThreads(0);
  const kiln::device::ProbeReport report = kiln::device::ProbeDevices({});
  std::vector<kiln::v1::Device> devices;
  for (const auto& d : report.devices) devices.push_back(kiln::exec::ToProtoDevice(d));
  const kiln::torchrt::TorchDevice device = kiln::torchrt::SelectTorchDevice(devices);
  if (!device.unavailable_reason.empty()) {
    std::fprintf(stderr, "LibTorch cannot run: %s\n", device.unavailable_reason.c_str());
    return 1;
  }
  auto cache = kiln::torchrt::ModelCache::Create(
      {.device = device.device, .device_memory_bytes = device.description.total_memory_bytes()});
  if (!cache.ok()) return 1;
  kiln::torchrt::FieldDecodeTask task(
      {.repository = repository->get(), .cache = cache->get(), .device = device});
  std::printf("device %s (%s), model %s, resolution %d, batch %s%s\n", device.device.str().c_str(),
              device.description.name().c_str(), model.c_str(), resolution, batch.c_str(),
              normals ? ", normals" : "");
  std::printf("%-4s %-9s %-6s %9s %9s %9s %9s %9s %9s %11s %11s  %s\n", "run", "decoder", "dtype",
              "load_s", "decode_s", "extract_s", "copy_s", "write_s", "total_s", "vertices",
              "faces", "Mpts/s");
  for (int run = 0; run < runs; ++run) {
    kiln::testing::ScopedTempDir out;
    kiln::v1::RunTaskRequest request;
    request.set_task("field.decode");
    request.set_model(model);
    request.set_output_dir(out.path());
    auto& params = *request.mutable_parameters()->mutable_fields();
    params["resolution"].set_number_value(resolution);
    params["batch_size"].set_number_value(std::atof(batch.c_str()));
    params["normals"].set_bool_value(normals);
    if (!dtype.empty()) params["dtype"].set_string_value(dtype);
    kiln::tasks::TaskContext context;
    context.request = &request;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<kiln::tasks::TaskOutput> result = task.Run(context);
    const double total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result.ok()) {
      std::fprintf(stderr, "run %d: %s\n", run, result.status().ToString().c_str());
      return 1;
    }
    const auto& s = result->summary;
    std::printf("%-4d %-9s %-6s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %11.0f %11.0f  %.1f\n", run,
                Text(s, "decoder").empty() ? "host" : Text(s, "decoder").c_str(),
                Text(s, "dtype").c_str(), Number(s, "load_seconds"), Number(s, "decode_seconds"),
                Number(s, "extract_seconds"), Number(s, "download_seconds"),
                Number(s, "write_seconds"), total, Number(s, "vertices"), Number(s, "faces"),
                Number(s, "points_per_second") / 1e6);
    if (run == 0 && !Text(s, "not_fused_reason").empty()) {
      std::printf("     not fused: %s\n", Text(s, "not_fused_reason").c_str());
    }
  }
  return 0;
}
