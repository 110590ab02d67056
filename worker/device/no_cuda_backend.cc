// The backend of a build without CUDA: real probes report "built without CUDA", while
// fake devices (which replace only the CUDA calls) keep working.
#include "worker/device/device_backend.h"

namespace kiln::device {
namespace {

class NoCudaBackend final : public DeviceBackend {
 public:
  bool simulated() const override { return false; }
  int DriverVersion() override { return 0; }
  int RuntimeVersion() override { return 0; }
  BackendStatus CountDevices(int* count) override {
    *count = 0;
    return {ProbeFailure::kBuiltWithoutCuda, ""};
  }
  BackendStatus QueryDevice(int, BackendDeviceInfo*) override {
    return {ProbeFailure::kBuiltWithoutCuda, ""};
  }
  std::string KernelArchitectures(int) override { return ""; }
  BackendStatus RunSelfTest(int) override { return {ProbeFailure::kBuiltWithoutCuda, ""}; }
};

}  // namespace

std::string_view BuiltCudaArchitectures() { return ""; }

ProbeReport ProbeDevices(const ProbeOptions& options) {
  NoCudaBackend backend;
  return ProbeDevicesWith(options, &backend);
}

}  // namespace kiln::device
