// `kilnctl logs` end to end, with real processes on loopback: kiln-scheduler,
// kiln-worker with its kiln-exec child, and kilnctl. debug.sleep's "print" parameter
// makes the job print numbered lines on its stdout.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Every "debug.sleep: line k of n" once, in order.
void ExpectLines(const std::string& out, int n) {
  size_t at = 0;
  for (int k = 1; k <= n; ++k) {
    const std::string line = absl::StrCat("debug.sleep: line ", k, " of ", n, "\n");
    EXPECT_EQ(Count(out, line), 1) << line << " in:\n" << out;
    const size_t found = out.find(line);
    EXPECT_TRUE(found != std::string::npos && found >= at) << line << " out of order in:\n" << out;
    if (found != std::string::npos) at = found;
  }
}

std::string SubmitId(const CommandResult& submit) {
  return std::string(absl::StripAsciiWhitespace(submit.out.substr(0, submit.out.find('\n'))));
}

class LogsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(farm_.StartScheduler().ok());
    ASSERT_TRUE(farm_.StartWorker(0, 1).ok());
  }
  LocalFarm farm_;
};

TEST_F(LogsEndToEnd, LogsReturnWhatTheJobPrinted) {
  CommandResult submit = farm_.Kilnctl(
      {"submit", "debug.sleep", "--params", R"({"seconds":0.2,"print":5})", "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm_.Log("worker-0.log");
  const std::string id = SubmitId(submit);

  CommandResult logs = farm_.Kilnctl({"logs", id});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  ExpectLines(logs.out, 5);

  // The log is an artifact of the attempt.
  absl::StatusOr<v1::Job> job = farm_.NewClient()->Get(id);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->attempts_size(), 1);
  EXPECT_EQ(job->attempts(0).log().name(), "attempt-1.log");
  EXPECT_EQ(job->attempts(0).log().size_bytes(), static_cast<int64_t>(logs.out.size()));
}

TEST_F(LogsEndToEnd, FailedAttemptsKeepTheirLogs) {
  CommandResult submit = farm_.Kilnctl({"submit", "debug.sleep", "--params",
                                        R"({"seconds":0,"print":3,"fail_message":"boom"})",
                                        "--max-attempts", "2", "--wait"});
  ASSERT_EQ(submit.exit_code, 4) << submit.err << farm_.Log("worker-0.log");
  const std::string id = SubmitId(submit);

  // Both attempts failed; each has its own log.
  for (const std::string attempt : {"1", "2"}) {
    CommandResult logs = farm_.Kilnctl({"logs", id, "--attempt", attempt});
    ASSERT_EQ(logs.exit_code, 0) << logs.err;
    ExpectLines(logs.out, 3);
  }
  // Following an attempt that ended prints its log and exits with the job's outcome.
  CommandResult follow = farm_.Kilnctl({"logs", id, "--follow"});
  EXPECT_EQ(follow.exit_code, 4) << follow.err;
  ExpectLines(follow.out, 3);
  EXPECT_TRUE(absl::StrContains(follow.err, "EXIT_REASON_TASK_ERROR")) << follow.err;

  CommandResult missing = farm_.Kilnctl({"logs", id, "--attempt", "3"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(missing.err, "has 2 attempt(s), not 3")) << missing.err;
  missing = farm_.Kilnctl({"logs", "j-00000000000000ff"});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_TRUE(absl::StrContains(missing.err, "not found")) << missing.err;
  CommandResult usage = farm_.Kilnctl({"logs", id, "--attempt", "0"});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
}

TEST_F(LogsEndToEnd, FollowStreamsWhileTheJobRunsAndExitsAtItsEnd) {
  // One line a second for 8 seconds.
  CommandResult submit =
      farm_.Kilnctl({"submit", "debug.sleep", "--params", R"({"seconds":8,"print":8})"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string id = SubmitId(submit);

  const std::string out_path = farm_.dir() + "/follow.out";
  const std::string err_path = farm_.dir() + "/follow.err";
  absl::StatusOr<std::unique_ptr<Subprocess>> follow = Subprocess::Start(
      {BinaryPath("kilnctl"), "--addr", farm_.address(), "logs", id, "-f"}, out_path, err_path);
  ASSERT_TRUE(follow.ok()) << follow.status();

  // Lines show up while the job is still running.
  std::unique_ptr<Client> client = farm_.NewClient();
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(ReadFile(out_path), "line 2 of 8"); },
                        absl::Seconds(30)))
      << ReadFile(out_path) << ReadFile(err_path) << farm_.Log("worker-0.log");
  absl::StatusOr<v1::Job> job = client->Get(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_RUNNING);
  EXPECT_FALSE(absl::StrContains(ReadFile(out_path), "line 8 of 8"));

  absl::StatusOr<int> code = (*follow)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status() << ReadFile(err_path);
  EXPECT_EQ(*code, 0) << ReadFile(err_path);
  EXPECT_EQ(client->Get(id)->state(), v1::JOB_STATE_SUCCEEDED);
  // Live tail then the blob's remainder: each line exactly once.
  ExpectLines(ReadFile(out_path), 8);
}

}  // namespace
}  // namespace kiln::testing
