// Nvml: GPU utilization, temperature and memory from NVIDIA's management library,
// loaded at run time with dlopen("libnvidia-ml.so.1") (the driver ships it), so that
// kiln-worker has no link-time dependency on it and runs unchanged on hosts without
// an NVIDIA driver (Load() then returns nullptr and no GPU series are exported).
// Thread-safe: Sample() may be called from any thread (NVML itself is thread-safe;
// calls are serialized here anyway).
#ifndef KILN_WORKER_METRICS_NVML_H_
#define KILN_WORKER_METRICS_NVML_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kiln::worker_metrics {

// One GPU as NVML sees it now. Fields NVML could not read are nullopt.
struct GpuSample {
  int index = 0;     // NVML's index (PCI bus order)
  std::string uuid;  // "GPU-…"
  std::string name;
  std::optional<double> utilization_ratio;  // 0..1 over NVML's last sample period
  std::optional<double> temperature_celsius;
  std::optional<uint64_t> memory_total_bytes;
  std::optional<uint64_t> memory_used_bytes;
  std::optional<uint64_t> memory_free_bytes;
};

class Nvml {
 public:
  // NotFound when the library cannot be loaded (no NVIDIA driver), Unavailable when it
  // loads but nvmlInit fails or a symbol is missing (the message says which).
  static absl::StatusOr<std::unique_ptr<Nvml>> Load(
      const std::string& library = "libnvidia-ml.so.1");
  ~Nvml();  // nvmlShutdown and dlclose
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  std::vector<GpuSample> Sample();

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  absl::Mutex mu_;
  std::unique_ptr<Api> api_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::worker_metrics

#endif  // KILN_WORKER_METRICS_NVML_H_
