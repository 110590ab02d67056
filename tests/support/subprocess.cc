#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace kiln::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const std::vector<std::string>& argv,
                                                              const std::string& stdout_path,
                                                              const std::string& stderr_path,
                                                              const std::vector<std::string>& env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> environment;
  // `env` overrides: getenv() finds the first entry of a name, so drop the inherited one.
  auto overridden = [&env](const char* entry) {
    const char* eq = std::strchr(entry, '=');
    const size_t name_length = eq == nullptr ? std::strlen(entry) : eq - entry;
    for (const std::string& e : env) {
      if (e.size() > name_length && e[name_length] == '=' &&
          e.compare(0, name_length, entry, name_length) == 0) {
        return true;
      }
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) environment.emplace_back(*e);
  }
  environment.insert(environment.end(), env.begin(), env.end());
  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : environment) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid));
}

Subprocess::~Subprocess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    Wait(absl::Seconds(10)).IgnoreError();
  }
}

void Subprocess::Signal(int signal) {
  if (!exit_code_.has_value()) ::kill(pid_, signal);
}

bool Subprocess::Running() {
  if (exit_code_.has_value()) return false;
  return !Wait(absl::ZeroDuration()).ok();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (exit_code_.has_value()) return *exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return *exit_code_;
    }
    if (r < 0 && errno != EINTR) return absl::InternalError("waitpid failed");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                         const std::vector<std::string>& env) {
  static int counter = 0;
  const std::string base = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                        "/kiln-cmd-", ::getpid(), "-", counter++);
  CommandResult result;
  {
    auto process = Subprocess::Start(argv, base + ".out", base + ".err", env);
    if (!process.ok()) {
      result.err = std::string(process.status().message());
      return result;
    }
    absl::StatusOr<int> code = (*process)->Wait(timeout);
    result.exit_code = code.ok() ? *code : -1;
  }
  result.out = ReadFileOrEmpty(base + ".out");
  result.err = ReadFileOrEmpty(base + ".err");
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return result;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::string list = ReadFileOrEmpty(task.path().string() + "/children");
    for (absl::string_view token : absl::StrSplit(list, ' ', absl::SkipEmpty())) {
      int child = 0;
      if (absl::SimpleAtoi(token, &child)) children.push_back(child);
    }
  }
  return children;
}

}  // namespace kiln::testing
