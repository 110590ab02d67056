// DeviceBackend: the CUDA calls the probe makes, behind one interface, so that fake
// devices (and tests) replace only those calls while the probe logic above them stays
// the same. Implementations: the CUDA runtime (cuda_backend.cu), "built without CUDA"
// (no_cuda_backend.cc) and simulated devices (fake_backend.cc). A backend is used by
// one thread at a time. Internal to worker/device; executors call ProbeDevices().
#ifndef KILN_WORKER_DEVICE_DEVICE_BACKEND_H_
#define KILN_WORKER_DEVICE_DEVICE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "worker/device/device_probe.h"

namespace kiln::device {

// Outcome of one backend call: kNone, or the failure and the CUDA error text.
struct BackendStatus {
  ProbeFailure failure = ProbeFailure::kNone;
  std::string detail;
  bool ok() const { return failure == ProbeFailure::kNone; }
};

struct BackendDeviceInfo {
  std::string name;
  int compute_capability = 0;
  int64_t total_memory_bytes = 0;
  int64_t free_memory_bytes = 0;
  bool fake_cannot_run = false;
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual bool simulated() const = 0;
  // 0 when there is no driver / no runtime.
  virtual int DriverVersion() = 0;
  virtual int RuntimeVersion() = 0;
  // Number of visible devices; kNoDevice, kNoDriver, ... when none can be used.
  virtual BackendStatus CountDevices(int* count) = 0;
  // Name, compute capability and memory of one device (may create its context).
  virtual BackendStatus QueryDevice(int ordinal, BackendDeviceInfo* info) = 0;
  // Architectures the kernels run on `ordinal` carry (CMake list syntax).
  virtual std::string KernelArchitectures(int ordinal) = 0;
  // Runs the self-test kernel on `ordinal` and checks its result on the host.
  virtual BackendStatus RunSelfTest(int ordinal) = 0;
};

// The probe logic over any backend. With options.fake_devices set, `real` is not used.
ProbeReport ProbeDevicesWith(const ProbeOptions& options, DeviceBackend* real);

// Simulated devices; CUDA_VISIBLE_DEVICES (nullptr = unset) selects among them.
// `build_architectures` is what the simulated kernels carry (empty: the default list).
std::unique_ptr<DeviceBackend> MakeFakeBackend(std::vector<FakeDeviceSpec> devices,
                                               const char* cuda_visible_devices,
                                               std::string build_architectures);

// The CMAKE_CUDA_ARCHITECTURES default of worker/device/CMakeLists.txt, ','-separated;
// simulated kernels carry these when the binary was built without CUDA.
inline constexpr const char kDefaultCudaArchitectures[] =
    "75-real,80-real,86-real,89-real,90-real,100-real,120";

}  // namespace kiln::device

#endif  // KILN_WORKER_DEVICE_DEVICE_BACKEND_H_
