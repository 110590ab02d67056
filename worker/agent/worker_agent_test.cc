// WorkerAgent against an in-process fake scheduler (WorkerService + the blob RPCs of
// JobService) on 127.0.0.1:0, with real kiln-exec children.
#include "worker/agent/worker_agent.h"

#include <signal.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace kiln::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using namespace kiln::v1;

struct Report {
  enum Kind { kComplete, kFail } kind;
  std::string job_id;
  int attempt;
  FailJobRequest fail;
  CompleteJobRequest complete;
};

// The scheduler's side, just enough of it: a queue of assignments, recorded reports,
// blobs in memory, and a set of attempts that heartbeats tell the worker to abandon.
class FakeScheduler final : public WorkerService::Service, public JobService::Service {
 public:
  grpc::Status RegisterWorker(grpc::ServerContext*, const RegisterWorkerRequest* request,
                              RegisterWorkerResponse* response) override {
    absl::MutexLock lock(&mu_);
    registrations_.push_back(*request);
    *response->mutable_heartbeat_interval() = ToProtoDuration(absl::Milliseconds(100));
    *response->mutable_lease_duration() = ToProtoDuration(absl::Seconds(5));
    return grpc::Status::OK;
  }
  grpc::Status AcquireJob(grpc::ServerContext*, const AcquireJobRequest* request,
                          AcquireJobResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto has_job = [this] { return !queue_.empty(); };
    mu_.AwaitWithTimeout(absl::Condition(&has_job),
                         std::min(FromProtoDuration(request->wait()), absl::Milliseconds(200)));
    if (queue_.empty()) return grpc::Status::OK;
    *response->mutable_assignment() = queue_.front();
    queue_.pop_front();
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const HeartbeatRequest* request,
                         HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu_);
    for (const HeldLease& lease : request->leases()) {
      if (abandon_.count(lease.job_id())) *response->add_abandon() = lease;
    }
    return grpc::Status::OK;
  }
  grpc::Status ReportProgress(grpc::ServerContext*, const ReportProgressRequest* request,
                              ReportProgressResponse*) override {
    absl::MutexLock lock(&mu_);
    progress_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status CompleteJob(grpc::ServerContext*, const CompleteJobRequest* request,
                           CompleteJobResponse*) override {
    absl::MutexLock lock(&mu_);
    reports_.push_back({Report::kComplete, request->job_id(), request->attempt(), {}, *request});
    return grpc::Status::OK;
  }
  grpc::Status FailJob(grpc::ServerContext*, const FailJobRequest* request,
                       FailJobResponse*) override {
    absl::MutexLock lock(&mu_);
    reports_.push_back({Report::kFail, request->job_id(), request->attempt(), *request, {}});
    return grpc::Status::OK;
  }
  grpc::Status GetBlob(grpc::ServerContext*, const GetBlobRequest* request,
                       grpc::ServerWriter<GetBlobResponse>* writer) override {
    std::string data;
    {
      absl::MutexLock lock(&mu_);
      auto it = blobs_.find(request->sha256());
      if (it == blobs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such blob");
      data = it->second;
    }
    GetBlobResponse chunk;
    chunk.set_size_bytes(static_cast<int64_t>(data.size()));
    for (size_t at = 0; at < data.size() || at == 0; at += 1000) {
      chunk.set_data(data.substr(at, 1000));
      writer->Write(chunk);
      chunk.clear_size_bytes();
      if (data.empty()) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status PutBlob(grpc::ServerContext*, grpc::ServerReader<PutBlobRequest>* reader,
                       PutBlobResponse* response) override {
    PutBlobRequest chunk;
    BlobHeader header;
    std::string data;
    bool first = true;
    while (reader->Read(&chunk)) {
      if (first) header = chunk.header();
      first = false;
      data += chunk.data();
    }
    if (static_cast<int64_t>(data.size()) != header.size_bytes() ||
        Sha256Hex(data) != header.sha256()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "size or sha256 mismatch");
    }
    response->set_sha256(header.sha256());
    response->set_size_bytes(header.size_bytes());
    absl::MutexLock lock(&mu_);
    blobs_[header.sha256()] = data;
    return grpc::Status::OK;
  }
  std::optional<std::string> Blob(const std::string& sha256) {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(sha256);
    if (it == blobs_.end()) return std::nullopt;
    return it->second;
  }

  // params_json: a JSON object, or a bare number meaning {"seconds": number}.
  void Enqueue(const std::string& job_id, const std::string& task, const std::string& params_json,
               std::vector<BlobRef> inputs = {}, absl::Duration timeout = absl::ZeroDuration()) {
    Assignment assignment;
    Job* job = assignment.mutable_job();
    job->set_id(job_id);
    job->mutable_spec()->set_task(task);
    for (auto& ref : inputs) *job->mutable_spec()->add_inputs() = ref;
    if (timeout > absl::ZeroDuration()) {
      *job->mutable_spec()->mutable_timeout() = ToProtoDuration(timeout);
    }
    google::protobuf::Struct& params = *job->mutable_spec()->mutable_parameters();
    if (!params_json.empty() && params_json[0] == '{') {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(params_json, &params).ok());
    } else if (!params_json.empty()) {
      (*params.mutable_fields())["seconds"].set_number_value(std::stod(params_json));
    }
    assignment.set_attempt(1);
    absl::MutexLock lock(&mu_);
    queue_.push_back(assignment);
  }
  BlobRef AddBlob(const std::string& name, const std::string& data, std::string stored = "") {
    BlobRef ref;
    ref.set_name(name);
    ref.set_sha256(Sha256Hex(data));
    ref.set_size_bytes(static_cast<int64_t>(data.size()));
    absl::MutexLock lock(&mu_);
    blobs_[ref.sha256()] = stored.empty() ? data : stored;
    return ref;
  }
  void Abandon(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    abandon_.insert(job_id);
  }
  // Waits (bounded) for a report of job_id.
  std::optional<Report> WaitReport(const std::string& job_id,
                                   absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const Report& r : reports_) {
        if (r.job_id == job_id) return true;
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
    for (const Report& r : reports_) {
      if (r.job_id == job_id) return r;
    }
    return std::nullopt;
  }
  bool WaitStarted(const std::string& job_id, absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& p : progress_) {
        if (p.job_id() == job_id && p.message() == "started") return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&started), timeout);
  }
  bool WaitRegistered(absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto registered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !registrations_.empty(); };
    return mu_.AwaitWithTimeout(absl::Condition(&registered), timeout);
  }
  RegisterWorkerRequest registration() {
    absl::MutexLock lock(&mu_);
    return registrations_.at(0);
  }
  size_t report_count() {
    absl::MutexLock lock(&mu_);
    return reports_.size();
  }

 private:
  absl::Mutex mu_;
  std::deque<Assignment> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<RegisterWorkerRequest> registrations_ ABSL_GUARDED_BY(mu_);
  std::vector<ReportProgressRequest> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<Report> reports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> abandon_ ABSL_GUARDED_BY(mu_);
};

// Pids of this process's kiln-exec children.
std::vector<pid_t> ExecChildren() {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    pid_t pid, ppid;
    std::string comm, state;
    if (!(stat >> pid >> comm >> state >> ppid)) continue;
    if (ppid == ::getpid() && comm == "(kiln-exec)") pids.push_back(pid);
  }
  return pids;
}

class WorkerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(static_cast<WorkerService::Service*>(&scheduler_));
    builder.RegisterService(static_cast<JobService::Service*>(&scheduler_));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    work_dir_ = fs::path(::testing::TempDir()) /
                ("agent-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work_dir_);

    WorkerAgentOptions options;
    options.scheduler_address = "127.0.0.1:" + std::to_string(port);
    options.work_dir = work_dir_.string();
    options.worker_id = "test-worker";
    options.exec_path = KILN_EXEC_PATH;
    options.acquire_wait = absl::Milliseconds(200);
    options.progress_interval = absl::Milliseconds(50);
    auto agent = WorkerAgent::Create(options);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    runner_ = std::thread([this] { run_status_ = agent_->Run(); });
    ASSERT_TRUE(scheduler_.WaitRegistered());
  }
  void TearDown() override {
    if (agent_) agent_->Shutdown();
    if (runner_.joinable()) runner_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    agent_.reset();
    if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    fs::remove_all(work_dir_);
  }
  // The job directory goes once the report is sent: wait for it, bounded.
  bool JobDirsEmpty() {
    for (int i = 0; i < 500; ++i) {
      if (fs::is_empty(work_dir_ / "jobs")) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  FakeScheduler scheduler_;
  std::unique_ptr<grpc::Server> server_;
  fs::path work_dir_;
  std::unique_ptr<WorkerAgent> agent_;
  std::thread runner_;
  absl::Status run_status_;
};

TEST_F(WorkerAgentTest, RegistersCpuSlotWithExecutorTasks) {
  const RegisterWorkerRequest r = scheduler_.registration();
  EXPECT_EQ(r.worker_id(), "test-worker");
  ASSERT_EQ(r.capabilities().devices_size(), 1);
  EXPECT_EQ(r.capabilities().devices(0).id(), "cpu");
  EXPECT_TRUE(r.capabilities().devices(0).runnable());
  EXPECT_GT(r.capabilities().devices(0).total_memory_bytes(), 0);
  ASSERT_EQ(r.capabilities().slots_size(), 1);
  EXPECT_EQ(r.capabilities().slots(0).device_id(), "cpu");
  EXPECT_THAT(r.capabilities().slots(0).tasks(), Contains("debug.sleep"));
  EXPECT_EQ(r.capabilities().version(), "0.1.0");
}

TEST_F(WorkerAgentTest, RunsJobWithStagedInputAndCompletes) {
  const BlobRef input = scheduler_.AddBlob("input.bin", std::string(5000, 'k'));
  scheduler_.Enqueue("j-1", "debug.sleep", "0.2", {input});
  std::optional<Report> report = scheduler_.WaitReport("j-1");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->kind, Report::kComplete) << report->fail.message();
  EXPECT_EQ(report->attempt, 1);
  EXPECT_TRUE(scheduler_.WaitStarted("j-1", absl::ZeroDuration()));
  EXPECT_TRUE(JobDirsEmpty());
}

TEST_F(WorkerAgentTest, UploadsOutputsAndCompletesWithTheirAddresses) {
  scheduler_.Enqueue("j-mesh", "mesh.extract",
                     R"({"shape":{"type":"sphere","radius":1},"resolution":16})");
  std::optional<Report> report = scheduler_.WaitReport("j-mesh");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kComplete) << report->fail.message();
  ASSERT_EQ(report->complete.outputs_size(), 1);
  const BlobRef& out = report->complete.outputs(0);
  EXPECT_EQ(out.name(), "mesh.ply");
  std::optional<std::string> stored = scheduler_.Blob(out.sha256());
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(static_cast<int64_t>(stored->size()), out.size_bytes());
  EXPECT_EQ(stored->rfind("ply\n", 0), 0u);
  EXPECT_FALSE(report->complete.result().fields().empty());
}

TEST_F(WorkerAgentTest, CorruptInputBlobIsWorkerError) {
  const BlobRef input = scheduler_.AddBlob("input.bin", "the real bytes", "tampered bytes");
  scheduler_.Enqueue("j-2", "debug.sleep", "0", {input});
  std::optional<Report> report = scheduler_.WaitReport("j-2");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kFail);
  EXPECT_EQ(report->fail.reason(), EXIT_REASON_WORKER_ERROR);
  EXPECT_THAT(report->fail.message(), HasSubstr("sha256"));
}

TEST_F(WorkerAgentTest, UnknownTaskFailsPermanently) {
  scheduler_.Enqueue("j-3", "no.such.task", "");
  std::optional<Report> report = scheduler_.WaitReport("j-3");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kFail);
  EXPECT_EQ(report->fail.reason(), EXIT_REASON_TASK_ERROR);
  EXPECT_TRUE(report->fail.permanent());
}

TEST_F(WorkerAgentTest, ExecutorCrashIsReportedAndTheSlotRecovers) {
  scheduler_.Enqueue("j-4", "debug.sleep", "30");
  ASSERT_TRUE(scheduler_.WaitStarted("j-4"));
  for (pid_t pid : ExecChildren()) ::kill(pid, SIGKILL);
  std::optional<Report> report = scheduler_.WaitReport("j-4");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kFail);
  EXPECT_EQ(report->fail.reason(), EXIT_REASON_EXECUTOR_CRASH);
  EXPECT_EQ(report->fail.message(), "executor killed by signal 9 (SIGKILL)");

  scheduler_.Enqueue("j-5", "debug.sleep", "0");
  report = scheduler_.WaitReport("j-5");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->kind, Report::kComplete) << report->fail.message();
}

TEST_F(WorkerAgentTest, AbandonedAttemptIsKilledAndNotReported) {
  scheduler_.Enqueue("j-6", "debug.sleep", "30");
  ASSERT_TRUE(scheduler_.WaitStarted("j-6"));
  scheduler_.Abandon("j-6");
  // The next job only runs once the slot has let go of the abandoned one.
  scheduler_.Enqueue("j-7", "debug.sleep", "0");
  std::optional<Report> report = scheduler_.WaitReport("j-7");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->kind, Report::kComplete);
  EXPECT_FALSE(scheduler_.WaitReport("j-6", absl::ZeroDuration()).has_value());
}

TEST_F(WorkerAgentTest, TimeoutKillsTheTask) {
  scheduler_.Enqueue("j-8", "debug.sleep", "30", {}, absl::Milliseconds(300));
  std::optional<Report> report = scheduler_.WaitReport("j-8");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kFail);
  EXPECT_EQ(report->fail.reason(), EXIT_REASON_TIMEOUT);
}

TEST_F(WorkerAgentTest, ShutdownFailsTheRunningJobBackToTheQueue) {
  scheduler_.Enqueue("j-9", "debug.sleep", "30");
  ASSERT_TRUE(scheduler_.WaitStarted("j-9"));
  const absl::Time start = absl::Now();
  agent_->Shutdown();
  runner_.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::optional<Report> report = scheduler_.WaitReport("j-9", absl::ZeroDuration());
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->kind, Report::kFail);
  EXPECT_EQ(report->fail.reason(), EXIT_REASON_WORKER_ERROR);
  EXPECT_EQ(report->fail.message(), "worker shutting down");
  EXPECT_FALSE(report->fail.permanent());
}

TEST(WorkerAgentHelpersTest, DefaultWorkerIdIsStableAndSafe) {
  const std::string a = DefaultWorkerId("/var/lib/kiln/a");
  EXPECT_EQ(a, DefaultWorkerId("/var/lib/kiln/a"));
  EXPECT_NE(a, DefaultWorkerId("/var/lib/kiln/b"));
  EXPECT_TRUE(IsSafeName(a)) << a;
}

TEST(WorkerAgentHelpersTest, SafeNames) {
  EXPECT_TRUE(IsSafeName("mesh.ply"));
  EXPECT_FALSE(IsSafeName(""));
  EXPECT_FALSE(IsSafeName(".."));
  EXPECT_FALSE(IsSafeName("a/b"));
  EXPECT_FALSE(IsSafeName(std::string(129, 'a')));
}

}  // namespace
}  // namespace kiln::agent
