// kiln-device-probe: prints what ProbeDevices() reports, one line per device, for
// operators and for recording GPU runs. Usage: kiln-device-probe [--fake-devices=SPEC]
// Exit status: 0 when every reported device is runnable, 1 otherwise, 2 on bad usage.
#include <cstdio>
#include <cstring>
#include <string>

#include "worker/device/device_probe.h"

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? "-" : out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln::device;
  ProbeOptions options;
  for (int i = 1; i < argc; ++i) {
    constexpr char kFlag[] = "--fake-devices=";
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0) {
      options.fake_devices = argv[i] + sizeof(kFlag) - 1;
    } else {
      std::fprintf(stderr, "usage: %s [--fake-devices=sm_120:32GiB,sm_90:80GiB:nokernel]\n",
                   argv[0]);
      return 2;
    }
  }
  const ProbeReport report = ProbeDevices(options);
  std::printf("kernels built for: %s\n", BuiltCudaArchitectures().empty()
                                             ? "(no CUDA)"
                                             : std::string(BuiltCudaArchitectures()).c_str());
  if (!report.error.empty()) {
    std::printf("no devices: %s\n", report.error.c_str());
    return report.invalid_options ? 2 : 1;
  }
  bool all_runnable = true;
  for (const DeviceProbe& d : report.devices) {
    all_runnable &= d.runnable;
    std::printf(
        "cuda:%d %s | %s | total %s (%.1f GiB) free %.1f GiB | driver %s runtime %s | "
        "sass %s ptx %s | self-test %.2f ms | %s%s\n",
        d.ordinal, d.name.c_str(), SmName(d.compute_capability).c_str(),
        FormatBytes(d.total_memory_bytes).c_str(), d.total_memory_bytes / 1073741824.0,
        d.free_memory_bytes / 1073741824.0, CudaVersionString(d.driver_version).c_str(),
        CudaVersionString(d.runtime_version).c_str(), Join(d.kernel_sass).c_str(),
        Join(d.kernel_ptx).c_str(), d.self_test_ms,
        d.runnable ? "runnable" : ("NOT runnable: " + d.unrunnable_reason).c_str(),
        d.fake_cannot_run ? " (fake: cannot-run)" : "");
  }
  return all_runnable ? 0 : 1;
}
