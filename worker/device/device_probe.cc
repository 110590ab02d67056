// Probe logic shared by real and simulated devices: architecture lists and coverage,
// CUDA_VISIBLE_DEVICES, fake-device specs, reason texts, and the probe loop itself.
#include "worker/device/device_probe.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "worker/device/device_backend.h"

namespace kiln::device {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits on any of `separators`, trimming each piece; keeps empty pieces.
std::vector<std::string_view> Split(std::string_view s, std::string_view separators) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || separators.find(s[i]) != std::string_view::npos) {
      out.push_back(Trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Parses 2 or 3 decimal digits naming a compute capability (10..999).
bool ParseCc(std::string_view digits, int* cc) {
  if (digits.size() < 2 || digits.size() > 3 || !AllDigits(digits) || digits[0] == '0') {
    return false;
  }
  *cc = 0;
  for (char c : digits) *cc = *cc * 10 + (c - '0');
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// An architecture entry: "sm_90", "sm_90a", "compute_100f".
struct Arch {
  int cc = 0;
  char variant = 0;  // 0, 'a' (this exact cc only) or 'f' (same major family)
};

bool ParseArch(std::string_view name, std::string_view prefix, Arch* arch) {
  if (name.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = name.substr(prefix.size());
  arch->variant = 0;
  if (!rest.empty() && (rest.back() == 'a' || rest.back() == 'f')) {
    arch->variant = rest.back();
    rest.remove_suffix(1);
  }
  return ParseCc(rest, &arch->cc);
}

bool SassRunsOn(const Arch& sass, int cc) {
  if (sass.variant == 'a') return sass.cc == cc;
  // A cubin for X.y runs on X.z for z >= y, never across majors.
  return sass.cc / 10 == cc / 10 && sass.cc % 10 <= cc % 10;
}

bool PtxJitsFor(const Arch& ptx, int cc) {
  if (ptx.variant == 'a') return ptx.cc == cc;
  if (ptx.variant == 'f') return ptx.cc / 10 == cc / 10 && ptx.cc % 10 <= cc % 10;
  return ptx.cc <= cc;
}

std::string BuiltFor(const std::vector<std::string>& sass, const std::vector<std::string>& ptx) {
  std::string out;
  for (const auto* list : {&sass, &ptx}) {
    for (const std::string& a : *list) {
      if (!out.empty()) out += ", ";
      out += a;
    }
  }
  return out.empty() ? "no CUDA architecture" : out;
}

std::string NoKernelImage(int cc, const std::vector<std::string>& sass,
                          const std::vector<std::string>& ptx) {
  return "no kernel image for " + SmName(cc) + ": built for " + BuiltFor(sass, ptx);
}

// Parses a memory size with a unit: "32GiB", "512 MiB", "80GB".
bool ParseBytes(std::string_view s, int64_t* bytes) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return false;
  int64_t value = std::strtoll(std::string(s.substr(0, digits)).c_str(), nullptr, 10);
  const std::string unit = ToLower(Trim(s.substr(digits)));
  static constexpr struct {
    const char* unit;
    int64_t scale;
  } kUnits[] = {{"b", 1},
                {"kib", int64_t{1} << 10},
                {"mib", int64_t{1} << 20},
                {"gib", int64_t{1} << 30},
                {"tib", int64_t{1} << 40},
                {"kb", 1000},
                {"mb", 1000 * 1000},
                {"gb", 1000 * 1000 * 1000},
                {"tb", int64_t{1000} * 1000 * 1000 * 1000}};
  for (const auto& u : kUnits) {
    if (unit == u.unit) {
      if (value <= 0 || value > INT64_MAX / u.scale) return false;
      *bytes = value * u.scale;
      return true;
    }
  }
  return false;
}

constexpr char kFakeSyntax[] =
    "expected sm_XY:SIZE[:nokernel][:cannot-run], e.g. sm_120:32GiB or "
    "sm_90:80GiB:nokernel";

bool ParseFakeEntry(std::string_view entry, FakeDeviceSpec* spec, std::string* error) {
  const std::vector<std::string_view> fields = Split(entry, ":");
  Arch arch;
  if (!ParseArch(fields[0], "sm_", &arch) || arch.variant != 0) {
    *error = "bad architecture \"" + std::string(fields[0]) +
             "\" (sm_ followed by the compute capability, e.g. sm_90 or sm_120)";
    return false;
  }
  spec->compute_capability = arch.cc;
  if (fields.size() < 2 || fields[1].empty()) {
    *error = "missing memory size";
    return false;
  }
  if (!ParseBytes(fields[1], &spec->total_memory_bytes)) {
    *error = "bad memory size \"" + std::string(fields[1]) +
             "\" (a positive whole number with a unit: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)";
    return false;
  }
  for (size_t i = 2; i < fields.size(); ++i) {
    const std::string flag = ToLower(fields[i]);
    if (flag == "nokernel") {
      spec->no_kernel = true;
    } else if (flag == "cannot-run") {
      spec->cannot_run = true;
    } else {
      *error = "unknown flag \"" + std::string(fields[i]) + "\" (nokernel or cannot-run)";
      return false;
    }
  }
  return true;
}

}  // namespace

std::string SmName(int cc) { return "sm_" + std::to_string(cc); }

std::string CudaVersionString(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::string FormatBytes(int64_t bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30, kMiB = int64_t{1} << 20;
  if (bytes > 0 && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + " GiB";
  if (bytes > 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " B";
}

bool ParseCudaArchitectures(std::string_view list, std::vector<std::string>* sass,
                            std::vector<std::string>* ptx, std::string* error) {
  sass->clear();
  ptx->clear();
  auto add = [](std::vector<std::string>* v, std::string a) {
    for (const std::string& x : *v) {
      if (x == a) return;
    }
    v->push_back(std::move(a));
  };
  for (std::string_view token : Split(list, ";,")) {
    if (token.empty()) continue;
    bool want_sass = true, want_ptx = true;
    std::string_view number = token;
    if (const size_t dash = token.find('-'); dash != std::string_view::npos) {
      const std::string_view kind = token.substr(dash + 1);
      number = token.substr(0, dash);
      if (kind == "real") {
        want_ptx = false;
      } else if (kind == "virtual") {
        want_sass = false;
      } else {
        number = {};  // reported below
      }
    }
    Arch arch;
    if (!ParseArch(std::string("sm_") + std::string(number), "sm_", &arch)) {
      *error = "bad CUDA architecture \"" + std::string(token) +
               "\" (want NN, NN-real or NN-virtual; all/native are not resolved here)";
      return false;
    }
    const std::string suffix = std::string(number.substr(number.size() - (arch.variant ? 1 : 0)));
    const std::string cc = std::to_string(arch.cc) + suffix;
    if (want_sass) add(sass, "sm_" + cc);
    if (want_ptx) add(ptx, "compute_" + cc);
  }
  if (sass->empty() && ptx->empty()) {
    *error = "empty CUDA architecture list";
    return false;
  }
  return true;
}

bool ArchitectureCovered(int cc, const std::vector<std::string>& sass,
                         const std::vector<std::string>& ptx, std::string* why) {
  Arch arch;
  for (const std::string& s : sass) {
    if (ParseArch(s, "sm_", &arch) && SassRunsOn(arch, cc)) {
      if (why != nullptr) {
        *why = arch.cc == cc ? s + " SASS" : s + " SASS runs on " + SmName(cc);
      }
      return true;
    }
  }
  for (const std::string& p : ptx) {
    if (ParseArch(p, "compute_", &arch) && PtxJitsFor(arch, cc)) {
      if (why != nullptr) *why = p + " PTX, JIT-compiled by the driver for " + SmName(cc);
      return true;
    }
  }
  if (why != nullptr) *why = NoKernelImage(cc, sass, ptx);
  return false;
}

std::string DescribeFailure(ProbeFailure failure, std::string_view detail, int cc,
                            const std::vector<std::string>& sass,
                            const std::vector<std::string>& ptx, int driver_version,
                            int runtime_version) {
  const std::string d(detail);
  switch (failure) {
    case ProbeFailure::kNone:
      return "";
    case ProbeFailure::kBuiltWithoutCuda:
      return "built without CUDA (this binary has no CUDA kernels; fake devices still work)";
    case ProbeFailure::kNoDriver:
      return "no CUDA driver" + (d.empty() ? "" : " (" + d + ")");
    case ProbeFailure::kInsufficientDriver:
      return "driver too old: driver supports CUDA " + CudaVersionString(driver_version) +
             ", runtime is " + CudaVersionString(runtime_version);
    case ProbeFailure::kNoDevice:
      return "no CUDA device visible" + (d.empty() ? "" : " (" + d + ")");
    case ProbeFailure::kNoKernelImage:
      return NoKernelImage(cc, sass, ptx);
    case ProbeFailure::kPtxJitFailed:
      return NoKernelImage(cc, sass, ptx) + "; the driver (CUDA " +
             CudaVersionString(driver_version) + ") could not JIT the PTX: " + d;
    case ProbeFailure::kWrongResult:
      return "self-test kernel computed wrong results" + (d.empty() ? "" : " (" + d + ")");
    case ProbeFailure::kCudaError:
      return "CUDA error: " + d;
  }
  return "CUDA error: " + d;
}

bool VisibleDeviceIndices(const char* cuda_visible_devices, int device_count,
                          std::vector<int>* visible) {
  visible->clear();
  if (cuda_visible_devices == nullptr) {
    for (int i = 0; i < device_count; ++i) visible->push_back(i);
    return true;
  }
  for (std::string_view token : Split(cuda_visible_devices, ",")) {
    // Like CUDA 13: an optional '+', then digits; anything after them is ignored.
    if (!token.empty() && token.front() == '+') token.remove_prefix(1);
    size_t digits = 0;
    while (digits < token.size() && token[digits] >= '0' && token[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) break;
    const int index = std::atoi(std::string(token.substr(0, digits)).c_str());
    if (index >= device_count) break;
    for (int v : *visible) {
      if (v == index) {
        visible->clear();
        return false;
      }
    }
    visible->push_back(index);
  }
  return true;
}

std::string CudaVisibleDevicesForOrdinal(const char* cuda_visible_devices, int ordinal) {
  if (ordinal < 0) return "";
  if (cuda_visible_devices == nullptr) return std::to_string(ordinal);
  const std::vector<std::string_view> tokens = Split(cuda_visible_devices, ",");
  for (int i = 0; i <= ordinal && i < static_cast<int>(tokens.size()); ++i) {
    if (tokens[i].empty()) return "";
  }
  return ordinal < static_cast<int>(tokens.size()) ? std::string(tokens[ordinal]) : "";
}

bool ParseFakeDevices(std::string_view spec, std::vector<FakeDeviceSpec>* devices,
                      std::string* error) {
  devices->clear();
  std::string text(spec);
  std::string where = "fake devices";
  if (spec.find(':') == std::string_view::npos) {
    // Every device entry has a ':', so this names a file.
    std::ifstream in{std::string(spec)};
    if (!in) {
      *error = "fake devices: cannot read file \"" + std::string(spec) +
               "\": " + std::strerror(errno) + " (or give a list: " + kFakeSyntax + ")";
      return false;
    }
    std::stringstream content;
    content << in.rdbuf();
    const std::string file = content.str();
    text.clear();
    for (std::string_view line : Split(file, "\n")) {
      text += std::string(line.substr(0, line.find('#')));
      text += ',';
    }
    where = "fake devices file \"" + std::string(spec) + "\"";
  }
  int number = 0;
  for (std::string_view entry : Split(text, ",")) {
    if (entry.empty()) continue;
    ++number;
    FakeDeviceSpec device;
    std::string why;
    if (!ParseFakeEntry(entry, &device, &why)) {
      *error = where + ": entry " + std::to_string(number) + " \"" + std::string(entry) +
               "\": " + why + "; " + kFakeSyntax;
      return false;
    }
    devices->push_back(device);
  }
  if (devices->empty() && spec.find(':') != std::string_view::npos) {
    *error = where + ": no device in \"" + std::string(spec) + "\"; " + kFakeSyntax;
    return false;
  }
  return true;
}

ProbeReport ProbeDevicesWith(const ProbeOptions& options, DeviceBackend* real) {
  ProbeReport report;
  std::unique_ptr<DeviceBackend> fake;
  DeviceBackend* backend = real;
  if (!options.fake_devices.empty()) {
    std::vector<FakeDeviceSpec> specs;
    if (!ParseFakeDevices(options.fake_devices, &specs, &report.error)) {
      report.invalid_options = true;
      return report;
    }
    // Simulated kernels carry what the real ones were built for.
    fake = MakeFakeBackend(std::move(specs), std::getenv("CUDA_VISIBLE_DEVICES"),
                           real != nullptr ? real->KernelArchitectures(0) : "");
    backend = fake.get();
    report.simulated = true;
  }
  const int driver = backend->DriverVersion();
  const int runtime = backend->RuntimeVersion();
  int count = 0;
  BackendStatus status = backend->CountDevices(&count);
  if (status.ok() && count <= 0) status = {ProbeFailure::kNoDevice, ""};
  if (!status.ok()) {
    if (status.failure == ProbeFailure::kNoDevice) {
      const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
      if (env != nullptr)
        status.detail +=
            std::string(status.detail.empty() ? "" : "; ") + "CUDA_VISIBLE_DEVICES=\"" + env + "\"";
    }
    report.failure = status.failure;
    report.error = DescribeFailure(status.failure, status.detail, 0, {}, {}, driver, runtime);
    return report;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    DeviceProbe& probe = report.devices.emplace_back();
    probe.ordinal = ordinal;
    probe.simulated = backend->simulated();
    probe.driver_version = driver;
    probe.runtime_version = runtime;
    std::string ignored;
    if (!ParseCudaArchitectures(backend->KernelArchitectures(ordinal), &probe.kernel_sass,
                                &probe.kernel_ptx, &ignored)) {
      probe.kernel_sass.clear();
      probe.kernel_ptx.clear();
    }
    BackendDeviceInfo info;
    status = backend->QueryDevice(ordinal, &info);
    if (status.ok()) {
      probe.name = info.name;
      probe.compute_capability = info.compute_capability;
      probe.total_memory_bytes = info.total_memory_bytes;
      probe.free_memory_bytes = info.free_memory_bytes;
      probe.fake_cannot_run = info.fake_cannot_run;
      const auto start = std::chrono::steady_clock::now();
      status = backend->RunSelfTest(ordinal);
      probe.self_test_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
    } else if (probe.name.empty()) {
      probe.name = "CUDA device " + std::to_string(ordinal);
    }
    probe.runnable = status.ok();
    probe.failure = status.failure;
    probe.unrunnable_reason =
        DescribeFailure(status.failure, status.detail, probe.compute_capability, probe.kernel_sass,
                        probe.kernel_ptx, driver, runtime);
  }
  return report;
}

}  // namespace kiln::device
