// `kilnctl watch` on a terminal: kilnctl runs under a pseudo-terminal (forkpty), so that
// isatty(stdout) holds as it does for a person, against a real scheduler and worker on
// loopback. On the terminal it redraws one progress line in place ("\r" + clear-line)
// and leaves the final state line; --no-progress keeps one line per change there too.
// (Pipes, as in kilnctl_golden_test, keep the line-per-change output.)
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/local_farm.h"
#include "tests/support/subprocess.h"

extern char** environ;

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kClearLine[] = "\r\033[K";

struct PtyResult {
  int exit_code = -1;  // 128+signal when killed.
  std::string output;  // What the terminal received (the tty turns "\n" into "\r\n").
  bool timed_out = false;
};

// Runs argv under a new pseudo-terminal of `columns` columns, reading everything it
// writes until it exits; killed after `timeout`.
PtyResult RunUnderPty(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      int columns, absl::Duration timeout) {
  // Everything exec needs is built before the fork.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "KILN_")) env_strings.push_back(*e);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp;
  for (std::string& a : args) argvp.push_back(a.data());
  argvp.push_back(nullptr);

  struct winsize size {};
  size.ws_row = 24;
  size.ws_col = static_cast<unsigned short>(columns);
  int master = -1;
  PtyResult result;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty: " << errno;
    return result;
  }
  if (pid == 0) {
    ::execve(argvp[0], argvp.data(), envp.data());
    ::_exit(127);
  }
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  while (true) {
    const int wait_ms =
        static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (wait_ms == 0) {
      result.timed_out = true;
      break;
    }
    struct pollfd fd {
      master, POLLIN, 0
    };
    const int ready = ::poll(&fd, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // The deadline check above ends the loop.
    const ssize_t n = ::read(master, buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EIO (Linux) or EOF: the child closed its side, i.e. it exited.
  }
  if (result.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

size_t Count(absl::string_view text, absl::string_view what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != absl::string_view::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

class KilnctlPtyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    farm_ = new LocalFarm();
    ASSERT_TRUE(farm_->StartScheduler({"--heartbeat-interval=500ms"}).ok());
    ASSERT_TRUE(farm_->StartWorker(0, 1).ok());
  }
  static void TearDownTestSuite() {
    delete farm_;
    farm_ = nullptr;
  }

  // A debug.sleep job of `seconds`: it reports progress every 100 ms while it runs.
  static std::string SubmitSleep(double seconds) {
    std::unique_ptr<Client> client = farm_->NewClient();
    v1::JobSpec spec;
    spec.set_task("debug.sleep");
    (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(seconds);
    absl::StatusOr<v1::Job> job = client->Submit(spec);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->id() : "";
  }

  static PtyResult Watch(const std::string& id, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {BinaryPath("kilnctl"), "watch", id};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunUnderPty(
        argv,
        {"KILN_ADDR=" + farm_->address(), "TZ=UTC", "HOME=" + farm_->dir(), "XDG_CONFIG_HOME="},
        /*columns=*/100, absl::Seconds(90));
  }

  static LocalFarm* farm_;
};

LocalFarm* KilnctlPtyTest::farm_ = nullptr;

TEST_F(KilnctlPtyTest, RedrawsOneProgressLineInPlaceAndEndsWithTheFinalState) {
  const std::string id = SubmitSleep(2.0);
  ASSERT_FALSE(id.empty());
  const PtyResult watch = Watch(id);
  ASSERT_FALSE(watch.timed_out) << watch.output;
  EXPECT_EQ(watch.exit_code, 0) << watch.output << farm_->Log("worker-0.log");
  // Several redraws of the same line: the job goes through states and progress.
  EXPECT_GE(Count(watch.output, kClearLine), 3u) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("running")) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("slept ")) << watch.output;  // A progress message.
  // One line in all: redraws never start a new one until the final state.
  EXPECT_EQ(Count(watch.output, "\n"), 1u) << watch.output;
  const size_t last = watch.output.rfind(kClearLine);
  ASSERT_NE(last, std::string::npos);
  const std::string final_line = watch.output.substr(last + sizeof(kClearLine) - 1);
  // The bar has 24 cells: a quarter of 99 columns.
  EXPECT_THAT(final_line, StartsWith("[########################]  100%  succeeded  "))
      << final_line;
  EXPECT_TRUE(absl::EndsWith(final_line, "\r\n")) << final_line;
  // Every redraw fits the 100-column terminal (99: the last column is left free).
  for (absl::string_view line : absl::StrSplit(watch.output, kClearLine)) {
    EXPECT_LE(absl::StripSuffix(line, "\r\n").size(), 99u) << line;
  }
}

TEST_F(KilnctlPtyTest, NoProgressKeepsOneLinePerChangeOnATerminal) {
  const std::string id = SubmitSleep(0.5);
  ASSERT_FALSE(id.empty());
  const PtyResult watch = Watch(id, {"--no-progress"});
  ASSERT_FALSE(watch.timed_out) << watch.output;
  EXPECT_EQ(watch.exit_code, 0) << watch.output;
  EXPECT_EQ(Count(watch.output, "\033[K"), 0u) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("  succeeded  100%")) << watch.output;
  EXPECT_TRUE(absl::EndsWith(watch.output, "\r\n")) << watch.output;
}

TEST_F(KilnctlPtyTest, AFailedJobEndsWithItsStateAndExitCode) {
  std::unique_ptr<Client> client = farm_->NewClient();
  v1::JobSpec spec;
  spec.set_task("debug.sleep");
  spec.set_max_attempts(1);
  (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(0.3);
  (*spec.mutable_parameters()->mutable_fields())["fail_message"].set_string_value("on purpose");
  absl::StatusOr<v1::Job> job = client->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  const PtyResult watch = Watch(job->id());
  ASSERT_FALSE(watch.timed_out) << watch.output;
  EXPECT_EQ(watch.exit_code, 4) << watch.output;
  const std::string final_line =
      watch.output.substr(watch.output.rfind(kClearLine) + sizeof(kClearLine) - 1);
  EXPECT_THAT(final_line, HasSubstr("  failed  ")) << final_line;
  EXPECT_THAT(final_line, HasSubstr("on purpose")) << final_line;
}

}  // namespace
}  // namespace kiln::testing
