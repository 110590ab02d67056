// Tests of the model.run task in-process: the request checks and the refusal of models
// of other runtimes (kiln_exec_model_run_test runs it through kiln-exec).
#include "models/model_run_task.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using ::testing::HasSubstr;

class ModelRunTaskTest : public ::testing::Test {
 protected:
  ModelRunTaskTest() {
    std::filesystem::copy(KILN_EXAMPLE_MODELS_DIR, repo_.path(),
                          std::filesystem::copy_options::recursive);
    std::filesystem::create_directories(repo_.Sub("field/3"));
    std::ofstream(repo_.Sub("field/3/manifest.json"))
        << R"({"name":"field","version":"3","runtime":"MODEL_RUNTIME_TORCHSCRIPT",)"
        << R"("file":"model.pt","tasks":["field.decode"],)"
        << R"("field":{"kind":"FIELD_KIND_SDF","bounds":[-1,-1,-1,1,1,1]}})";
    std::filesystem::create_directories(repo_.Sub("out"));
    auto opened = ModelRepository::Open({.root = repo_.path()});
    EXPECT_TRUE(opened.ok()) << opened.status();
    repository_ = *std::move(opened);
    EXPECT_EQ(repository_->models().size(), 2u);
    for (const std::string& problem : repository_->problems()) ADD_FAILURE() << problem;
  }

  absl::StatusOr<tasks::TaskOutput> Run(const std::string& model,
                                        const google::protobuf::Struct& parameters = {}) {
    ModelRunTaskOptions options;
    options.repository = repository_.get();
    ModelRunTask task(options);
    kiln::v1::RunTaskRequest request;
    request.set_task("model.run");
    request.set_model(model);
    *request.mutable_parameters() = parameters;
    request.set_output_dir(repo_.Sub("out"));
    tasks::TaskContext context;
    context.request = &request;
    context.report_progress = [this](double fraction, std::string_view) {
      fractions_.push_back(fraction);
    };
    return task.Run(context);
  }

  kiln::testing::ScopedTempDir repo_;
  std::unique_ptr<ModelRepository> repository_;
  std::vector<double> fractions_;
};

TEST_F(ModelRunTaskTest, RunsAnExecModelWithASummary) {
  auto output = Run("kiln-tetra");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->summary.fields().at("model").string_value(), "kiln-tetra@1");
  EXPECT_EQ(output->summary.fields().at("outputs").number_value(), 3);
  EXPECT_EQ(output->summary.fields().count("skipped_outputs"), 0u);
  EXPECT_EQ(fractions_, (std::vector<double>{0.1, 0.5, 1.0}));
}

TEST_F(ModelRunTaskTest, OtherRuntimesAreRefusedWithTheTaskThatRunsThem) {
  auto output = Run("field@3");
  EXPECT_EQ(output.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(output.status().message(), "model field@3 has runtime torchscript; use field.decode");
}

TEST_F(ModelRunTaskTest, BadRequestsArePermanentErrors) {
  auto output = Run("");
  EXPECT_EQ(output.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(output.status().message(), HasSubstr("model.run needs the job's model"));

  output = Run("kiln-tetra@7");
  EXPECT_EQ(output.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(output.status().message(), HasSubstr("kiln-tetra@7"));

  google::protobuf::Struct big;
  (*big.mutable_fields())["image"].set_string_value(std::string(100'000, 'a'));
  output = Run("kiln-tetra", big);
  EXPECT_EQ(output.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(output.status().message(), HasSubstr("more than the 65536 allowed"));
}

}  // namespace
}  // namespace kiln::models
