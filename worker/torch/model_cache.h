// ModelCache: TorchScript models resident on the executor's device across tasks. Each
// (model key, device, dtype) is loaded once with LibTorch, converted to the dtype, put
// in eval mode and kept until the byte budget (the sum of the resident modules'
// parameter and buffer bytes) needs its room: the least recently used goes first. A
// model larger than the whole budget is kept alone while it is the newest.
// Acquire() hands out shared ownership, so a model evicted while a task still uses it
// stays alive until that task lets go.
// Errors name the file: a missing archive is NotFound, one LibTorch cannot read is
// FailedPrecondition (with LibTorch's first line), out of device memory while loading is
// ResourceExhausted saying "out of memory while loading" (the executor then reports
// that the device cannot run the model).
// Thread-safe (one mutex); in kiln-exec only the task thread calls it.
#ifndef KILN_WORKER_TORCH_MODEL_CACHE_H_
#define KILN_WORKER_TORCH_MODEL_CACHE_H_

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "models/model_repository.h"

namespace kiln::torchrt {

// One model version resident on one device in one dtype.
struct LoadedModel {
  std::string model_key;  // "name@version"
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  // In eval mode, parameters and buffers on `device` in `dtype`. Mutable because
  // LibTorch's forward() is not const; running it does not change the module.
  mutable torch::jit::Module module;
  int64_t bytes = 0;  // Parameters plus buffers.
  double load_seconds = 0;
};

struct ModelCacheOptions {
  // Where models are loaded.
  torch::Device device = torch::kCPU;
  // Resident bytes allowed; 0 picks budget_fraction of `device_memory_bytes`.
  int64_t budget_bytes = 0;
  double budget_fraction = 0.5;
  // Total memory of the device (from the probe); 0 on a CPU means physical RAM.
  int64_t device_memory_bytes = 0;
};

class ModelCache {
 public:
  static absl::StatusOr<std::unique_ptr<ModelCache>> Create(const ModelCacheOptions& options);

  struct Acquired {
    std::shared_ptr<const LoadedModel> model;
    // True when the model was resident already (no load this time).
    bool hit = false;
  };

  // The model of `entry` (runtime torchscript) on the cache's device in `dtype`: the
  // resident one, or freshly loaded (which may evict others).
  absl::StatusOr<Acquired> Acquire(const models::ModelEntry& entry, torch::ScalarType dtype);

  // "name@version" of the resident models, most recently used first, each key once
  // (a model resident in two dtypes is listed once).
  std::vector<std::string> ResidentModelKeys() const;

  struct Stats {
    int64_t hits = 0;
    int64_t loads = 0;
    int64_t evictions = 0;
    int64_t resident_bytes = 0;
    int64_t budget_bytes = 0;
  };
  Stats stats() const;

  const torch::Device& device() const { return device_; }

 private:
  ModelCache(torch::Device device, int64_t budget_bytes)
      : device_(device), budget_bytes_(budget_bytes) {}

  // Loads outside the lock would let two loads of one key race; the executor runs one
  // task at a time, so loading under the lock costs nothing.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Load(const models::ModelEntry& entry,
                                                          torch::ScalarType dtype) const;
  void EvictFor(int64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const torch::Device device_;
  const int64_t budget_bytes_;

  struct Slot {
    std::string cache_key;  // model key | device | dtype
    std::shared_ptr<const LoadedModel> model;
  };
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<Slot> lru_ ABSL_GUARDED_BY(mu_);
  int64_t resident_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
};

// "float32", "float16", "bfloat16" -> the ScalarType; InvalidArgument otherwise.
absl::StatusOr<torch::ScalarType> ParseTorchDtype(const std::string& name);
std::string TorchDtypeName(torch::ScalarType dtype);

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_MODEL_CACHE_H_
