#include "worker/torch/model_cache.h"

#include <unistd.h>

#include <chrono>
#include <new>
#include <string_view>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace kiln::torchrt {
namespace {

// LibTorch's messages carry a C++ backtrace after the first line; the first says it.
std::string FirstLine(std::string_view what) {
  return std::string(what.substr(0, what.find('\n')));
}

bool SaysOutOfMemory(std::string_view what) {
  std::string lower(what);
  absl::AsciiStrToLower(&lower);
  return lower.find("out of memory") != std::string::npos;
}

int64_t PhysicalMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? int64_t{pages} * page_size : int64_t{8} << 30;
}

int64_t TensorBytes(const torch::Tensor& t) {
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

}  // namespace

absl::StatusOr<torch::ScalarType> ParseTorchDtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float16") return torch::kFloat16;
  if (name == "bfloat16") return torch::kBFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype: must be bfloat16, float16 or float32 (got \"", name, "\")"));
}

std::string TorchDtypeName(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      return c10::toString(dtype);
  }
}

absl::StatusOr<std::unique_ptr<ModelCache>> ModelCache::Create(const ModelCacheOptions& options) {
  if (options.budget_bytes < 0) {
    return absl::InvalidArgumentError("model cache: budget_bytes must be >= 0");
  }
  if (options.budget_bytes == 0 && !(options.budget_fraction > 0 && options.budget_fraction <= 1)) {
    return absl::InvalidArgumentError("model cache: budget_fraction must be in (0, 1]");
  }
  int64_t budget = options.budget_bytes;
  if (budget == 0) {
    int64_t memory = options.device_memory_bytes;
    if (memory <= 0) {
      if (!options.device.is_cpu()) {
        return absl::InvalidArgumentError(
            "model cache: device_memory_bytes is required for a GPU without budget_bytes");
      }
      memory = PhysicalMemoryBytes();
    }
    budget = static_cast<int64_t>(options.budget_fraction * static_cast<double>(memory));
  }
  return std::unique_ptr<ModelCache>(new ModelCache(options.device, budget));
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelCache::Load(const models::ModelEntry& entry,
                                                                    torch::ScalarType dtype) const {
  const std::string key = entry.Key();
  if (entry.manifest.runtime() != kiln::v1::MODEL_RUNTIME_TORCHSCRIPT) {
    return absl::FailedPreconditionError(absl::StrCat("model ", key, " has runtime ",
                                                      models::RuntimeName(entry.manifest.runtime()),
                                                      ", not torchscript"));
  }
  const std::filesystem::path path = entry.dir / entry.manifest.file();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(
        absl::StrCat("model ", key, ": TorchScript file ", path.string(), " not found"));
  }
  const auto start = std::chrono::steady_clock::now();
  auto loaded = std::make_shared<LoadedModel>();
  loaded->model_key = key;
  loaded->device = device_;
  loaded->dtype = dtype;
  try {
    // Loaded straight onto the device; then converted, so one copy lives there.
    loaded->module = torch::jit::load(path.string(), device_);
    loaded->module.to(device_, dtype);
    loaded->module.eval();
    for (const torch::Tensor& p : loaded->module.parameters()) loaded->bytes += TensorBytes(p);
    for (const torch::Tensor& b : loaded->module.buffers()) loaded->bytes += TensorBytes(b);
  } catch (const c10::Error& e) {
    const std::string what = FirstLine(e.what_without_backtrace());
    if (SaysOutOfMemory(what)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("model ", key, ": out of memory while loading ", path.string(), " on ",
                       device_.str(), ": ", what));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", key, ": cannot load TorchScript archive ", path.string(), ": ", what));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model ", key, ": out of memory while loading ", path.string()));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("model ", key,
                                                      ": cannot load TorchScript archive ",
                                                      path.string(), ": ", FirstLine(e.what())));
  }
  loaded->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::shared_ptr<const LoadedModel>(std::move(loaded));
}

void ModelCache::EvictFor(int64_t bytes) {
  while (!lru_.empty() && resident_bytes_ + bytes > budget_bytes_) {
    const Slot& victim = lru_.back();
    KILN_LOG(INFO) << "model cache: evicting " << victim.cache_key << " (" << victim.model->bytes
                   << " bytes) to make room for " << bytes << " bytes";
    resident_bytes_ -= victim.model->bytes;
    ++evictions_;
    lru_.pop_back();
  }
}

absl::StatusOr<ModelCache::Acquired> ModelCache::Acquire(const models::ModelEntry& entry,
                                                         torch::ScalarType dtype) {
  const std::string cache_key =
      absl::StrCat(entry.Key(), "|", device_.str(), "|", TorchDtypeName(dtype));
  absl::MutexLock lock(&mu_);
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->cache_key == cache_key) {
      lru_.splice(lru_.begin(), lru_, it);
      ++hits_;
      return Acquired{.model = lru_.front().model, .hit = true};
    }
  }
  absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = Load(entry, dtype);
  if (!loaded.ok()) return loaded.status();
  ++loads_;
  EvictFor((*loaded)->bytes);
  resident_bytes_ += (*loaded)->bytes;
  lru_.push_front(Slot{.cache_key = cache_key, .model = *loaded});
  return Acquired{.model = *loaded, .hit = false};
}

std::vector<std::string> ModelCache::ResidentModelKeys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> keys;
  for (const Slot& slot : lru_) {
    if (std::find(keys.begin(), keys.end(), slot.model->model_key) == keys.end()) {
      keys.push_back(slot.model->model_key);
    }
  }
  return keys;
}

ModelCache::Stats ModelCache::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{.hits = hits_,
               .loads = loads_,
               .evictions = evictions_,
               .resident_bytes = resident_bytes_,
               .budget_bytes = budget_bytes_};
}

}  // namespace kiln::torchrt
