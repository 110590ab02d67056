#include "bench/kiln_load_support.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/channel_credentials.h"
#include "common/status_macros.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace kiln::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

absl::StatusOr<ProcessSample> SampleProcess(pid_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("cannot parse /proc/", pid, "/stat"));
  }
  ProcessSample sample;
  sample.cpu_seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  for (absl::string_view line :
       absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      line = absl::StripAsciiWhitespace(line);
      absl::ConsumeSuffix(&line, " kB");
      int64_t kb = 0;
      if (absl::SimpleAtoi(line, &kb)) sample.rss_bytes = kb * 1024;
    }
  }
  return sample;
}

absl::StatusOr<std::unique_ptr<SchedulerProcess>> SchedulerProcess::Start(const Options& options) {
  std::unique_ptr<SchedulerProcess> process(new SchedulerProcess());
  const std::string port_file = options.work_dir + "/scheduler.port";
  process->log_path_ = options.work_dir + "/scheduler.log";
  ::unlink(port_file.c_str());
  std::vector<std::string> argv = {options.binary, "--listen=127.0.0.1:0",
                                   "--data_dir=" + options.data_dir, "--port_file=" + port_file};
  argv.insert(argv.end(), options.extra_flags.begin(), options.extra_flags.end());
  const absl::Time exec_time = absl::Now();
  KILN_ASSIGN_OR_RETURN(process->process_,
                        kiln::testing::Subprocess::Start(argv, "", process->log_path_));

  // Poll tightly: the restart figure is measured here.
  const absl::Time deadline = exec_time + options.start_timeout;
  while (true) {
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(port_file)), &port) && port > 0) {
      process->port_ = port;
      process->time_to_port_file_ = absl::Now() - exec_time;
      break;
    }
    if (!process->process_->Running()) {
      return absl::InternalError(absl::StrCat("scheduler exited: ", process->Log()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("scheduler did not start: ", process->Log()));
    }
    absl::SleepFor(absl::Microseconds(500));
  }

  KILN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                        kiln::SchedulerChannelCredentials(options.tls));
  grpc::ChannelArguments args;
  kiln::AddTlsChannelArguments(options.tls, args);
  auto channel = grpc::CreateCustomChannel(process->address(), credentials, args);
  auto stub = kiln::v1::JobService::NewStub(channel);
  kiln::v1::GetJobRequest request;
  request.set_job_id(options.probe_job_id.empty() ? "j-0000000000000000" : options.probe_job_id);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    context.set_wait_for_ready(true);
    kiln::v1::GetJobResponse response;
    const grpc::Status status = stub->GetJob(&context, request, &response);
    const bool answered = options.probe_job_id.empty()
                              ? status.error_code() != grpc::StatusCode::UNAVAILABLE &&
                                    status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED
                              : status.ok();
    if (answered) break;
    if (!options.probe_job_id.empty() && status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return absl::NotFoundError(
          absl::StrCat("restarted scheduler does not know job ", options.probe_job_id));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("scheduler does not answer GetJob: ", status.error_message()));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  process->time_to_serving_ = absl::Now() - exec_time;
  return process;
}

SchedulerProcess::~SchedulerProcess() = default;

std::string SchedulerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string SchedulerProcess::Log() const { return ReadFile(log_path_); }

absl::StatusOr<int> SchedulerProcess::Stop(int signal, absl::Duration timeout) {
  process_->Signal(signal);
  return process_->Wait(timeout);
}

void LatencyRecorder::Add(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  micros_.push_back(absl::ToInt64Microseconds(d));
  sorted_ = false;
}

size_t LatencyRecorder::count() const {
  absl::MutexLock lock(&mu_);
  return micros_.size();
}

absl::Duration LatencyRecorder::Percentile(double q) const {
  absl::MutexLock lock(&mu_);
  if (micros_.empty()) return absl::ZeroDuration();
  if (!sorted_) {
    std::sort(micros_.begin(), micros_.end());
    sorted_ = true;
  }
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(q * micros_.size()));
  rank = std::clamp<size_t>(rank, 1, micros_.size());
  return absl::Microseconds(micros_[rank - 1]);
}

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() { Shutdown(); }

void TimerThread::At(absl::Time when, std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      pending_.emplace(when, std::move(fn));
      return;
    }
  }
  fn();
}

void TimerThread::Shutdown() {
  std::multimap<absl::Time, std::function<void()>> left;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  thread_.join();
  {
    absl::MutexLock lock(&mu_);
    left.swap(pending_);
  }
  for (auto& [when, fn] : left) fn();
}

void TimerThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (!shutdown_) {
    const absl::Time now = absl::Now();
    if (!pending_.empty() && pending_.begin()->first <= now) {
      std::function<void()> fn = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      mu_.Unlock();
      fn();
      mu_.Lock();
      continue;
    }
    const absl::Time wake =
        pending_.empty() ? now + absl::Milliseconds(100) : pending_.begin()->first;
    auto woken = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || (!pending_.empty() && pending_.begin()->first < wake);
    };
    mu_.AwaitWithDeadline(absl::Condition(&woken), wake);
  }
}

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

}  // namespace kiln::bench
