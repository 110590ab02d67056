// Test-only: a GoogleTest fixture that runs one task on a RunTaskRequest with a fresh
// output directory, inputs added by name and parameters given as JSON. Header-only.
#ifndef KILN_WORKER_TASKS_TESTING_TASK_FIXTURE_H_
#define KILN_WORKER_TASKS_TESTING_TASK_FIXTURE_H_

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/status/statusor.h"
#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "kiln/v1/executor.pb.h"
#include "worker/tasks/task.h"

namespace kiln::tasks::testing {

// With KILN_TEST_KEEP_GLB_DIR set, every file a test's task writes is copied there (named
// after the test), e.g. to run the Khronos validator on the GLBs: tests/gltf/validate.js.
inline void KeepOutputsForInspection(const absl::StatusOr<TaskOutput>& output) {
  const char* dir = std::getenv("KILN_TEST_KEEP_GLB_DIR");
  if (dir == nullptr || *dir == 0 || !output.ok()) return;
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  for (const kiln::v1::LocalFile& file : output->outputs) {
    std::error_code error;
    std::filesystem::copy_file(
        file.path(),
        std::filesystem::path(dir) /
            (std::string(test->test_suite_name()) + "." + test->name() + "." + file.name()),
        std::filesystem::copy_options::overwrite_existing, error);
  }
}

// `TaskT` is default-constructible; Run() runs a new one on `request_`.
template <typename TaskT>
class TaskFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(dir_.Sub("out"));
    request_.set_output_dir(dir_.Sub("out"));
  }

  void AddInputFile(const std::string& name, const std::string& path) {
    kiln::v1::LocalFile* input = request_.add_inputs();
    input->set_name(name);
    input->set_path(path);
  }

  absl::StatusOr<TaskOutput> Run(const std::string& json) {
    *request_.mutable_parameters() = kiln::testing::JsonStruct(json);
    TaskContext context;
    context.request = &request_;
    absl::StatusOr<TaskOutput> output = TaskT().Run(context);
    KeepOutputsForInspection(output);
    return output;
  }

  kiln::testing::ScopedTempDir dir_;
  kiln::v1::RunTaskRequest request_;
};

}  // namespace kiln::tasks::testing

#endif  // KILN_WORKER_TASKS_TESTING_TASK_FIXTURE_H_
