// Tests of RunContainedProcess with real processes: output lines, exit codes and signals,
// the exact environment, the timeout killing the whole group, leftovers killed after a
// normal exit, and the group dying with the caller.
#include "models/contained_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

struct Captured {
  std::vector<std::string> out;
  std::vector<std::string> err;
};

ContainedProcessOptions Bash(const std::string& script, Captured* captured) {
  ContainedProcessOptions options;
  options.argv = {"bash", "-c", script};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  options.working_dir = "/";
  options.on_output = [captured](OutputStream stream, std::string_view line) {
    (stream == OutputStream::kStdout ? captured->out : captured->err).emplace_back(line);
  };
  return options;
}

// True once `pid` is gone or a zombie, polling for up to 10 s.
bool ProcessEnds(pid_t pid) {
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat) return true;
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// Reads a pid that a script wrote to `path`, waiting up to 10 s for it to appear.
pid_t ReadPid(const std::string& path) {
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    std::ifstream in(path);
    std::string text;
    int pid = 0;
    if (in && std::getline(in, text) && absl::SimpleAtoi(text, &pid) && pid > 0) return pid;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

TEST(ContainedProcessTest, LinesFromBothStreamsAndExitCode) {
  Captured captured;
  auto result =
      RunContainedProcess(Bash("echo one; echo two >&2; printf 'no newline'; exit 7", &captured));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 7);
  EXPECT_FALSE(result->signal.has_value());
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->Describe(), "exit code 7");
  EXPECT_THAT(captured.out, ElementsAre("one", "no newline"));
  EXPECT_THAT(captured.err, ElementsAre("two"));
}

TEST(ContainedProcessTest, CarriageReturnsKeepTheLastStateAndLongLinesAreSplit) {
  Captured captured;
  ContainedProcessOptions options =
      Bash("printf '10%%\\r50%%\\r100%%\\n'; printf 'dos\\r\\n'; head -c 25 /dev/zero | tr '\\0' x",
           &captured);
  options.max_line_bytes = 10;
  auto result = RunContainedProcess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok());
  EXPECT_THAT(captured.out, ElementsAre("100%", "dos", "xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"));
}

TEST(ContainedProcessTest, SignalIsNamed) {
  Captured captured;
  auto result = RunContainedProcess(Bash("kill -SEGV $$", &captured));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->signal, SIGSEGV);
  EXPECT_EQ(result->Describe(), "killed by signal 11 (SIGSEGV)");
}

TEST(ContainedProcessTest, EnvironmentIsExactlyTheGivenOne) {
  ::setenv("KILN_TOKEN", "secret-from-the-worker", 1);
  Captured captured;
  ContainedProcessOptions options;
  options.argv = {"/usr/bin/env"};
  options.env = {{"PATH", "/nowhere"}, {"ONLY_THIS", "1"}};
  options.working_dir = "/";
  options.on_output = [&](OutputStream, std::string_view line) { captured.out.emplace_back(line); };
  auto result = RunContainedProcess(options);
  ::unsetenv("KILN_TOKEN");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(captured.out, UnorderedElementsAre("PATH=/nowhere", "ONLY_THIS=1"));
}

TEST(ContainedProcessTest, WorkingDirStdinAndDescriptors) {
  kiln::testing::ScopedTempDir dir;
  Captured captured;
  // `cat` ends at once on /dev/null; only 0-2 (and ls's own directory fd) are open.
  ContainedProcessOptions options = Bash("pwd; cat; ls /proc/self/fd | tr '\\n' ' '", &captured);
  options.working_dir = dir.path();
  auto result = RunContainedProcess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->ok()) << result->Describe();
  ASSERT_EQ(captured.out.size(), 2u);
  EXPECT_EQ(captured.out[0], std::filesystem::canonical(dir.path()).string());
  EXPECT_EQ(captured.out[1], "0 1 2 3 ");
}

TEST(ContainedProcessTest, MissingCommandIsFailedPreconditionNamingIt) {
  Captured captured;
  ContainedProcessOptions options = Bash("", &captured);
  options.argv = {"no-such-kiln-command", "x"};
  auto result = RunContainedProcess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("\"no-such-kiln-command\" not found in PATH="));

  options.argv = {"./missing.sh"};
  result = RunContainedProcess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("\"./missing.sh\" not found"));

  kiln::testing::ScopedTempDir dir;
  std::ofstream(dir.Sub("data.txt")) << "not a program";
  options.argv = {dir.Sub("data.txt")};  // Exists, not executable.
  result = RunContainedProcess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);

  options.argv = {"bash"};
  options.working_dir = "/no/such/dir";
  result = RunContainedProcess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("/no/such/dir"));
}

TEST(ContainedProcessTest, TimeoutTermsThenKillsTheWholeGroup) {
  kiln::testing::ScopedTempDir dir;
  const std::string pid_file = dir.Sub("child.pid");
  Captured captured;
  // The script and its child ignore SIGTERM: only the SIGKILL after the grace ends them.
  ContainedProcessOptions options =
      Bash("trap '' TERM; sleep 100000 & echo $! > " + pid_file + "; echo started; wait; wait",
           &captured);
  options.timeout = absl::Milliseconds(500);
  options.kill_grace = absl::Milliseconds(300);
  auto result = RunContainedProcess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->signal, SIGKILL);
  EXPECT_THAT(result->Describe(), HasSubstr("timed out after 500ms"));
  EXPECT_GE(result->elapsed, absl::Milliseconds(800));
  EXPECT_THAT(captured.out, ElementsAre("started"));
  const pid_t child = ReadPid(pid_file);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(ProcessEnds(child));
}

TEST(ContainedProcessTest, TimeoutSigtermEndsACooperativeCommand) {
  Captured captured;
  ContainedProcessOptions options = Bash("sleep 100000", &captured);
  options.timeout = absl::Milliseconds(300);
  options.kill_grace = absl::Seconds(60);  // Not needed: SIGTERM is enough.
  auto result = RunContainedProcess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->signal, SIGTERM);
  EXPECT_LT(result->elapsed, absl::Seconds(30));
}

TEST(ContainedProcessTest, LeftoversAreKilledAfterANormalExit) {
  kiln::testing::ScopedTempDir dir;
  const std::string pid_file = dir.Sub("child.pid");
  Captured captured;
  // The leftover keeps stdout open: Run must still return.
  auto result =
      RunContainedProcess(Bash("sleep 100000 & echo $! > " + pid_file + "; exit 0", &captured));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->Describe();
  const pid_t child = ReadPid(pid_file);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(ProcessEnds(child));
}

TEST(ContainedProcessTest, TheGroupDiesWithTheCaller) {
  kiln::testing::ScopedTempDir dir;
  const std::string pid_file = dir.Sub("child.pid");
  // A stand-in for kiln-exec: runs a command that would outlive it, then is SIGKILLed
  // (as the worker does to cancel a job).
  const pid_t caller = ::fork();
  ASSERT_GE(caller, 0);
  if (caller == 0) {
    Captured captured;
    (void)RunContainedProcess(Bash("sleep 100000 & echo $! > " + pid_file + "; wait", &captured));
    _exit(0);
  }
  const pid_t grandchild = ReadPid(pid_file);
  ::kill(caller, SIGKILL);
  ::waitpid(caller, nullptr, 0);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessEnds(grandchild));
}

}  // namespace
}  // namespace kiln::models
