#include "worker/agent/executor_supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::agent {
namespace {

using kiln::v1::ExecProgress;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;
using ::testing::HasSubstr;

RunTaskRequest SleepRequest(double seconds) {
  RunTaskRequest run;
  run.set_job_id("j-test");
  run.set_attempt(1);
  run.set_task("debug.sleep");
  (*run.mutable_parameters()->mutable_fields())["seconds"].set_number_value(seconds);
  run.set_output_dir(::testing::TempDir());
  return run;
}

ExecutorSupervisorOptions TestOptions() {
  ExecutorSupervisorOptions options;
  options.exec_path = KILN_EXEC_PATH;
  options.log_path = ::testing::TempDir() + "/supervisor_test_slot.log";
  options.env = {{"CUDA_VISIBLE_DEVICES", ""}};
  options.ready_timeout = absl::Seconds(30);
  options.restart_backoff_initial = absl::Milliseconds(50);
  return options;
}

// Whether a process exists (a zombie counts as gone for us only once reaped).
bool ProcessExists(pid_t pid) { return ::kill(pid, 0) == 0; }

std::string ReadEnviron(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ExecutorSupervisorTest, StartsExecutorAndRunsATask) {
  auto supervisor = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(supervisor.ok()) << supervisor.status();
  EXPECT_THAT((*supervisor)->tasks(), Contains("debug.sleep"));
  EXPECT_GT((*supervisor)->pid(), 0);
  // CPU slots hide GPUs from the executor.
  EXPECT_THAT(ReadEnviron((*supervisor)->pid()),
              HasSubstr(std::string("CUDA_VISIBLE_DEVICES=\0", 22)));

  int progress_events = 0;
  auto result =
      (*supervisor)->Run(SleepRequest(0.2), [&](const ExecProgress&) { ++progress_events; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->error();
  EXPECT_GT(progress_events, 0);
}

// image.segment with fan_out on the real kiln-exec: its ExecSubmitChildren reaches the
// callback while the task waits (the files it names already written), and the answer
// goes back into the task's summary. Without a callback the task is refused.
TEST(ExecutorSupervisorTest, ChildSubmissionsReachTheCallbackAndItsAnswerTheTask) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  ExecutorSupervisor& supervisor = **created;
  const std::string out = ::testing::TempDir() + "/supervisor_fan_out";
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  RunTaskRequest run;
  run.set_job_id("j-test");
  run.set_attempt(1);
  run.set_task("image.segment");
  run.set_output_dir(out);
  kiln::v1::LocalFile* input = run.add_inputs();
  input->set_name("scene.png");
  input->set_path(KILN_TEST_DATA_DIR "/images/three_objects.png");
  auto& params = *run.mutable_parameters()->mutable_fields();
  params["input"].set_string_value("scene.png");
  params["fan_out"].mutable_struct_value();

  std::vector<kiln::v1::ExecSubmitChildren> calls;
  auto result = supervisor.Run(
      run, nullptr, absl::Now() + absl::Seconds(60),
      [&](const kiln::v1::ExecSubmitChildren& submit) {
        calls.push_back(submit);
        kiln::v1::ExecChildrenResult answer;
        answer.set_ok(true);
        for (int i = 0; i < submit.children_size(); ++i) {
          // The files exist by the time the worker is asked.
          for (const kiln::v1::LocalFile& file : submit.children(i).files()) {
            EXPECT_TRUE(std::filesystem::is_regular_file(file.path())) << file.path();
          }
          answer.add_job_ids("j-child-" + std::to_string(i));
        }
        return answer;
      });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->ok()) << result->error();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].children_size(), 4);
  EXPECT_EQ(calls[0].children(0).spec().task(), "image.to3d");
  EXPECT_EQ(calls[0].children(3).spec().task(), "scene.compose");
  EXPECT_EQ(result->summary().fields().at("scene_job").string_value(), "j-child-3");

  result = supervisor.Run(run, nullptr, absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent());
  EXPECT_THAT(result->error(), HasSubstr("does not submit child jobs"));
}

TEST(ExecutorSupervisorTest, SigkillMidRunIsReportedAndTheExecutorRestarts) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  ExecutorSupervisor& supervisor = **created;
  const pid_t first_pid = supervisor.pid();
  ASSERT_GT(first_pid, 0);

  // Kill the child once the task is running (its first progress event says so).
  std::atomic<bool> killed{false};
  auto on_progress = [&](const ExecProgress&) {
    if (!killed.exchange(true)) ::kill(first_pid, SIGKILL);
  };
  const absl::Time start = absl::Now();
  auto result = supervisor.Run(SleepRequest(30), on_progress, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(killed.load()) << "debug.sleep sent no progress before finishing";
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::IsAborted(result.status())) << result.status();
  EXPECT_EQ(result.status().message(), "executor killed by signal 9 (SIGKILL)");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(ProcessExists(first_pid));  // Reaped, not a zombie.

  result = supervisor.Run(SleepRequest(0.1), nullptr, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->error();
  EXPECT_GT(supervisor.pid(), 0);
  EXPECT_NE(supervisor.pid(), first_pid);
}

TEST(ExecutorSupervisorTest, KillFromAnotherThreadAbortsTheRun) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  ExecutorSupervisor& supervisor = **created;
  std::atomic<bool> killed{false};
  std::thread killer;
  auto result = supervisor.Run(
      SleepRequest(30),
      [&](const ExecProgress&) {
        if (!killed.exchange(true)) killer = std::thread([&] { supervisor.Kill(); });
      },
      absl::Now() + absl::Seconds(20));
  if (killer.joinable()) killer.join();
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::IsAborted(result.status())) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("SIGKILL"));
  // A requested kill is not a crash: the next run starts without waiting out a backoff.
  result = supervisor.Run(SleepRequest(0), nullptr, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok());
}

TEST(ExecutorSupervisorTest, DeadlineKillsTheTask) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  const pid_t first_pid = (*created)->pid();
  const absl::Time start = absl::Now();
  auto result = (*created)->Run(SleepRequest(30), nullptr, absl::Now() + absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(ProcessExists(first_pid));
  result = (*created)->Run(SleepRequest(0), nullptr, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
}

TEST(ExecutorSupervisorTest, ExecutorThatDiedWhileIdleIsReplacedBeforeTheNextTask) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  const pid_t first_pid = (*created)->pid();
  // SIGKILL: a sanitizer build's executor takes a SIGSEGV sent from outside for a crash of
  // its own, reports it and exits (scripts/sanitize.sh); any death will do here.
  ASSERT_EQ(::kill(first_pid, SIGKILL), 0);
  // Bounded wait until the child is a zombie, so the supervisor can see the death.
  for (int i = 0; i < 500; ++i) {
    siginfo_t info{};
    if (::waitid(P_PID, first_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == first_pid) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto result = (*created)->Run(SleepRequest(0), nullptr, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok());
  EXPECT_NE((*created)->pid(), first_pid);
}

TEST(ExecutorSupervisorTest, MissingBinaryFailsCreateWithTheReason) {
  ExecutorSupervisorOptions options = TestOptions();
  options.exec_path = ::testing::TempDir() + "/no-such-kiln-exec";
  auto created = ExecutorSupervisor::Create(options);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(absl::IsUnavailable(created.status()));
  EXPECT_THAT(created.status().message(), HasSubstr("No such file"));
}

TEST(ExecutorSupervisorTest, ShutdownStopsRestarts) {
  auto created = ExecutorSupervisor::Create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.status();
  (*created)->Shutdown();
  auto result = (*created)->Run(SleepRequest(0), nullptr, absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(absl::IsCancelled(result.status())) << result.status();
}

TEST(DescribeExitTest, NamesSignalsAndExitCodes) {
  EXPECT_EQ(DescribeExit(SIGKILL), "executor killed by signal 9 (SIGKILL)");
  EXPECT_EQ(DescribeExit(SIGSEGV), "executor killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(DescribeExit(3 << 8), "executor exited with status 3");
}

TEST(ExecutorSupervisorTest, RestartProbesAgainWithTheSameArgumentsAndIsNoCrash) {
  ExecutorSupervisorOptions options = TestOptions();
  options.env = {{"CUDA_VISIBLE_DEVICES", "1"}};
  options.args = {"--fake-devices=sm_90:80GiB,sm_120:32GiB"};
  options.restart_backoff_initial = absl::Seconds(30);  // A crash backoff would show.
  auto supervisor = ExecutorSupervisor::Create(options);
  ASSERT_TRUE(supervisor.ok()) << supervisor.status();
  const pid_t first = (*supervisor)->pid();
  kiln::v1::ExecReady ready = (*supervisor)->ready();
  ASSERT_EQ(ready.devices_size(), 1);  // Pinned to the second fake device.
  EXPECT_EQ(ready.devices(0).compute_capability(), 120);

  const absl::Time start = absl::Now();
  ASSERT_TRUE((*supervisor)->Restart().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_NE((*supervisor)->pid(), first);
  EXPECT_EQ((*supervisor)->ready().pid(), (*supervisor)->pid());
  ASSERT_EQ((*supervisor)->ready().devices_size(), 1);
  EXPECT_EQ((*supervisor)->ready().devices(0).compute_capability(), 120);
  absl::StatusOr<kiln::v1::ExecResult> result = (*supervisor)->Run(SleepRequest(0), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->error();
}

}  // namespace
}  // namespace kiln::agent
