#include "client/job_spec_yaml.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/job_spec_flags.h"
#include "client/kilnctl_args.h"
#include "client/kilnctl_format.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "kiln/v1/job_service.pb.h"

namespace kiln::kilnctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

absl::StatusOr<SubmitPlan> PlanFromFile(const std::string& path) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(JobSpecFlags(), {"-f", path});
  if (!args.ok()) return args.status();
  return BuildSubmitPlan(*args);
}

// The request kilnctl would send for the spec file (Client::Submit adds only a request id
// when the spec has none; both specs here carry one).
v1::SubmitJobRequest RequestFor(const std::string& path) {
  absl::StatusOr<SubmitPlan> plan = PlanFromFile(path);
  EXPECT_TRUE(plan.ok()) << plan.status();
  v1::SubmitJobRequest request;
  if (plan.ok()) *request.mutable_spec() = plan->spec;
  return request;
}

// Every JobSpec field, and parameters of every JSON type.
constexpr char kJsonSpec[] = R"({
  "task": "mesh.extract",
  "model": "triposr",
  "parameters": {
    "shape": {"type": "sphere", "radius": 1.5},
    "resolution": 64, "smooth": true, "seed": null, "tag": "007", "level": -0.25,
    "sizes": [1, 2, 3], "names": ["a", "b"], "empty": {}
  },
  "inputs": [{"name": "volume.npy", "sha256": "ab", "sizeBytes": "9007199254740993"}],
  "requirements": {"accelerator": "ACCELERATOR_GPU", "minComputeCapability": 80,
                   "architectures": ["sm_90", "sm_120"], "minDeviceMemoryBytes": "25769803776",
                   "features": ["bf16"]},
  "priority": -5,
  "maxAttempts": 3,
  "timeout": "90s",
  "labels": {"project": "chairs", "version": "2", "on": "yes"},
  "clientRequestId": "spec-1",
  "tiers": [{"name": "fast", "requirements": {"minComputeCapability": 90}, "model": "big",
             "parameters": {"steps": 50}},
            {"name": "cpu", "requirements": {"accelerator": "ACCELERATOR_CPU"}}]
})";

// The same job as people write YAML: proto field names, unquoted numbers in string
// fields, a comment, flow and block styles.
constexpr char kYamlSpec[] = R"(# a chair, meshed
task: mesh.extract
model: triposr
parameters:
  shape: {type: sphere, radius: 1.5}
  resolution: 64
  smooth: true
  seed: ~
  tag: "007"
  level: -0.25
  sizes: [1, 2, 3]
  names:
    - a
    - b
  empty: {}
inputs:
  - name: volume.npy
    sha256: ab
    size_bytes: 9007199254740993
requirements:
  accelerator: ACCELERATOR_GPU
  min_compute_capability: 80
  architectures: [sm_90, sm_120]
  min_device_memory_bytes: 25769803776
  features: [bf16]
priority: -5
max_attempts: 3
timeout: 90s
labels:
  project: chairs
  version: 2
  "on": "yes"
client_request_id: spec-1
tiers:
  - name: fast
    requirements: {min_compute_capability: 90}
    model: big
    parameters: {steps: 50}
  - name: cpu
    requirements:
      accelerator: ACCELERATOR_CPU
)";

TEST(JobSpecYamlTest, YamlAndJsonOfTheSameJobGiveIdenticalSubmitRequests) {
  kiln::testing::ScopedTempDir files;
  const v1::SubmitJobRequest from_json = RequestFor(files.WriteFile("spec.json", kJsonSpec));
  const v1::SubmitJobRequest from_yaml = RequestFor(files.WriteFile("spec.yaml", kYamlSpec));
  // Also by content: no extension, YAML text.
  const v1::SubmitJobRequest from_plain = RequestFor(files.WriteFile("spec", kYamlSpec));
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(from_json, from_yaml)) << diff;
  EXPECT_TRUE(differencer.Compare(from_json, from_plain)) << diff;
  // Spot checks that the comparison saw real values, including the exact int64s.
  EXPECT_EQ(from_yaml.spec().inputs(0).size_bytes(), 9007199254740993);
  EXPECT_EQ(from_yaml.spec().requirements().min_device_memory_bytes(), int64_t{24} << 30);
  EXPECT_EQ(from_yaml.spec().labels().at("version"), "2");
  EXPECT_EQ(from_yaml.spec().parameters().fields().at("tag").string_value(), "007");
  EXPECT_EQ(from_yaml.spec().parameters().fields().at("resolution").number_value(), 64);
  EXPECT_EQ(from_yaml.spec().timeout().seconds(), 90);
  EXPECT_EQ(from_yaml.spec().tiers_size(), 2);
  EXPECT_EQ(from_yaml.spec().priority(), -5);
}

TEST(JobSpecYamlTest, FlagsOverrideAYamlFileAsTheyDoAJsonFile) {
  kiln::testing::ScopedTempDir files;
  const std::string path = files.WriteFile("spec.yml", "task: mesh.extract\npriority: 1\n");
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(JobSpecFlags(), {"-f", path, "--priority", "9", "--param", "resolution=32"});
  ASSERT_TRUE(args.ok()) << args.status();
  absl::StatusOr<SubmitPlan> plan = BuildSubmitPlan(*args);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->spec.task(), "mesh.extract");
  EXPECT_EQ(plan->spec.priority(), 9);
  EXPECT_EQ(plan->spec.parameters().fields().at("resolution").number_value(), 32);
}

TEST(JobSpecYamlTest, TellsYamlFromJsonByNameThenContent) {
  EXPECT_TRUE(IsYamlSpecFile("spec.yaml", "{\"task\": 1}"));
  EXPECT_TRUE(IsYamlSpecFile("SPEC.YML", ""));
  EXPECT_FALSE(IsYamlSpecFile("spec.json", "task: x"));
  EXPECT_FALSE(IsYamlSpecFile("-", "  \n{\"task\": \"x\"}"));
  EXPECT_FALSE(IsYamlSpecFile("spec", "\xEF\xBB\xBF{}"));
  EXPECT_TRUE(IsYamlSpecFile("-", "task: x\n"));
  EXPECT_TRUE(IsYamlSpecFile("spec.txt", "# comment\n{}"));
}

// Each malformed file: INVALID_ARGUMENT (exit 2), naming the file, where and what.
struct BadSpec {
  const char* name;
  const char* yaml;
  std::vector<std::string> expected;  // Substrings of the message.
};

TEST(JobSpecYamlTest, MalformedYamlNamesFileLineColumnAndField) {
  const std::vector<BadSpec> cases = {
      {"bad_indentation",
       "task: mesh.extract\nparameters:\n  resolution: 8\n level: 2\n",
       {"bad_indentation.yaml:4:2: ", "end of map not found"}},
      {"tab_indentation",
       "task: mesh.extract\nparameters:\n\tresolution: 8\n",
       {"tab_indentation.yaml:3:", "tabs"}},
      {"duplicate_key",
       "task: mesh.extract\npriority: 1\npriority: 2\n",
       {"duplicate_key.yaml:3:1: priority: given twice (first at line 2)"}},
      {"duplicate_alias",
       "task: a\nclientRequestId: x\nclient_request_id: y\n",
       {"duplicate_alias.yaml:3:1: client_request_id: given twice"}},
      {"duplicate_parameter",
       "task: a\nparameters:\n  level: 1\n  level: 2\n",
       {"duplicate_parameter.yaml:4:3: parameters.level: given twice"}},
      {"root_sequence",
       "- task: mesh.extract\n",
       {"root_sequence.yaml:1:1: ", "top level must be a mapping", "found a sequence"}},
      {"root_scalar", "mesh.extract\n", {"root_scalar.yaml:1:1: ", "top level must be a mapping"}},
      {"unknown_field",
       "task: a\nrequirements:\n  min_cc: 8.0\n",
       {"unknown_field.yaml:3:3: requirements.min_cc: unknown field of kiln.v1.Requirements",
        "min_compute_capability"}},
      {"wrong_type",
       "task: a\nrequirements:\n  min_compute_capability: eight\n",
       {"wrong_type.yaml:3:27: requirements.min_compute_capability: expected an integer, "
        "found \"eight\""}},
      {"out_of_range",
       "task: a\npriority: 3000000000\n",
       {"out_of_range.yaml:2:11: priority: 3000000000 is out of range for int32"}},
      {"bad_enum",
       "task: a\nrequirements: {accelerator: tpu}\n",
       {"bad_enum.yaml:2:29: requirements.accelerator: \"tpu\" is not one of", "ACCELERATOR_GPU"}},
      {"bad_duration",
       "task: a\ntimeout: 10m\n",
       {"bad_duration.yaml:2:10: timeout: expected a duration in seconds"}},
      {"list_for_scalar",
       "task: [a, b]\n",
       {"list_for_scalar.yaml:1:7: task: expected a single value, found a sequence"}},
      {"scalar_for_list",
       "task: a\ninputs: volume.npy\n",
       {"scalar_for_list.yaml:2:9: inputs: expected a sequence"}},
      {"scalar_for_params",
       "task: a\nparameters: 5\n",
       {"scalar_for_params.yaml:2:13: parameters: expected a mapping"}},
      {"two_documents",
       "task: a\n---\ntask: b\n",
       {"two_documents.yaml:", "more than one YAML document"}},
      {"empty", "# nothing\n", {"empty.yaml: empty"}},
      {"unclosed_flow", "task: a\nparameters: {level: 1\n", {"unclosed_flow.yaml:"}},
  };
  kiln::testing::ScopedTempDir files;
  for (const BadSpec& bad : cases) {
    absl::StatusOr<SubmitPlan> plan =
        PlanFromFile(files.WriteFile(absl::StrCat(bad.name, ".yaml"), bad.yaml));
    ASSERT_FALSE(plan.ok()) << bad.name;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_EQ(ExitCodeForStatus(plan.status()), kExitUsage) << bad.name;
    const std::string message(plan.status().message());
    EXPECT_THAT(message, HasSubstr("-f ")) << bad.name;
    for (const std::string& part : bad.expected) {
      EXPECT_THAT(message, HasSubstr(part)) << bad.name;
    }
  }
}

TEST(JobSpecYamlTest, LimitsOnSizeDepthAndAliasExpansionAreErrors) {
  const google::protobuf::Descriptor& type = *v1::JobSpec::descriptor();
  YamlLimits small;
  small.max_bytes = 64;
  EXPECT_THAT(
      std::string(
          YamlToProtoJson(std::string(100, '#'), type, "big.yaml", small).status().message()),
      HasSubstr("big.yaml: larger than 64 bytes"));

  std::string deep = "task: a\nparameters:\n  x: ";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  EXPECT_THAT(std::string(YamlToProtoJson(deep, type, "deep.yaml").status().message()),
              AllOf(HasSubstr("deep.yaml:3:"), HasSubstr("nested deeper than 32 levels")));

  // "Billion laughs": each level doubles; 30 levels would be a billion values.
  std::string laughs = "task: a\nparameters:\n  l0: &l0 [x, x]\n";
  for (int i = 1; i < 30; ++i) {
    laughs += absl::StrCat("  l", i, ": &l", i, " [*l", i - 1, ", *l", i - 1, "]\n");
  }
  EXPECT_THAT(std::string(YamlToProtoJson(laughs, type, "laughs.yaml").status().message()),
              HasSubstr("more than 100000 values"));

  // The file limit also holds for -f itself.
  kiln::testing::ScopedTempDir files;
  absl::StatusOr<SubmitPlan> plan =
      PlanFromFile(files.WriteFile("huge.yaml", "task: a\n" + std::string(2 << 20, '#')));
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("larger than 1048576 bytes"));
}

TEST(JobSpecYamlTest, CoreSchemaTypesParametersAndTagsForceThem) {
  absl::StatusOr<std::string> json = YamlToProtoJson(
      "parameters:\n  a: 0x1F\n  b: .inf\n  c: 1e3\n  d: 'true'\n  e: !!str 12\n  f: Yes\n"
      "  g: \n  h: -0o17\n",
      *v1::JobSpec::descriptor(), "t.yaml");
  // .inf has no JSON form inside a Struct.
  EXPECT_THAT(std::string(json.status().message()), HasSubstr("t.yaml:3:6: parameters.b"));
  json = YamlToProtoJson(
      "parameters:\n  a: 0x1F\n  c: 1e3\n  d: 'true'\n  e: !!str 12\n  f: Yes\n  g:\n  h: 0o17\n",
      *v1::JobSpec::descriptor(), "t.yaml");
  ASSERT_TRUE(json.ok()) << json.status();
  v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &spec).ok()) << *json;
  const auto& p = spec.parameters().fields();
  EXPECT_EQ(p.at("a").number_value(), 31);
  EXPECT_EQ(p.at("c").number_value(), 1000);
  EXPECT_EQ(p.at("d").string_value(), "true");
  EXPECT_EQ(p.at("e").string_value(), "12");
  EXPECT_EQ(p.at("f").string_value(), "Yes");  // YAML 1.2: yes is no boolean.
  EXPECT_EQ(p.at("g").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(p.at("h").number_value(), 15);
}

}  // namespace
}  // namespace kiln::kilnctl
