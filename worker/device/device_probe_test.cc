// Unit tests of the probe logic; no GPU needed (fake devices and a scripted backend).
#include "worker/device/device_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "worker/device/device_backend.h"

namespace kiln::device {
namespace {

using Strings = std::vector<std::string>;
using Ints = std::vector<int>;

// gtest only (no gmock): the standalone GPU-box build needs nothing more.
::testing::AssertionResult HasSubstr(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << part << "\"";
}
::testing::AssertionResult StartsWith(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << s << "\" does not start with \"" << prefix << "\"";
}

// Sets (or, with nullopt, unsets) an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ParseCudaArchitecturesTest, DefaultList) {
  std::vector<std::string> sass, ptx;
  std::string error;
  ASSERT_TRUE(ParseCudaArchitectures("75-real;80-real;86-real;89-real;90-real;100-real;120", &sass,
                                     &ptx, &error))
      << error;
  EXPECT_EQ(sass, (Strings{"sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120"}));
  EXPECT_EQ(ptx, (Strings{"compute_120"}));
}

TEST(ParseCudaArchitecturesTest, CommaSeparatedVirtualAndVariants) {
  std::vector<std::string> sass, ptx;
  std::string error;
  ASSERT_TRUE(ParseCudaArchitectures(" 90a-real, 100f ,80-virtual,", &sass, &ptx, &error)) << error;
  EXPECT_EQ(sass, (Strings{"sm_90a", "sm_100f"}));
  EXPECT_EQ(ptx, (Strings{"compute_100f", "compute_80"}));
}

TEST(ParseCudaArchitecturesTest, RejectsWhatItCannotReport) {
  for (const char* bad :
       {"", ";", "all", "native", "all-major", "90-foo", "9", "090", "1200", "sm_90"}) {
    std::vector<std::string> sass, ptx;
    std::string error;
    EXPECT_FALSE(ParseCudaArchitectures(bad, &sass, &ptx, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

struct CoverageCase {
  int cc;
  std::vector<std::string> sass, ptx;
  bool covered;
  std::string why;
};

TEST(ArchitectureCoveredTest, Table) {
  const std::vector<CoverageCase> cases = {
      {90, {"sm_90"}, {}, true, "sm_90 SASS"},
      {89, {"sm_86"}, {}, true, "sm_86 SASS runs on sm_89"},
      {121, {"sm_120"}, {}, true, "sm_120 SASS runs on sm_121"},
      {86, {"sm_89"}, {}, false, "no kernel image for sm_86: built for sm_89"},
      // A cubin never crosses a major version, up or down.
      {90, {"sm_86", "sm_89"}, {}, false, "no kernel image for sm_90: built for sm_86, sm_89"},
      {120, {"sm_100"}, {}, false, "no kernel image for sm_120: built for sm_100"},
      {90, {"sm_120"}, {}, false, "no kernel image for sm_90: built for sm_120"},
      // PTX JIT-compiles upward, across majors, never downward.
      {90, {}, {"compute_80"}, true, "compute_80 PTX, JIT-compiled by the driver for sm_90"},
      {75,
       {"sm_120"},
       {"compute_80"},
       false,
       "no kernel image for sm_75: built for sm_120, compute_80"},
      {90,
       {"sm_120"},
       {"compute_120"},
       false,
       "no kernel image for sm_90: built for sm_120, compute_120"},
      // SASS preferred over PTX when both cover.
      {120, {"sm_120"}, {"compute_120"}, true, "sm_120 SASS"},
      // Architecture-specific ("a") code runs only on exactly that cc; family ("f") code
      // on the same major.
      {90, {"sm_90a"}, {}, true, "sm_90a SASS"},
      {103,
       {"sm_100a"},
       {"compute_100a"},
       false,
       "no kernel image for sm_103: built for sm_100a, compute_100a"},
      {103, {"sm_100f"}, {}, true, "sm_100f SASS runs on sm_103"},
      {110, {}, {"compute_100f"}, false, "no kernel image for sm_110: built for compute_100f"},
      {90, {}, {}, false, "no kernel image for sm_90: built for no CUDA architecture"},
  };
  for (const CoverageCase& c : cases) {
    std::string why;
    EXPECT_EQ(ArchitectureCovered(c.cc, c.sass, c.ptx, &why), c.covered) << c.why;
    EXPECT_EQ(why, c.why);
  }
}

TEST(ArchitectureCoveredTest, DefaultListCoversTheFleetButNotThor) {
  std::vector<std::string> sass, ptx;
  std::string error;
  ASSERT_TRUE(ParseCudaArchitectures(kDefaultCudaArchitectures, &sass, &ptx, &error));
  for (int cc : {75, 80, 86, 87, 89, 90, 100, 103, 120, 121}) {
    EXPECT_TRUE(ArchitectureCovered(cc, sass, ptx, nullptr)) << cc;
  }
  // sm_110 is newer than sm_100's major and older than the compute_120 PTX.
  EXPECT_FALSE(ArchitectureCovered(110, sass, ptx, nullptr));
  EXPECT_FALSE(ArchitectureCovered(70, sass, ptx, nullptr));
}

Ints Visible(const char* value, int count) {
  Ints visible;
  EXPECT_TRUE(VisibleDeviceIndices(value, count, &visible)) << value;
  return visible;
}

// Each case below was checked against CUDA 13.0 (driver 580) on a one-GPU H200.
TEST(VisibleDeviceIndicesTest, FollowsCudaRules) {
  EXPECT_EQ(Visible(nullptr, 3), (Ints{0, 1, 2}));
  EXPECT_EQ(Visible("", 3), Ints{});
  EXPECT_EQ(Visible("foo", 3), Ints{});
  EXPECT_EQ(Visible("-1", 3), Ints{});
  EXPECT_EQ(Visible("2,0", 3), (Ints{2, 0}));
  EXPECT_EQ(Visible(" 1 , 2 ", 3), (Ints{1, 2}));
  EXPECT_EQ(Visible("00,+1,2x", 3), (Ints{0, 1, 2}));
  // The list stops at the first invalid entry: out of range, empty, not a number.
  EXPECT_EQ(Visible("0,5,1", 3), (Ints{0}));
  EXPECT_EQ(Visible("5,0", 3), Ints{});
  EXPECT_EQ(Visible("0,-1,1", 3), (Ints{0}));
  EXPECT_EQ(Visible("0,,0", 3), (Ints{0}));
  EXPECT_EQ(Visible("1,GPU-1234,0", 3), (Ints{1}));
  EXPECT_EQ(Visible("0", 0), Ints{});
}

TEST(VisibleDeviceIndicesTest, RepeatedIndexIsAnError) {
  Ints visible = {7};
  EXPECT_FALSE(VisibleDeviceIndices("0,0", 3, &visible));
  EXPECT_EQ(visible, Ints{});
  EXPECT_FALSE(VisibleDeviceIndices("1,2,1", 3, &visible));
}

TEST(CudaVisibleDevicesForOrdinalTest, MapsThroughOurOwnList) {
  EXPECT_EQ(CudaVisibleDevicesForOrdinal(nullptr, 2), "2");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("3,1", 0), "3");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("3,1", 1), "1");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("GPU-abc, 2", 0), "GPU-abc");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("3", 1), "");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("", 0), "");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal("0,,1", 2), "");
  EXPECT_EQ(CudaVisibleDevicesForOrdinal(nullptr, -1), "");
}

TEST(ParseFakeDevicesTest, ListWithUnitsAndFlags) {
  std::vector<FakeDeviceSpec> devices;
  std::string error;
  ASSERT_TRUE(ParseFakeDevices(
      "sm_120:32GiB, sm_90:80GiB:nokernel,sm_86:24gib:cannot-run,sm_75:16000MB,sm_80:512MiB",
      &devices, &error))
      << error;
  ASSERT_EQ(devices.size(), 5u);
  EXPECT_EQ(devices[0].compute_capability, 120);
  EXPECT_EQ(devices[0].total_memory_bytes, int64_t{32} << 30);
  EXPECT_FALSE(devices[0].no_kernel);
  EXPECT_TRUE(devices[1].no_kernel);
  EXPECT_FALSE(devices[1].cannot_run);
  EXPECT_EQ(devices[2].compute_capability, 86);
  EXPECT_TRUE(devices[2].cannot_run);
  EXPECT_EQ(devices[3].total_memory_bytes, int64_t{16000} * 1000 * 1000);
  EXPECT_EQ(devices[4].total_memory_bytes, int64_t{512} << 20);
}

TEST(ParseFakeDevicesTest, ErrorsSayWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sm_9:1GiB", "entry 1 \"sm_9:1GiB\": bad architecture \"sm_9\""},
      {"sm_90:1GiB,gpu:2GiB", "entry 2 \"gpu:2GiB\": bad architecture \"gpu\""},
      {"sm_90a:1GiB", "bad architecture \"sm_90a\""},
      {"sm_90:", "missing memory size"},
      {"sm_90:32", "bad memory size \"32\""},
      {"sm_90:32XB", "bad memory size \"32XB\""},
      {"sm_90:0GiB", "bad memory size \"0GiB\""},
      {"sm_90:1.5GiB", "bad memory size \"1.5GiB\""},
      {"sm_90:1GiB:bogus", "unknown flag \"bogus\""},
      {",:,", "bad architecture"},
  };
  for (const auto& [spec, want] : cases) {
    std::vector<FakeDeviceSpec> devices;
    std::string error;
    EXPECT_FALSE(ParseFakeDevices(spec, &devices, &error)) << spec;
    EXPECT_TRUE(HasSubstr(error, want)) << spec;
    EXPECT_TRUE(StartsWith(error, "fake devices")) << spec;
    EXPECT_TRUE(HasSubstr(error, "e.g. sm_120:32GiB")) << spec;
  }
}

TEST(ParseFakeDevicesTest, FileWithLinesCommasAndComments) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("fleet-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path);
    out << "# a simulated fleet\n"
           "sm_120:32GiB   # the Blackwell box\n"
           "\n"
           "sm_90:80GiB:nokernel, sm_86:24GiB\r\n";
  }
  std::vector<FakeDeviceSpec> devices;
  std::string error;
  ASSERT_TRUE(ParseFakeDevices(path.string(), &devices, &error)) << error;
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0].compute_capability, 120);
  EXPECT_TRUE(devices[1].no_kernel);
  EXPECT_EQ(devices[2].compute_capability, 86);

  {
    std::ofstream out(path);
    out << "sm_120:32GiB\nsm_90:lots\n";
  }
  EXPECT_FALSE(ParseFakeDevices(path.string(), &devices, &error));
  EXPECT_TRUE(StartsWith(error, "fake devices file \"" + path.string() + "\": entry 2"));
  std::filesystem::remove(path);

  EXPECT_FALSE(ParseFakeDevices(path.string(), &devices, &error));
  EXPECT_TRUE(HasSubstr(error, "cannot read file"));
  EXPECT_TRUE(HasSubstr(error, "No such file"));
}

TEST(FormatBytesTest, WholeUnits) {
  EXPECT_EQ(FormatBytes(int64_t{32} << 30), "32 GiB");
  EXPECT_EQ(FormatBytes(int64_t{1536} << 20), "1536 MiB");
  EXPECT_EQ(FormatBytes(1000), "1000 B");
}

TEST(DescribeFailureTest, ReasonTexts) {
  EXPECT_EQ(DescribeFailure(ProbeFailure::kInsufficientDriver, "x", 0, {}, {}, 12040, 13000),
            "driver too old: driver supports CUDA 12.4, runtime is 13.0");
  EXPECT_EQ(
      DescribeFailure(ProbeFailure::kNoKernelImage, "ignored", 90, {"sm_120"}, {}, 13000, 13000),
      "no kernel image for sm_90: built for sm_120");
  EXPECT_EQ(DescribeFailure(ProbeFailure::kPtxJitFailed, "PTX too new", 90, {}, {"compute_100"},
                            12080, 13000),
            "no kernel image for sm_90: built for compute_100; the driver (CUDA 12.8) could not "
            "JIT the PTX: PTX too new");
  EXPECT_EQ(DescribeFailure(ProbeFailure::kWrongResult, "", 90, {}, {}, 0, 0),
            "self-test kernel computed wrong results");
  EXPECT_EQ(
      DescribeFailure(ProbeFailure::kCudaError, "cudaMalloc: out of memory", 90, {}, {}, 0, 0),
      "CUDA error: cudaMalloc: out of memory");
  EXPECT_EQ(CudaVersionString(13000), "13.0");
  EXPECT_EQ(CudaVersionString(12090), "12.9");
}

constexpr char kFleet[] = "sm_120:32GiB,sm_90:80GiB:nokernel,sm_86:24GiB:cannot-run";

TEST(FakeProbeTest, AllVisibleByDefault) {
  ScopedEnv env("CUDA_VISIBLE_DEVICES", std::nullopt);
  const ProbeReport report = ProbeDevices({.fake_devices = kFleet});
  ASSERT_EQ(report.error, "");
  EXPECT_TRUE(report.simulated);
  ASSERT_EQ(report.devices.size(), 3u);

  const DeviceProbe& blackwell = report.devices[0];
  EXPECT_EQ(blackwell.ordinal, 0);
  EXPECT_EQ(blackwell.name, "Simulated sm_120 (32 GiB)");
  EXPECT_EQ(blackwell.compute_capability, 120);
  EXPECT_EQ(blackwell.total_memory_bytes, int64_t{32} << 30);
  EXPECT_EQ(blackwell.free_memory_bytes, blackwell.total_memory_bytes);
  EXPECT_TRUE(blackwell.runnable);
  EXPECT_EQ(blackwell.unrunnable_reason, "");
  EXPECT_TRUE(blackwell.simulated);
  EXPECT_FALSE(blackwell.fake_cannot_run);
  EXPECT_EQ(blackwell.driver_version, 13000);
  EXPECT_EQ(blackwell.runtime_version, 13000);
  EXPECT_FALSE(blackwell.kernel_sass.empty());

  // ":nokernel" drops what covers sm_90 from the simulated build, then fails the way a
  // real launch does.
  const DeviceProbe& hopper = report.devices[1];
  EXPECT_EQ(hopper.name, "Simulated sm_90 (80 GiB)");
  EXPECT_FALSE(hopper.runnable);
  EXPECT_EQ(hopper.failure, ProbeFailure::kNoKernelImage);
  EXPECT_TRUE(StartsWith(hopper.unrunnable_reason, "no kernel image for sm_90: built for "));
  EXPECT_FALSE(HasSubstr(hopper.unrunnable_reason, "sm_90,"));
  EXPECT_EQ(std::count(hopper.kernel_sass.begin(), hopper.kernel_sass.end(), "sm_90"), 0);
  EXPECT_FALSE(ArchitectureCovered(90, hopper.kernel_sass, hopper.kernel_ptx, nullptr));

  // ":cannot-run" passes the self-test; the executor fails its tasks.
  const DeviceProbe& ampere = report.devices[2];
  EXPECT_TRUE(ampere.runnable);
  EXPECT_TRUE(ampere.fake_cannot_run);
}

TEST(FakeProbeTest, HonoursCudaVisibleDevices) {
  {
    ScopedEnv env("CUDA_VISIBLE_DEVICES", "2,0");
    const ProbeReport report = ProbeDevices({.fake_devices = kFleet});
    ASSERT_EQ(report.devices.size(), 2u);
    EXPECT_EQ(report.devices[0].ordinal, 0);
    EXPECT_EQ(report.devices[0].compute_capability, 86);
    EXPECT_EQ(report.devices[1].ordinal, 1);
    EXPECT_EQ(report.devices[1].compute_capability, 120);
  }
  for (const char* none : {"", "foo", "3"}) {
    ScopedEnv env("CUDA_VISIBLE_DEVICES", none);
    const ProbeReport report = ProbeDevices({.fake_devices = kFleet});
    EXPECT_TRUE((report.devices).empty()) << none;
    EXPECT_EQ(report.failure, ProbeFailure::kNoDevice);
    EXPECT_EQ(
        report.error,
        std::string("no CUDA device visible (simulated; CUDA_VISIBLE_DEVICES=\"") + none + "\")");
    EXPECT_FALSE(report.invalid_options);
  }
}

TEST(FakeProbeTest, RepeatedVisibleIndexFailsLikeCuda) {
  ScopedEnv env("CUDA_VISIBLE_DEVICES", "1,1");
  const ProbeReport report = ProbeDevices({.fake_devices = kFleet});
  EXPECT_TRUE(report.devices.empty());
  EXPECT_EQ(report.failure, ProbeFailure::kCudaError);
  EXPECT_EQ(report.error,
            "CUDA error: cudaGetDeviceCount: invalid device ordinal (cudaErrorInvalidDevice) "
            "(simulated)");
}

TEST(FakeProbeTest, UncoveredArchitectureFailsLikeARealLaunch) {
  ScopedEnv env("CUDA_VISIBLE_DEVICES", std::nullopt);
  // sm_61 is older than every architecture of the (default or real) build.
  const ProbeReport report = ProbeDevices({.fake_devices = "sm_61:8GiB"});
  ASSERT_EQ(report.devices.size(), 1u);
  EXPECT_FALSE(report.devices[0].runnable);
  EXPECT_TRUE(
      StartsWith(report.devices[0].unrunnable_reason, "no kernel image for sm_61: built for sm_"));
}

TEST(FakeProbeTest, BadSpecIsAnOptionsError) {
  const ProbeReport report = ProbeDevices({.fake_devices = "sm_120:32GiB,sm_90"});
  EXPECT_TRUE((report.devices).empty());
  EXPECT_TRUE(report.invalid_options);
  EXPECT_TRUE(HasSubstr(report.error, "entry 2 \"sm_90\": missing memory size"));
}

// A scripted stand-in for the CUDA runtime, to check the real path's reason texts.
class ScriptedBackend : public DeviceBackend {
 public:
  bool simulated() const override { return false; }
  int DriverVersion() override { return driver; }
  int RuntimeVersion() override { return 13000; }
  BackendStatus CountDevices(int* n) override {
    *n = static_cast<int>(ccs.size());
    return count_status;
  }
  BackendStatus QueryDevice(int ordinal, BackendDeviceInfo* info) override {
    if (!query_status.ok()) return query_status;
    info->name = "GPU " + std::to_string(ordinal);
    info->compute_capability = ccs[ordinal];
    info->total_memory_bytes = int64_t{80} << 30;
    info->free_memory_bytes = int64_t{79} << 30;
    return {};
  }
  std::string KernelArchitectures(int) override { return archs; }
  BackendStatus RunSelfTest(int) override { return self_test_status; }

  int driver = 13000;
  std::vector<int> ccs = {90};
  std::string archs = "120-real";
  BackendStatus count_status, query_status, self_test_status;
};

TEST(RealPathTest, NoKernelImage) {
  ScriptedBackend backend;
  backend.self_test_status = {ProbeFailure::kNoKernelImage, "cudaErrorNoKernelImageForDevice"};
  const ProbeReport report = ProbeDevicesWith({}, &backend);
  ASSERT_EQ(report.devices.size(), 1u);
  const DeviceProbe& d = report.devices[0];
  EXPECT_FALSE(d.runnable);
  EXPECT_EQ(d.unrunnable_reason, "no kernel image for sm_90: built for sm_120");
  EXPECT_EQ(d.kernel_sass, (Strings{"sm_120"}));
  EXPECT_TRUE((d.kernel_ptx).empty());
  EXPECT_EQ(d.total_memory_bytes, int64_t{80} << 30);
  EXPECT_EQ(d.free_memory_bytes, int64_t{79} << 30);
}

TEST(RealPathTest, FakeDevicesCarryTheRealBuildsArchitectures) {
  ScopedEnv env("CUDA_VISIBLE_DEVICES", std::nullopt);
  ScriptedBackend backend;  // kernels for sm_120 only
  const ProbeReport report =
      ProbeDevicesWith({.fake_devices = "sm_90:80GiB,sm_120:32GiB"}, &backend);
  ASSERT_EQ(report.devices.size(), 2u);
  EXPECT_EQ(report.devices[0].unrunnable_reason, "no kernel image for sm_90: built for sm_120");
  EXPECT_TRUE(report.devices[1].runnable);
}

TEST(RealPathTest, DriverTooOld) {
  ScriptedBackend backend;
  backend.driver = 12040;
  backend.count_status = {ProbeFailure::kInsufficientDriver, "cudaGetDeviceCount(count): ..."};
  const ProbeReport report = ProbeDevicesWith({}, &backend);
  EXPECT_TRUE((report.devices).empty());
  EXPECT_EQ(report.failure, ProbeFailure::kInsufficientDriver);
  EXPECT_EQ(report.error, "driver too old: driver supports CUDA 12.4, runtime is 13.0");
}

TEST(RealPathTest, WrongResultAndOtherErrors) {
  ScriptedBackend backend;
  backend.ccs = {90, 120};
  backend.archs = "90-real;120";
  backend.self_test_status = {ProbeFailure::kWrongResult, "element 7: got 1, want 2"};
  ProbeReport report = ProbeDevicesWith({}, &backend);
  ASSERT_EQ(report.devices.size(), 2u);
  EXPECT_EQ(report.devices[1].unrunnable_reason,
            "self-test kernel computed wrong results (element 7: got 1, want 2)");

  backend.query_status = {ProbeFailure::kCudaError,
                          "cudaMemGetInfo(&free_bytes, &total_bytes): all CUDA-capable devices "
                          "are busy or unavailable (cudaErrorDevicesUnavailable)"};
  report = ProbeDevicesWith({}, &backend);
  ASSERT_EQ(report.devices.size(), 2u);
  EXPECT_EQ(report.devices[0].name, "CUDA device 0");
  EXPECT_FALSE(report.devices[0].runnable);
  EXPECT_TRUE(StartsWith(report.devices[0].unrunnable_reason, "CUDA error: cudaMemGetInfo"));
}

TEST(RealPathTest, NoDeviceNamesCudaVisibleDevices) {
  ScopedEnv env("CUDA_VISIBLE_DEVICES", "7");
  ScriptedBackend backend;
  backend.ccs = {};
  backend.count_status = {ProbeFailure::kNoDevice, ""};
  const ProbeReport report = ProbeDevicesWith({}, &backend);
  EXPECT_EQ(report.error, "no CUDA device visible (CUDA_VISIBLE_DEVICES=\"7\")");
}

TEST(RealProbeTest, NeverCrashesAndExplainsAnEmptyList) {
  const ProbeReport report = ProbeDevices({});
  EXPECT_EQ(report.devices.empty(), !report.error.empty()) << report.error;
  EXPECT_FALSE(report.invalid_options);
  if (BuiltCudaArchitectures().empty()) {
    EXPECT_EQ(report.failure, ProbeFailure::kBuiltWithoutCuda);
  }
}

}  // namespace
}  // namespace kiln::device
