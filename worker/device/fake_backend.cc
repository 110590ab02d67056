// Simulated devices: the CUDA calls answered from a --fake-devices list, so that
// everything after the probe runs the real code path on a machine without GPUs.
#include <string>
#include <utility>

#include "worker/device/device_backend.h"

namespace kiln::device {
namespace {

// Plausible versions of a CUDA 13.0 stack.
constexpr int kFakeDriverVersion = 13000;
constexpr int kFakeRuntimeVersion = 13000;

class FakeBackend final : public DeviceBackend {
 public:
  FakeBackend(std::vector<FakeDeviceSpec> devices, const char* cuda_visible_devices,
              std::string build_architectures)
      : architectures_(build_architectures.empty() ? kDefaultCudaArchitectures
                                                   : std::move(build_architectures)) {
    std::vector<int> indices;
    invalid_device_ =
        !VisibleDeviceIndices(cuda_visible_devices, static_cast<int>(devices.size()), &indices);
    for (int index : indices) visible_.push_back(devices[index]);
  }

  bool simulated() const override { return true; }
  int DriverVersion() override { return kFakeDriverVersion; }
  int RuntimeVersion() override { return kFakeRuntimeVersion; }

  BackendStatus CountDevices(int* count) override {
    *count = static_cast<int>(visible_.size());
    if (invalid_device_) {
      return {ProbeFailure::kCudaError,
              "cudaGetDeviceCount: invalid device ordinal (cudaErrorInvalidDevice) (simulated)"};
    }
    if (visible_.empty()) return {ProbeFailure::kNoDevice, "simulated"};
    return {};
  }

  BackendStatus QueryDevice(int ordinal, BackendDeviceInfo* info) override {
    const FakeDeviceSpec& d = visible_.at(ordinal);
    info->name = "Simulated " + SmName(d.compute_capability) + " (" +
                 FormatBytes(d.total_memory_bytes) + ")";
    info->compute_capability = d.compute_capability;
    info->total_memory_bytes = d.total_memory_bytes;
    info->free_memory_bytes = d.total_memory_bytes;
    info->fake_cannot_run = d.cannot_run;
    return {};
  }

  // A ":nokernel" device simulates a build without any entry that covers it: the
  // entries that would cover it are dropped ("90" becomes "90-virtual" on sm_120 when
  // only its SASS is useless there, and so on).
  std::string KernelArchitectures(int ordinal) override {
    const FakeDeviceSpec& d = visible_.at(ordinal);
    if (!d.no_kernel) return architectures_;
    std::vector<std::string> sass, ptx;
    std::string error, kept;
    if (!ParseCudaArchitectures(architectures_, &sass, &ptx, &error)) return "";
    auto keep = [&](const std::string& entry, const std::string& prefix, const char* kind) {
      const bool covers = prefix == "sm_"
                              ? ArchitectureCovered(d.compute_capability, {entry}, {}, nullptr)
                              : ArchitectureCovered(d.compute_capability, {}, {entry}, nullptr);
      if (covers) return;
      if (!kept.empty()) kept += ',';
      kept += entry.substr(prefix.size()) + kind;
    };
    for (const std::string& s : sass) keep(s, "sm_", "-real");
    for (const std::string& p : ptx) keep(p, "compute_", "-virtual");
    return kept;
  }

  // The launch succeeds exactly when a real one would: the driver finds SASS or PTX
  // that covers the device (ArchitectureCovered), else no kernel image.
  BackendStatus RunSelfTest(int ordinal) override {
    std::vector<std::string> sass, ptx;
    std::string error;
    ParseCudaArchitectures(KernelArchitectures(ordinal), &sass, &ptx, &error);
    if (ArchitectureCovered(visible_.at(ordinal).compute_capability, sass, ptx, nullptr)) {
      return {};
    }
    return {ProbeFailure::kNoKernelImage,
            "cudaErrorNoKernelImageForDevice: no kernel image is available for execution on "
            "the device (simulated)"};
  }

 private:
  const std::string architectures_;
  std::vector<FakeDeviceSpec> visible_;
  bool invalid_device_ = false;  // a repeated index in CUDA_VISIBLE_DEVICES
};

}  // namespace

std::unique_ptr<DeviceBackend> MakeFakeBackend(std::vector<FakeDeviceSpec> devices,
                                               const char* cuda_visible_devices,
                                               std::string build_architectures) {
  return std::make_unique<FakeBackend>(std::move(devices), cuda_visible_devices,
                                       std::move(build_architectures));
}

}  // namespace kiln::device
