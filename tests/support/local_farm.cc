#include "tests/support/local_farm.h"

#include <signal.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kiln::testing {

std::string BinaryPath(const std::string& name) { return absl::StrCat(KILN_BIN_DIR, "/", name); }

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return condition();
}

LocalFarm::LocalFarm() = default;

LocalFarm::~LocalFarm() {
  // Workers first, so they do not spin on a vanished scheduler.
  workers_.clear();
  scheduler_.reset();
}

absl::Status LocalFarm::StartScheduler(const std::vector<std::string>& extra_flags) {
  const std::string port_file = dir_.Sub("scheduler.port");
  std::filesystem::remove(port_file);
  // The first start picks a free port; restarts reuse it so workers reconnect.
  std::vector<std::string> argv = {
      BinaryPath("kiln-scheduler"), absl::StrCat("--listen=127.0.0.1:", port_),
      "--data_dir=" + dir_.Sub("scheduler-data"), "--port_file=" + port_file};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto process = Subprocess::Start(argv, dir_.Sub("scheduler.out"), dir_.Sub("scheduler.log"));
  if (!process.ok()) return process.status();
  scheduler_ = *std::move(process);
  ++scheduler_starts_;
  int port = 0;
  const bool up = WaitUntil(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port) &&
               port > 0;
      },
      absl::Seconds(30));
  if (!up) {
    return absl::DeadlineExceededError(
        absl::StrCat("scheduler did not start: ", Log("scheduler.log")));
  }
  port_ = port;
  return absl::OkStatus();
}

void LocalFarm::StopScheduler(int signal) {
  if (scheduler_ == nullptr) return;
  scheduler_->Signal(signal);
  scheduler_->Wait(absl::Seconds(30)).IgnoreError();
  scheduler_.reset();
}

absl::Status LocalFarm::StartWorker(int index, int slots,
                                    const std::vector<std::string>& extra_flags) {
  if (static_cast<int>(workers_.size()) <= index) workers_.resize(index + 1);
  std::vector<std::string> argv = {BinaryPath("kiln-worker"), "--scheduler=" + address(),
                                   "--work_dir=" + dir_.Sub(absl::StrCat("worker-", index)),
                                   absl::StrCat("--slots=", slots),
                                   absl::StrCat("--worker_id=worker-", index)};
  // Only the GPUs a test simulates: a GPU on the test host must not change results.
  bool devices_chosen = false;
  for (const std::string& flag : extra_flags) {
    devices_chosen |= absl::StartsWith(flag, "--gpus") || absl::StartsWith(flag, "--fake-devices");
  }
  if (!devices_chosen) argv.push_back("--gpus=none");
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto process = Subprocess::Start(argv, dir_.Sub(absl::StrCat("worker-", index, ".out")),
                                   dir_.Sub(absl::StrCat("worker-", index, ".log")));
  if (!process.ok()) return process.status();
  workers_[index] = *std::move(process);
  return absl::OkStatus();
}

void LocalFarm::StopWorker(int index, int signal) {
  workers_.at(index)->Signal(signal);
  workers_.at(index)->Wait(absl::Seconds(30)).IgnoreError();
}

std::string LocalFarm::address() const { return absl::StrCat("127.0.0.1:", port_); }

CommandResult LocalFarm::Kilnctl(const std::vector<std::string>& args, absl::Duration timeout) {
  std::vector<std::string> argv = {BinaryPath("kilnctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout, {"KILN_ADDR=" + address()});
}

std::unique_ptr<Client> LocalFarm::NewClient(int max_retries) {
  ClientOptions options;
  options.address = address();
  options.max_retries = max_retries;
  options.default_deadline = absl::Seconds(10);
  auto client = Client::Create(options);
  return client.ok() ? *std::move(client) : nullptr;
}

}  // namespace kiln::testing
