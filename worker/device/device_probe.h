// Device probe and self-test: what each CUDA device visible to this process is (name,
// compute capability, memory), which architectures this binary's own kernels carry
// (SASS and PTX, from the build), and whether a small kernel of ours actually ran on it.
// A device whose self-test failed is reported not runnable with the exact reason.
//
// Plain C++20 with the CUDA runtime only (no protobuf, no Abseil), so that this library
// and its GPU tests build standalone on a GPU box; the executor converts DeviceProbe to
// kiln.v1.Device and adds the features table from common/device_features.h.
//
// ProbeDevices() may be called from any one thread at a time (it selects devices with
// cudaSetDevice on the calling thread). The other functions are pure and thread-safe.
#ifndef KILN_WORKER_DEVICE_DEVICE_PROBE_H_
#define KILN_WORKER_DEVICE_DEVICE_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::device {

// Why a probe step failed, chosen by what the caller does about it. kNoKernelImage and
// kPtxJitFailed mean "this binary cannot run on this device" (a device-cannot-run
// classification); the rest are host or driver problems.
enum class ProbeFailure {
  kNone = 0,
  kBuiltWithoutCuda,    // this binary has no CUDA code (fake devices still work)
  kNoDriver,            // no libcuda.so.1, or only the toolkit's stub
  kInsufficientDriver,  // the driver is older than the runtime we link
  kNoDevice,            // no device visible (none present, or CUDA_VISIBLE_DEVICES)
  kNoKernelImage,       // no SASS for this SM and no PTX that may JIT to it
  kPtxJitFailed,        // PTX exists but the driver could not JIT it (e.g. PTX too new)
  kWrongResult,         // the self-test kernel ran but computed wrong values
  kCudaError,           // any other CUDA error
};

struct DeviceProbe {
  // CUDA device ordinal in this process (after CUDA_VISIBLE_DEVICES remapping).
  int ordinal = 0;
  // e.g. "NVIDIA H100 80GB HBM3", or "Simulated sm_120 (32 GiB)".
  std::string name;
  // major*10+minor, e.g. 90 for sm_90, 120 for sm_120.
  int compute_capability = 0;
  int64_t total_memory_bytes = 0;
  // Free memory after this process created its context on the device.
  int64_t free_memory_bytes = 0;
  // True when the self-test kernel ran and computed the right result.
  bool runnable = false;
  // Why not runnable, e.g. "no kernel image for sm_90: built for sm_120"; empty if runnable.
  std::string unrunnable_reason;
  ProbeFailure failure = ProbeFailure::kNone;
  // Architectures this binary's kernels carry as SASS ("sm_90") and PTX ("compute_120").
  std::vector<std::string> kernel_sass;
  std::vector<std::string> kernel_ptx;
  // CUDA versions as major*1000+minor*10 (13000 = 13.0); driver 0 = no driver.
  int driver_version = 0;
  int runtime_version = 0;
  // Wall time of the self-test (allocation, copies, launch incl. lazy module load, check).
  double self_test_ms = 0;
  // True for --fake-devices entries.
  bool simulated = false;
  // Fake device marked ":cannot-run": the self-test passes but the executor must fail
  // every task on it with a device-cannot-run classification.
  bool fake_cannot_run = false;
};

struct ProbeOptions {
  // Empty: probe real CUDA devices. Otherwise simulated devices replacing only the CUDA
  // calls, e.g. "sm_120:32GiB,sm_90:80GiB:nokernel,sm_86:24GiB:cannot-run", or (a value
  // without ':') the path of a file holding such entries, comma- or line-separated, '#'
  // comments allowed. CUDA_VISIBLE_DEVICES selects among them as CUDA would.
  std::string fake_devices;
};

struct ProbeReport {
  // Visible devices in ordinal order; each carries its own runnable/reason.
  std::vector<DeviceProbe> devices;
  // Set exactly when `devices` is empty: why ("no CUDA driver ...", "built without
  // CUDA", "no CUDA device visible ...", or a fake-device parse error).
  std::string error;
  ProbeFailure failure = ProbeFailure::kNone;
  // True when `error` comes from bad ProbeOptions (a configuration error to refuse to
  // start with), as opposed to a host that simply has no usable GPU.
  bool invalid_options = false;
  bool simulated = false;
};

// Probes every visible device and self-tests each. Never crashes for want of a driver
// or GPU: that is reported in ProbeReport::error.
ProbeReport ProbeDevices(const ProbeOptions& options);

// --- Software coverage -------------------------------------------------------------

// The CMake CUDA_ARCHITECTURES this library's kernels were built with, as a
// ','-separated list (e.g. "90-real,120"); empty when built without CUDA.
std::string_view BuiltCudaArchitectures();

// Parses a CMake CUDA_ARCHITECTURES list (';' or ',' separated): "NN-real" = SASS only,
// "NN-virtual" = PTX only, plain "NN" = both; suffixes 'a'/'f' kept ("90a" ->
// "sm_90a"). Returns false with *error for empty lists, "all", "native" and bad tokens.
bool ParseCudaArchitectures(std::string_view list, std::vector<std::string>* sass,
                            std::vector<std::string>* ptx, std::string* error);

// Whether code built with these SASS/PTX architectures can run on a device of compute
// capability `cc`: SASS sm_XY runs on sm_XZ for Z >= Y of the same major ("a" variants
// only on exactly XY, "f" variants on the same major); PTX compute_XY JIT-compiles for
// any cc >= XY (if the driver knows that PTX version). *why (optional) says which entry
// covers it, or the no-kernel-image reason.
bool ArchitectureCovered(int cc, const std::vector<std::string>& sass,
                         const std::vector<std::string>& ptx, std::string* why);

// "sm_90" for 90, "sm_120" for 120.
std::string SmName(int cc);

// The reason text for a failed probe step. `detail` is the CUDA error text where there
// is one. Examples: "no kernel image for sm_90: built for sm_120", "driver too old:
// driver supports CUDA 12.4, runtime is 13.0", "self-test kernel computed wrong results
// (...)".
std::string DescribeFailure(ProbeFailure failure, std::string_view detail, int cc,
                            const std::vector<std::string>& sass,
                            const std::vector<std::string>& ptx, int driver_version,
                            int runtime_version);

// "13.0" for 13000, "12.4" for 12040.
std::string CudaVersionString(int version);

// --- CUDA_VISIBLE_DEVICES ------------------------------------------------------------

// The physical devices (indices below `device_count`) a process sees for this value of
// CUDA_VISIBLE_DEVICES, in order, as CUDA 13 does (checked on an H200, driver 580):
// nullptr (unset) = all; comma-separated entries, each an optional '+' and digits with
// spaces around and anything after the digits ignored ("0x0" is 0); the list stops at
// the first invalid entry (empty, not a number, negative, out of range), so "" and "foo"
// give none and "0,5" on one GPU gives {0}. A repeated index makes CUDA fail outright
// (cudaErrorInvalidDevice): then this returns false and *visible is empty. UUID entries
// count as invalid here (fake devices have no UUIDs).
bool VisibleDeviceIndices(const char* cuda_visible_devices, int device_count,
                          std::vector<int>* visible);

// The CUDA_VISIBLE_DEVICES value that pins a child process to device `ordinal` of this
// process: the ordinal-th entry of our own value (unchanged, so UUIDs pass through), or
// the ordinal itself when ours is unset. Empty when `ordinal` is not visible to us.
std::string CudaVisibleDevicesForOrdinal(const char* cuda_visible_devices, int ordinal);

// --- Fake devices ------------------------------------------------------------------------

struct FakeDeviceSpec {
  int compute_capability = 0;
  int64_t total_memory_bytes = 0;
  bool no_kernel = false;   // ":nokernel": the self-test fails with no kernel image
  bool cannot_run = false;  // ":cannot-run": see DeviceProbe::fake_cannot_run
};

// Parses ProbeOptions::fake_devices (list or file). Returns false with *error.
bool ParseFakeDevices(std::string_view spec, std::vector<FakeDeviceSpec>* devices,
                      std::string* error);

// "32 GiB", "1536 MiB", "1000 B".
std::string FormatBytes(int64_t bytes);

}  // namespace kiln::device

#endif  // KILN_WORKER_DEVICE_DEVICE_PROBE_H_
