// Tests of the exec probe: parsing the kiln-archs line, deciding coverage per device
// (fake devices from worker/device), and running real probe commands.
#include "models/exec_probe.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model_repository.h"

namespace kiln::models {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

ModelEntry ExampleModel() {
  auto repository = ModelRepository::Open({.root = KILN_EXAMPLE_MODELS_DIR});
  EXPECT_TRUE(repository.ok()) << repository.status();
  auto entry = (*repository)->Find("kiln-tetra");
  EXPECT_TRUE(entry.ok()) << entry.status();
  return **entry;
}

ModelEntry WithProbe(std::vector<std::string> probe) {
  ModelEntry model = ExampleModel();
  model.manifest.mutable_exec()->clear_probe_command();
  for (const std::string& arg : probe) model.manifest.mutable_exec()->add_probe_command(arg);
  return model;
}

// Simulated devices as kiln-exec --fake-devices makes them, CUDA_VISIBLE_DEVICES aside.
std::vector<device::DeviceProbe> FakeDevices(const std::string& spec) {
  const char* saved = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string restore = saved != nullptr ? saved : "";
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  device::ProbeReport report = device::ProbeDevices({.fake_devices = spec});
  if (saved != nullptr) ::setenv("CUDA_VISIBLE_DEVICES", restore.c_str(), 1);
  EXPECT_TRUE(report.error.empty()) << report.error;
  return report.devices;
}

TEST(ExecProbeTest, ParsesTheArchsLine) {
  auto archs = ParseArchsLine("torch 2.11\nkiln-archs: sm_80 SM_90 compute_90 cpu\nbye\n");
  ASSERT_TRUE(archs.ok()) << archs.status();
  EXPECT_THAT(*archs, ElementsAre("sm_80", "sm_90", "compute_90", "cpu"));
  // A Python list printed as is, and duplicates.
  archs = ParseArchsLine("  kiln-archs: ['sm_75', 'sm_80', \"sm_80\",'sm_120']\r\n");
  ASSERT_TRUE(archs.ok()) << archs.status();
  EXPECT_THAT(*archs, ElementsAre("sm_75", "sm_80", "sm_120"));

  EXPECT_EQ(ParseArchsLine("sm_80 sm_90\n").status().message(),
            "no \"kiln-archs:\" line in the probe's output");
  EXPECT_EQ(ParseArchsLine("kiln-archs: [ ]\n").status().message(),
            "the kiln-archs line lists nothing");
}

TEST(ExecProbeTest, CoverageFollowsCudaCompatibility) {
  const std::vector<std::string> archs = {"sm_80", "sm_90", "cpu"};
  std::string why;
  EXPECT_TRUE(ArchsCoverDevice(archs, 90, &why));
  EXPECT_TRUE(ArchsCoverDevice(archs, 86, &why));  // sm_80 SASS runs on sm_86.
  EXPECT_THAT(why, HasSubstr("sm_80"));
  EXPECT_TRUE(ArchsCoverDevice(archs, std::nullopt, &why));
  EXPECT_FALSE(ArchsCoverDevice(archs, 120, &why));
  EXPECT_EQ(why, "the exec probe lists nothing that runs on sm_120 (kiln-archs: sm_80 sm_90 cpu)");
  EXPECT_FALSE(ArchsCoverDevice(archs, 75, &why));
  // PTX JIT-compiles forward; "cpu" is needed for a CPU slot.
  EXPECT_TRUE(ArchsCoverDevice({"sm_80", "compute_90"}, 120, &why));
  EXPECT_FALSE(ArchsCoverDevice({"sm_80", "compute_90"}, std::nullopt, &why));
  EXPECT_EQ(why, "the exec probe does not list cpu (kiln-archs: sm_80 compute_90)");
  EXPECT_FALSE(ArchsCoverDevice({"cpu"}, 90, &why));
}

TEST(ExecProbeTest, ExampleProbeDecidesPerDevice) {
  const ModelEntry model = ExampleModel();
  const ExecProbeResult probe = ProbeExecModel(model, {});
  ASSERT_THAT(probe.failure, IsEmpty());
  EXPECT_THAT(probe.archs, ElementsAre("cpu", "sm_80", "sm_90"));

  const std::vector<device::DeviceProbe> devices =
      FakeDevices("sm_120:32GiB,sm_90:80GiB,sm_86:24GiB,sm_75:16GiB,sm_90:80GiB:nokernel");
  ASSERT_EQ(devices.size(), 5u);
  std::vector<std::string> reasons;
  for (const device::DeviceProbe& d : devices) {
    const kiln::v1::ModelAvailability a = ExecModelAvailability(model, probe, {d});
    EXPECT_EQ(a.name(), "kiln-tetra");
    EXPECT_EQ(a.version(), "1");
    EXPECT_EQ(a.runtime(), "exec");
    reasons.push_back(a.unavailable_reason());
  }
  EXPECT_THAT(reasons[0], HasSubstr("lists nothing that runs on sm_120"));
  EXPECT_EQ(reasons[1], "");
  EXPECT_EQ(reasons[2], "");
  EXPECT_THAT(reasons[3], HasSubstr("sm_75"));
  // Our own self-test failed there: the executor would refuse the task anyway.
  EXPECT_THAT(reasons[4], HasSubstr("is not runnable: no kernel image for sm_90"));
  // A CPU slot.
  EXPECT_EQ(ExecModelAvailability(model, probe, {}).unavailable_reason(), "");
}

TEST(ExecProbeTest, ProbeFailuresAreReasonsWithTheOutput) {
  ExecProbeResult probe = ProbeExecModel(
      WithProbe({"bash", "-c", "echo 'ImportError: no module torch' >&2; exit 4"}), {});
  EXPECT_THAT(probe.archs, IsEmpty());
  EXPECT_THAT(probe.failure, StartsWith("the exec probe exit code 4; output: ImportError"));
  kiln::v1::ModelAvailability a =
      ExecModelAvailability(ExampleModel(), probe, FakeDevices("sm_90:80GiB"));
  EXPECT_THAT(a.unavailable_reason(), HasSubstr("ImportError: no module torch"));

  probe = ProbeExecModel(WithProbe({"bash", "-c", "echo archs: sm_90"}), {});
  EXPECT_EQ(probe.failure, "no \"kiln-archs:\" line in the probe's output; output: archs: sm_90");

  probe = ProbeExecModel(WithProbe({"no-such-python3", "-c", "pass"}), {});
  EXPECT_THAT(probe.failure,
              StartsWith("the exec probe could not run: command \"no-such-python3\""));

  probe = ProbeExecModel(WithProbe({}), {});
  EXPECT_THAT(probe.failure, HasSubstr("no exec.probe_command"));
  EXPECT_THAT(ExecModelAvailability(ExampleModel(), probe, {}).unavailable_reason(),
              HasSubstr("no exec.probe_command"));

  ExecProbeOptions quick;
  quick.timeout = absl::Milliseconds(300);
  quick.kill_grace = absl::Milliseconds(100);
  probe = ProbeExecModel(WithProbe({"bash", "-c", "echo waiting; sleep 100000"}), quick);
  EXPECT_THAT(probe.failure, StartsWith("the exec probe timed out after 300ms"));
  EXPECT_THAT(probe.failure, HasSubstr("output: waiting"));
}

TEST(ExecProbeTest, AvailabilitiesCoverOnlyExecModelsOfTheRepository) {
  kiln::testing::ScopedTempDir dir;
  std::filesystem::copy(KILN_EXAMPLE_MODELS_DIR, dir.path(),
                        std::filesystem::copy_options::recursive);
  std::filesystem::create_directories(dir.Sub("field/1"));
  std::ofstream(dir.Sub("field/1/manifest.json"))
      << R"({"name":"field","version":"1","runtime":"MODEL_RUNTIME_TORCHSCRIPT","file":"m.pt"})";
  auto repository = ModelRepository::Open({.root = dir.path()});
  ASSERT_TRUE(repository.ok()) << repository.status();
  ASSERT_EQ((*repository)->models().size(), 2u) << (*repository)->problems().size();
  const auto on_cpu = ExecModelAvailabilities(**repository, {}, {});
  ASSERT_EQ(on_cpu.size(), 1u);
  EXPECT_EQ(on_cpu[0].name(), "kiln-tetra");
  EXPECT_EQ(on_cpu[0].unavailable_reason(), "");
  const auto on_blackwell = ExecModelAvailabilities(**repository, FakeDevices("sm_120:32GiB"), {});
  ASSERT_EQ(on_blackwell.size(), 1u);
  EXPECT_THAT(on_blackwell[0].unavailable_reason(), HasSubstr("sm_120"));
}

TEST(ExecProbeTest, ProbesShareOneStartUpBudget) {
  // Two models whose probes hang: the first uses the whole budget, the second is skipped.
  kiln::testing::ScopedTempDir dir;
  for (const char* name : {"hang-a", "hang-b"}) {
    std::filesystem::create_directories(dir.Sub(std::string(name) + "/1"));
    std::ofstream(dir.Sub(std::string(name) + "/1/manifest.json"))
        << R"({"name":")" << name << R"(","version":"1","runtime":"MODEL_RUNTIME_EXEC",)"
        << R"("exec":{"command":["true"],"probe_command":["sleep","100000"]}})";
  }
  auto repository = ModelRepository::Open({.root = dir.path()});
  ASSERT_TRUE(repository.ok()) << repository.status();
  ASSERT_EQ((*repository)->models().size(), 2u);
  ExecProbeOptions options;
  options.timeout = absl::Seconds(30);
  options.total_timeout = absl::Milliseconds(400);
  options.kill_grace = absl::Milliseconds(100);
  const absl::Time start = absl::Now();
  const auto models = ExecModelAvailabilities(**repository, {}, options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_EQ(models.size(), 2u);
  EXPECT_THAT(models[0].unavailable_reason(), StartsWith("the exec probe timed out after "));
  EXPECT_EQ(models[1].unavailable_reason(),
            "not probed: the exec probes before it used up the 400ms allowed at start");
}

}  // namespace
}  // namespace kiln::models
