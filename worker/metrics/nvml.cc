#include "worker/metrics/nvml.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace kiln::worker_metrics {
namespace {

// The few NVML declarations used, as nvml.h (CUDA toolkit) declares them; kept here so
// that building needs no CUDA headers. NVML's ABI for these is stable across drivers.
using nvmlReturn_t = int;
constexpr nvmlReturn_t kNvmlSuccess = 0;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;     // percent of time a kernel ran
  unsigned int memory;  // percent of time memory was read or written
};
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr int kNvmlTemperatureGpu = 0;

}  // namespace

struct Nvml::Api {
  void* handle = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*device_count)(unsigned int*) = nullptr;
  nvmlReturn_t (*device_by_index)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
};

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::Load(const std::string& library) {
  auto api = std::make_unique<Api>();
  api->handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->handle == nullptr) {
    const char* error = ::dlerror();
    return absl::NotFoundError(
        absl::StrCat("cannot load ", library, ": ", error != nullptr ? error : "unknown error"));
  }
  std::string missing;
  auto bind = [&](auto& fn, const char* symbol) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(api->handle, symbol));
    if (fn == nullptr) absl::StrAppend(&missing, missing.empty() ? "" : ", ", symbol);
  };
  bind(api->init, "nvmlInit_v2");
  bind(api->shutdown, "nvmlShutdown");
  bind(api->device_count, "nvmlDeviceGetCount_v2");
  bind(api->device_by_index, "nvmlDeviceGetHandleByIndex_v2");
  bind(api->uuid, "nvmlDeviceGetUUID");
  bind(api->name, "nvmlDeviceGetName");
  bind(api->utilization, "nvmlDeviceGetUtilizationRates");
  bind(api->temperature, "nvmlDeviceGetTemperature");
  bind(api->memory, "nvmlDeviceGetMemoryInfo");
  if (!missing.empty()) {
    ::dlclose(api->handle);
    return absl::UnavailableError(absl::StrCat(library, " lacks ", missing));
  }
  if (const nvmlReturn_t r = api->init(); r != kNvmlSuccess) {
    ::dlclose(api->handle);
    return absl::UnavailableError(absl::StrCat("nvmlInit_v2 failed with NVML error ", r));
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  absl::MutexLock lock(&mu_);
  api_->shutdown();
  ::dlclose(api_->handle);
}

std::vector<GpuSample> Nvml::Sample() {
  absl::MutexLock lock(&mu_);
  std::vector<GpuSample> gpus;
  unsigned int count = 0;
  if (api_->device_count(&count) != kNvmlSuccess) return gpus;
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    if (api_->device_by_index(i, &device) != kNvmlSuccess) continue;
    GpuSample sample;
    sample.index = static_cast<int>(i);
    char text[96] = {};
    if (api_->uuid(device, text, sizeof(text) - 1) == kNvmlSuccess) sample.uuid = text;
    std::fill(std::begin(text), std::end(text), 0);
    if (api_->name(device, text, sizeof(text) - 1) == kNvmlSuccess) sample.name = text;
    nvmlUtilization_t utilization{};
    if (api_->utilization(device, &utilization) == kNvmlSuccess) {
      sample.utilization_ratio = utilization.gpu / 100.0;
    }
    unsigned int celsius = 0;
    if (api_->temperature(device, kNvmlTemperatureGpu, &celsius) == kNvmlSuccess) {
      sample.temperature_celsius = celsius;
    }
    nvmlMemory_t memory{};
    if (api_->memory(device, &memory) == kNvmlSuccess) {
      sample.memory_total_bytes = memory.total;
      sample.memory_used_bytes = memory.used;
      sample.memory_free_bytes = memory.free;
    }
    gpus.push_back(std::move(sample));
  }
  return gpus;
}

}  // namespace kiln::worker_metrics
