#include "scheduler/core/job_validation.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/json_util.h"

namespace kiln::core {
namespace {

kiln::v1::JobSpec ValidSpec() {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  google::protobuf::util::JsonStringToMessage(
      R"({"shape":{"type":"sphere","radius":1},"resolution":32})", spec.mutable_parameters());
  return spec;
}

void ExpectInvalid(const kiln::v1::JobSpec& spec, const std::string& field_prefix) {
  absl::Status s = ValidateJobSpec(spec, JobLimits(), "spec");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().substr(0, field_prefix.size()), field_prefix) << s;
}

TEST(JobValidationTest, AcceptsAValidSpec) {
  EXPECT_TRUE(ValidateJobSpec(ValidSpec(), JobLimits(), "spec").ok());
}

TEST(JobValidationTest, NamesTheFieldOfEachError) {
  kiln::v1::JobSpec spec = ValidSpec();
  spec.set_task("mesh.explode");
  ExpectInvalid(spec, "spec.task");

  spec = ValidSpec();
  (*spec.mutable_parameters()->mutable_fields())["resolution"].set_number_value(100000);
  ExpectInvalid(spec, "spec.parameters.resolution");

  spec = ValidSpec();
  auto* input = spec.add_inputs();
  input->set_name("in.png");
  input->set_sha256("not-a-hash");
  ExpectInvalid(spec, "spec.inputs[0].sha256");

  spec = ValidSpec();
  spec.add_inputs()->set_name("../etc/passwd");
  ExpectInvalid(spec, "spec.inputs[0].name");

  spec = ValidSpec();
  spec.mutable_requirements()->set_min_compute_capability(90);
  spec.mutable_requirements()->set_max_compute_capability(80);
  ExpectInvalid(spec, "spec.requirements.max_compute_capability");

  spec = ValidSpec();
  spec.mutable_requirements()->add_architectures("hopper");
  ExpectInvalid(spec, "spec.requirements.architectures[0]");

  spec = ValidSpec();
  spec.set_max_attempts(1000);
  ExpectInvalid(spec, "spec.max_attempts");

  spec = ValidSpec();
  spec.set_priority(5000);
  ExpectInvalid(spec, "spec.priority");

  spec = ValidSpec();
  spec.mutable_timeout()->set_seconds(-1);
  ExpectInvalid(spec, "spec.timeout");

  spec = ValidSpec();
  (*spec.mutable_labels())["bad key"] = "x";
  ExpectInvalid(spec, "spec.labels");

  spec = ValidSpec();
  spec.set_client_request_id(std::string(500, 'r'));
  ExpectInvalid(spec, "spec.client_request_id");
}

TEST(JobValidationTest, EnforcesParameterSizeAndDepthLimits) {
  kiln::v1::JobSpec spec = ValidSpec();
  google::protobuf::Value* value = &(*spec.mutable_parameters()->mutable_fields())["nest"];
  for (int i = 0; i < 40; ++i) {
    value = &(*value->mutable_struct_value()->mutable_fields())["x"];
  }
  value->set_number_value(1);
  ExpectInvalid(spec, "spec.parameters");
  EXPECT_NE(ValidateJobSpec(spec, JobLimits(), "spec").message().find("nested deeper"),
            std::string::npos);

  spec = ValidSpec();
  (*spec.mutable_parameters()->mutable_fields())["blob"].set_string_value(
      std::string(100 << 10, 'x'));
  ExpectInvalid(spec, "spec.parameters");
}

TEST(JobValidationTest, SafeNames) {
  EXPECT_TRUE(IsSafeName("mesh.ply", 128));
  EXPECT_FALSE(IsSafeName("", 128));
  EXPECT_FALSE(IsSafeName("..", 128));
  EXPECT_FALSE(IsSafeName("a/b", 128));
  EXPECT_FALSE(IsSafeName("abc", 2));
}

TEST(JobValidationTest, ModelReferencesAreANameOrNameAtVersion) {
  EXPECT_TRUE(IsModelRef("torus-sdf"));
  EXPECT_TRUE(IsModelRef("torus-sdf@1"));
  EXPECT_FALSE(IsModelRef("torus-sdf@"));
  EXPECT_FALSE(IsModelRef("@1"));
  EXPECT_FALSE(IsModelRef("a@1@2"));
  EXPECT_FALSE(IsModelRef("../etc@1"));
  kiln::v1::JobSpec spec = ValidSpec();
  spec.set_model("torus-sdf@1");
  EXPECT_TRUE(ValidateJobSpec(spec, JobLimits(), "spec").ok());
  spec.set_model("torus sdf");
  ExpectInvalid(spec, "spec.model: must be a model name");
  spec = ValidSpec();
  spec.add_tiers()->set_model("x@");
  ExpectInvalid(spec, "spec.tiers[0].model");
}

}  // namespace
}  // namespace kiln::core
