#include "worker/tasks/debug_sleep_task.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace kiln::tasks {
namespace {

class DebugSleepTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    options_.clock = &clock_;
    options_.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      clock_.Advance(d);
    };
    options_.step = absl::Milliseconds(250);
  }

  absl::StatusOr<TaskOutput> Run(const std::string& parameters,
                                 const decltype(TaskContext::submit_children)& submit = nullptr) {
    kiln::v1::RunTaskRequest request;
    request.set_output_dir(dir_);
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(parameters, request.mutable_parameters()).ok());
    TaskContext context;
    context.request = &request;
    context.report_progress = [this](double fraction, std::string_view) {
      progress_.push_back(fraction);
    };
    context.submit_children = submit;
    return DebugSleepTask(options_).Run(context);
  }

  FakeClock clock_;
  DebugSleepOptions options_;
  kiln::testing::ScopedTempDir temp_;
  const std::string dir_ = temp_.path();
  std::vector<absl::Duration> sleeps_;
  std::vector<double> progress_;
};

TEST_F(DebugSleepTaskTest, ChildrenAreSubmittedBeforeTheSleep) {
  std::vector<kiln::v1::ExecChildSpec> submitted;
  auto out = Run(R"({"seconds": 0.5, "children": 2})",
                 [&](std::string_view call_id, const std::vector<kiln::v1::ExecChildSpec>& children)
                     -> absl::StatusOr<std::vector<std::string>> {
                   EXPECT_EQ(call_id, "debug-sleep-children");
                   EXPECT_TRUE(sleeps_.empty());  // Before sleeping.
                   submitted = children;
                   return std::vector<std::string>{"j-1", "j-2"};
                 });
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(submitted.size(), 2u);
  EXPECT_EQ(submitted[1].spec().task(), "debug.sleep");
  EXPECT_EQ(submitted[1].spec().client_request_id(), "sleep-child-1");
  EXPECT_EQ(submitted[1].spec().parameters().fields().at("seconds").number_value(), 0.5);
  // A refused submission fails the task before it sleeps.
  sleeps_.clear();
  out = Run(
      R"({"seconds": 0.5, "children": 1})",
      [](std::string_view,
         const std::vector<kiln::v1::ExecChildSpec>&) -> absl::StatusOr<std::vector<std::string>> {
        return absl::FailedPreconditionError("lease lost");
      });
  EXPECT_TRUE(absl::IsFailedPrecondition(out.status())) << out.status();
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(DebugSleepTaskTest, SleepsInStepsAndWritesItsFile) {
  auto out = Run(R"({"seconds":1.1})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(sleeps_, (std::vector<absl::Duration>{absl::Milliseconds(250), absl::Milliseconds(250),
                                                  absl::Milliseconds(250), absl::Milliseconds(250),
                                                  absl::Milliseconds(100)}));
  ASSERT_EQ(progress_.size(), 6u);
  EXPECT_DOUBLE_EQ(progress_[0], 0);
  EXPECT_NEAR(progress_[2], 0.5 / 1.1, 1e-9);
  EXPECT_EQ(progress_.back(), 1.0);
  ASSERT_EQ(out->outputs.size(), 1u);
  EXPECT_EQ(out->outputs[0].name(), "sleep.txt");
  std::ifstream in(out->outputs[0].path());
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "slept 1.100 s");
  EXPECT_DOUBLE_EQ(out->summary.fields().at("seconds").number_value(), 1.1);
}

TEST_F(DebugSleepTaskTest, ZeroSecondsReturnsAtOnce) {
  auto out = Run(R"({"seconds":0})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(DebugSleepTaskTest, FailMessageFailsRetryablyAfterSleeping) {
  auto out = Run(R"({"seconds":0.5,"fail_message":"injected failure"})");
  EXPECT_EQ(out.status(), absl::AbortedError("injected failure"));
  EXPECT_EQ(clock_.Now() - absl::FromUnixSeconds(1'700'000'000), absl::Milliseconds(500));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(DebugSleepTaskTest, PrintsNumberedLinesEvenWhenItFails) {
  ::testing::internal::CaptureStdout();
  auto out = Run(R"({"seconds":1,"print":3,"fail_message":"boom"})");
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out.status(), absl::AbortedError("boom"));
  EXPECT_EQ(printed,
            "debug.sleep: line 1 of 3\ndebug.sleep: line 2 of 3\ndebug.sleep: line 3 of 3\n");
}

TEST_F(DebugSleepTaskTest, PrintsEveryLineWithoutSleeping) {
  ::testing::internal::CaptureStdout();
  auto out = Run(R"({"seconds":0,"print":2})");
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "debug.sleep: line 1 of 2\ndebug.sleep: line 2 of 2\n");
  ASSERT_TRUE(out.ok()) << out.status();
}

TEST_F(DebugSleepTaskTest, BadParameters) {
  options_.limits.max_sleep_seconds = 5;
  auto out = Run(R"({"seconds":6})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sleeps_.empty());
}

TEST(DebugSleepRealClockTest, SleepsForReal) {
  kiln::testing::ScopedTempDir temp;
  kiln::v1::RunTaskRequest request;
  request.set_output_dir(temp.path());
  (*request.mutable_parameters()->mutable_fields())["seconds"].set_number_value(0.02);
  TaskContext context;
  context.request = &request;
  const absl::Time start = absl::Now();
  auto out = DebugSleepTask().Run(context);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
}

}  // namespace
}  // namespace kiln::tasks
