// Tests of the executor: Executor::RunTask in-process with test tasks, and the real
// kiln-exec binary driven over its pipes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/exec/executor.h"
#include "worker/exec/frame_io.h"

namespace kiln::exec {
namespace {

using kiln::v1::ExecEvent;
using kiln::v1::ExecProgress;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;

// A task whose behaviour the test scripts: progress steps on a fake clock, then an
// error, an exception or success.
class ScriptedTask : public tasks::Task {
 public:
  enum class End { kOk, kInvalidArgument, kInternal, kThrow };
  ScriptedTask(std::string kind, FakeClock* clock, End end)
      : kind_(kind), clock_(clock), end_(end) {}
  std::string_view kind() const override { return kind_; }
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override {
    for (int i = 1; i <= 10; ++i) {
      context.report_progress(i / 10.0, "step " + std::to_string(i));
      clock_->Advance(absl::Milliseconds(50));
    }
    switch (end_) {
      case End::kInvalidArgument:
        return absl::InvalidArgumentError("bad parameter");
      case End::kInternal:
        return absl::InternalError("flaky");
      case End::kThrow:
        throw std::runtime_error("boom");
      case End::kOk:
        break;
    }
    tasks::TaskOutput output;
    kiln::v1::LocalFile file;
    file.set_name("out.txt");
    file.set_path(context.request->output_dir() + "/out.txt");
    output.outputs.push_back(file);
    (*output.summary.mutable_fields())["count"].set_number_value(3);
    return output;
  }

 private:
  std::string kind_;
  FakeClock* clock_;
  End end_;
};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    registry_.Add(std::make_unique<ScriptedTask>("t.ok", &clock_, ScriptedTask::End::kOk));
    registry_.Add(
        std::make_unique<ScriptedTask>("t.invalid", &clock_, ScriptedTask::End::kInvalidArgument));
    registry_.Add(
        std::make_unique<ScriptedTask>("t.internal", &clock_, ScriptedTask::End::kInternal));
    registry_.Add(std::make_unique<ScriptedTask>("t.throw", &clock_, ScriptedTask::End::kThrow));
  }

  ExecResult Run(const std::string& task, std::vector<ExecProgress>* progress) {
    ExecutorOptions options;
    options.registry = &registry_;
    options.clock = &clock_;
    options.progress_interval = absl::Milliseconds(200);
    Executor executor(options);
    RunTaskRequest request;
    request.set_task(task);
    request.set_output_dir("/tmp/out");
    return executor.RunTask(request, [&](const ExecProgress& p) { progress->push_back(p); });
  }

  FakeClock clock_;
  tasks::TaskRegistry registry_;
};

TEST_F(ExecutorTest, SuccessCarriesOutputsAndSummary) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.ok", &progress);
  ASSERT_TRUE(result.ok()) << result.error();
  ASSERT_EQ(result.outputs_size(), 1);
  EXPECT_EQ(result.outputs(0).path(), "/tmp/out/out.txt");
  EXPECT_EQ(result.summary().fields().at("count").number_value(), 3);
}

TEST_F(ExecutorTest, ProgressIsRateLimitedAndTheLastIsAlwaysForwarded) {
  std::vector<ExecProgress> progress;
  Run("t.ok", &progress);
  // Ten reports 50 ms apart with a 200 ms interval: steps 1, 5 and 9 pass the limit,
  // step 10 is flushed at the end.
  std::vector<std::string> messages;
  for (const ExecProgress& p : progress) messages.push_back(p.message());
  EXPECT_EQ(messages, (std::vector<std::string>{"step 1", "step 5", "step 9", "step 10"}));
  EXPECT_DOUBLE_EQ(progress.back().fraction(), 1.0);
}

TEST_F(ExecutorTest, PermanentCodesArePermanent) {
  std::vector<ExecProgress> progress;
  ExecResult result = Run("t.invalid", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.permanent());
  EXPECT_THAT(result.error(), ::testing::HasSubstr("bad parameter"));

  result = Run("t.internal", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.permanent());
}

TEST_F(ExecutorTest, ExceptionBecomesRetryableError) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.throw", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.permanent());
  EXPECT_THAT(result.error(), ::testing::HasSubstr("boom"));
  EXPECT_EQ(progress.back().message(), "step 10");  // Pending progress still flushed.
}

TEST_F(ExecutorTest, UnknownTaskIsPermanent) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("no.such.task", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.permanent());
  EXPECT_TRUE(progress.empty());
}

// The real kiln-exec binary on pipes.
class ExecChild {
 public:
  ExecChild() {
    int in[2], out[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execl(KILN_EXEC_PATH, KILN_EXEC_PATH, nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~ExecChild() {
    CloseStdin();
    ::close(from_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void CloseStdin() {
    if (to_ >= 0) ::close(to_);
    to_ = -1;
  }
  absl::Status Send(const RunTaskRequest& run) {
    ExecRequest request;
    *request.mutable_run() = run;
    return WriteFrame(to_, request);
  }
  // Reads one event, failing after `timeout`.
  absl::Status Read(ExecEvent* event, absl::Duration timeout = absl::Seconds(30)) {
    pollfd p{from_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
      return absl::DeadlineExceededError("no event from kiln-exec");
    }
    return ReadFrame(from_, event);
  }
  // Reads events up to the result; progress events are appended to *progress.
  absl::StatusOr<ExecResult> ReadResult(std::vector<ExecProgress>* progress) {
    for (int i = 0; i < 10'000; ++i) {
      ExecEvent event;
      absl::Status status = Read(&event);
      if (!status.ok()) return status;
      if (event.has_result()) return event.result();
      if (event.has_progress()) progress->push_back(event.progress());
    }
    return absl::InternalError("no result after 10000 events");
  }
  // Waits for the exit status, bounded.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::DeadlineExceededError("kiln-exec did not exit");
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

RunTaskRequest SleepRequest(double seconds) {
  RunTaskRequest run;
  run.set_job_id("j-test");
  run.set_attempt(1);
  run.set_task("debug.sleep");
  (*run.mutable_parameters()->mutable_fields())["seconds"].set_number_value(seconds);
  run.set_output_dir(::testing::TempDir());
  return run;
}

TEST(KilnExecTest, FirstEventIsReadyWithBuiltinTasksAndPid) {
  ExecChild child;
  ExecEvent event;
  ASSERT_TRUE(child.Read(&event).ok());
  ASSERT_TRUE(event.has_ready());
  EXPECT_EQ(event.ready().pid(), child.pid());
  EXPECT_THAT(event.ready().tasks(), Contains("mesh.extract"));
  EXPECT_THAT(event.ready().tasks(), Contains("debug.sleep"));
}

TEST(KilnExecTest, DebugSleepSucceedsWithProgressAndTheProcessServesTheNextTask) {
  ExecChild child;
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(child.Send(SleepRequest(0.3)).ok());
    std::vector<ExecProgress> progress;
    absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->ok()) << result->error();
    EXPECT_FALSE(progress.empty());
  }
}

TEST(KilnExecTest, UnknownTaskIsPermanentError) {
  ExecChild child;
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  RunTaskRequest run = SleepRequest(0);
  run.set_task("no.such.task");
  ASSERT_TRUE(child.Send(run).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent());
  EXPECT_THAT(result->error(), ::testing::HasSubstr("no.such.task"));
}

TEST(KilnExecTest, BadParametersArePermanentError) {
  ExecChild child;
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  RunTaskRequest run = SleepRequest(0);
  run.mutable_parameters()->mutable_fields()->erase("seconds");
  ASSERT_TRUE(child.Send(run).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent()) << result->error();
}

TEST(KilnExecTest, ExitsZeroWhenStdinCloses) {
  ExecChild child;
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  child.CloseStdin();
  absl::StatusOr<int> status = child.Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace kiln::exec
