#include "client/job_spec_flags.h"

#include <filesystem>
#include <fstream>

#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::kilnctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

absl::StatusOr<SubmitPlan> Plan(const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(JobSpecFlags(), argv);
  if (!args.ok()) return args.status();
  return BuildSubmitPlan(*args);
}

// A file in a per-test temp directory.
class TempFiles {
 public:
  TempFiles() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  ~TempFiles() { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << contents;
    return path;
  }

 private:
  std::filesystem::path dir_;
};

TEST(ParseByteSizeTest, UnderstandsBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseByteSize("1024"), 1024);
  EXPECT_EQ(*ParseByteSize("24GiB"), int64_t{24} << 30);
  EXPECT_EQ(*ParseByteSize("24Gi"), int64_t{24} << 30);
  EXPECT_EQ(*ParseByteSize("24 gib"), int64_t{24} << 30);
  EXPECT_EQ(*ParseByteSize("24GB"), int64_t{24'000'000'000});
  EXPECT_EQ(*ParseByteSize("24G"), int64_t{24'000'000'000});
  EXPECT_EQ(*ParseByteSize("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(*ParseByteSize("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("2TiB"), int64_t{2} << 40);
  EXPECT_EQ(*ParseByteSize("10B"), 10);
  for (const char* bad : {"", "GiB", "-1GiB", "24XB", "1e3", "lots", "9999999TiB"}) {
    EXPECT_EQ(ParseByteSize(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseComputeCapabilityTest, AcceptsTheCommonSpellings) {
  EXPECT_EQ(*ParseComputeCapability("8.0"), 80);
  EXPECT_EQ(*ParseComputeCapability("8.6"), 86);
  EXPECT_EQ(*ParseComputeCapability("12.0"), 120);
  EXPECT_EQ(*ParseComputeCapability("9"), 90);
  EXPECT_EQ(*ParseComputeCapability("12"), 120);
  EXPECT_EQ(*ParseComputeCapability("90"), 90);
  EXPECT_EQ(*ParseComputeCapability("sm_89"), 89);
  EXPECT_EQ(*ParseComputeCapability("120"), 120);
  for (const char* bad : {"", "8.10", "8.", ".5", "sm_8.0", "x", "0", "-8.0", "8.0.1"}) {
    EXPECT_FALSE(ParseComputeCapability(bad).ok()) << bad;
  }
}

TEST(ParseArchitectureTest, NormalizesToSmForm) {
  EXPECT_EQ(*ParseArchitecture("sm_90"), "sm_90");
  EXPECT_EQ(*ParseArchitecture("90"), "sm_90");
  EXPECT_EQ(*ParseArchitecture("SM_120"), "sm_120");
  EXPECT_EQ(*ParseArchitecture("sm_90a"), "sm_90a");
  for (const char* bad : {"", "sm_", "sm_9", "compute_90", "sm_90ab", "sm_1000", "h100"}) {
    EXPECT_FALSE(ParseArchitecture(bad).ok()) << bad;
  }
}

TEST(ParseParamValueTest, JsonWhenItParsesElseString) {
  EXPECT_EQ(ParseParamValue("3").number_value(), 3);
  EXPECT_EQ(ParseParamValue("-0.25").number_value(), -0.25);
  EXPECT_TRUE(ParseParamValue("true").bool_value());
  EXPECT_EQ(ParseParamValue("null").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(ParseParamValue("[1, 2]").list_value().values_size(), 2);
  EXPECT_EQ(ParseParamValue(R"({"a": "b"})").struct_value().fields().at("a").string_value(), "b");
  EXPECT_EQ(ParseParamValue(R"("42")").string_value(), "42");
  EXPECT_EQ(ParseParamValue("hello world").string_value(), "hello world");
  EXPECT_EQ(ParseParamValue("").string_value(), "");
  EXPECT_EQ(ParseParamValue("{broken").string_value(), "{broken");
}

TEST(ParseKeyValueTest, SplitsAtTheFirstEquals) {
  EXPECT_THAT(*ParseKeyValue("a=b=c", "--label"), Pair("a", "b=c"));
  EXPECT_THAT(*ParseKeyValue("a=", "--label"), Pair("a", ""));
  EXPECT_FALSE(ParseKeyValue("a", "--label").ok());
  EXPECT_THAT(ParseKeyValue("=b", "--label").status().message(), HasSubstr("--label"));
}

TEST(ParseEnumsTest, AcceleratorAndState) {
  EXPECT_EQ(*ParseAccelerator("GPU"), v1::ACCELERATOR_GPU);
  EXPECT_EQ(*ParseAccelerator("cpu"), v1::ACCELERATOR_CPU);
  EXPECT_EQ(*ParseAccelerator("any"), v1::ACCELERATOR_ANY);
  EXPECT_FALSE(ParseAccelerator("tpu").ok());
  EXPECT_EQ(*ParseJobState("running"), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(*ParseJobState("Cancelled"), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(ParseJobState("unspecified").ok());
  EXPECT_FALSE(ParseJobState("done").ok());
}

TEST(BuildSubmitPlanTest, AllFlagsLandInTheSpec) {
  absl::StatusOr<SubmitPlan> plan = Plan({"image_to_3d",
                                          "--model",
                                          "triposr",
                                          "--params",
                                          R"({"seed": 7, "mode": "fast"})",
                                          "--param",
                                          "seed=11",
                                          "-p",
                                          "name=chair",
                                          "--param",
                                          "flags=[1,2]",
                                          "--input",
                                          "input.png=/data/chair.png",
                                          "-i",
                                          "/data/mask.png",
                                          "--accelerator",
                                          "gpu",
                                          "--min-cc",
                                          "8.0",
                                          "--max-cc",
                                          "9.0",
                                          "--arch",
                                          "sm_80,sm_90",
                                          "--arch",
                                          "120",
                                          "--min-memory",
                                          "24GiB",
                                          "--priority",
                                          "-3",
                                          "--max-attempts",
                                          "4",
                                          "--job-timeout",
                                          "1h30m",
                                          "--label",
                                          "project=chairs",
                                          "-l",
                                          "owner=ana",
                                          "--request-id",
                                          "req-1"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const v1::JobSpec& spec = plan->spec;
  EXPECT_EQ(spec.task(), "image_to_3d");
  EXPECT_EQ(spec.model(), "triposr");
  const auto& fields = spec.parameters().fields();
  EXPECT_EQ(fields.at("seed").number_value(), 11);  // --param beats --params.
  EXPECT_EQ(fields.at("mode").string_value(), "fast");
  EXPECT_EQ(fields.at("name").string_value(), "chair");
  EXPECT_EQ(fields.at("flags").list_value().values_size(), 2);
  ASSERT_EQ(plan->uploads.size(), 2u);
  EXPECT_EQ(plan->uploads[0].name, "input.png");
  EXPECT_EQ(plan->uploads[0].path, "/data/chair.png");
  EXPECT_EQ(plan->uploads[1].name, "mask.png");  // Base name when no NAME= is given.
  EXPECT_EQ(plan->uploads[1].path, "/data/mask.png");
  EXPECT_EQ(spec.inputs_size(), 0);  // Filled in after the uploads.
  const v1::Requirements& req = spec.requirements();
  EXPECT_EQ(req.accelerator(), v1::ACCELERATOR_GPU);
  EXPECT_EQ(req.min_compute_capability(), 80);
  EXPECT_EQ(req.max_compute_capability(), 90);
  EXPECT_THAT(req.architectures(), ElementsAre("sm_80", "sm_90", "sm_120"));
  EXPECT_EQ(req.min_device_memory_bytes(), int64_t{24} << 30);
  EXPECT_EQ(spec.priority(), -3);
  EXPECT_EQ(spec.max_attempts(), 4);
  EXPECT_EQ(FromProtoDuration(spec.timeout()), absl::Minutes(90));
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("project", "chairs"), Pair("owner", "ana")));
  EXPECT_EQ(spec.client_request_id(), "req-1");
}

TEST(BuildSubmitPlanTest, FlagsOverrideTheSpecFile) {
  TempFiles files;
  const std::string spec_path = files.Write("spec.json", R"({
    "task": "mesh.extract",
    "model": "old",
    "parameters": {"level": 0.5, "smooth": true},
    "inputs": [{"name": "volume.npy", "sha256": "aa"}, {"name": "keep.txt", "sha256": "bb"}],
    "requirements": {"accelerator": "ACCELERATOR_CPU", "architectures": ["sm_75"]},
    "priority": 5,
    "labels": {"a": "1", "b": "2"}
  })");
  absl::StatusOr<SubmitPlan> plan =
      Plan({"-f", spec_path, "--model", "new", "--param", "level=0.25", "--input",
            "volume.npy=/tmp/v.npy", "--label", "b=3", "--arch", "sm_90"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const v1::JobSpec& spec = plan->spec;
  EXPECT_EQ(spec.task(), "mesh.extract");
  EXPECT_EQ(spec.model(), "new");
  EXPECT_EQ(spec.parameters().fields().at("level").number_value(), 0.25);
  EXPECT_TRUE(spec.parameters().fields().at("smooth").bool_value());
  ASSERT_EQ(spec.inputs_size(), 1);  // The flag's volume.npy replaces the file's.
  EXPECT_EQ(spec.inputs(0).name(), "keep.txt");
  EXPECT_EQ(plan->uploads.size(), 1u);
  EXPECT_EQ(spec.requirements().accelerator(), v1::ACCELERATOR_CPU);
  EXPECT_THAT(spec.requirements().architectures(), ElementsAre("sm_90"));
  EXPECT_EQ(spec.priority(), 5);
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("a", "1"), Pair("b", "3")));

  // The positional TASK beats the file's.
  absl::StatusOr<SubmitPlan> renamed = Plan({"other.task", "-f", spec_path});
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->spec.task(), "other.task");
}

TEST(BuildSubmitPlanTest, ParamsFileReplacesTheFilesParameters) {
  TempFiles files;
  const std::string spec_path =
      files.Write("spec.json", R"({"task": "t", "parameters": {"old": 1}})");
  const std::string params_path = files.Write("params.json", R"({"new": [1, 2, 3]})");
  absl::StatusOr<SubmitPlan> plan = Plan({"-f", spec_path, "--params-file", params_path});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->spec.parameters().fields().contains("old"));
  EXPECT_EQ(plan->spec.parameters().fields().at("new").list_value().values_size(), 3);
}

TEST(BuildSubmitPlanTest, RejectsBadInput) {
  TempFiles files;
  const std::string not_spec = files.Write("bad.json", R"({"tusk": "typo"})");
  const std::string params = files.Write("p.json", "{}");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "needs a TASK"},
      {{"a", "b"}, "unexpected argument"},
      {{"t", "--params", "[1]"}, "JSON object"},
      {{"t", "--params", "{}", "--params-file", params}, "not both"},
      {{"t", "--param", "novalue"}, "KEY=VALUE"},
      {{"t", "--label", "=v"}, "KEY=VALUE"},
      {{"t", "--input", "bad/name=x"}, "name"},
      {{"t", "--input", "in.png="}, "no path"},
      {{"t", "--input", "a=x", "--input", "a=y"}, "twice"},
      {{"t", "--accelerator", "tpu"}, "any, gpu or cpu"},
      {{"t", "--min-cc", "9.0", "--max-cc", "8.0"}, "above"},
      {{"t", "--min-cc", "eight"}, "--min-cc: compute capability"},
      {{"t", "--arch", "sm_90,hopper"}, "sm_NN"},
      {{"t", "--min-memory", "lots"}, "--min-memory: size"},
      {{"t", "--priority", "high"}, "integer"},
      {{"t", "--max-attempts", "0"}, "at least 1"},
      {{"t", "--job-timeout", "10"}, "duration"},
      {{"-f", not_spec}, "not a JobSpec"},
  };
  for (const auto& [argv, message] : cases) {
    absl::StatusOr<SubmitPlan> plan = Plan(argv);
    ASSERT_FALSE(plan.ok()) << testing::PrintToString(argv);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument)
        << testing::PrintToString(argv);
    EXPECT_THAT(plan.status().message(), HasSubstr(message)) << testing::PrintToString(argv);
  }
  EXPECT_EQ(Plan({"t", "--params-file", "/nonexistent/p.json"}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::kilnctl
