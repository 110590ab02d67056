// WorkerAgent against the real scheduler, in-process: a SchedulerServer on 127.0.0.1:0
// with its store in a temp dir, jobs submitted through the SDK (kiln::Client), real
// kiln-exec children. Assertions read the job and its attempt history back from the
// scheduler.
//
// Not covered here: a job whose task the executor lacks. The scheduler refuses unknown
// tasks at submit and only assigns a slot tasks it advertised, so that path cannot be
// reached through it; kiln_exec_test checks the executor's permanent TASK_ERROR for it.
#include "worker/agent/worker_agent.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/kiln_client.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "scheduler/rpc/scheduler_server.h"

namespace kiln::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace kiln::v1;

constexpr absl::Duration kWait = absl::Seconds(20);

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

// Polls `done` every 10 ms until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// params_json: a JSON object, or a bare number meaning {"seconds": number}.
JobSpec Spec(const std::string& task, const std::string& params_json) {
  JobSpec spec;
  spec.set_task(task);
  google::protobuf::Struct& params = *spec.mutable_parameters();
  if (!params_json.empty() && params_json[0] == '{') {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(params_json, &params).ok());
  } else if (!params_json.empty()) {
    (*params.mutable_fields())["seconds"].set_number_value(std::stod(params_json));
  }
  return spec;
}

class WorkerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rpc::SchedulerServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.data_dir = data_dir_.path();
    server_options.scheduler.heartbeat_interval = absl::Milliseconds(100);
    server_options.scheduler.lease_duration = absl::Seconds(5);
    server_options.scheduler.retry_backoff_initial = absl::Milliseconds(50);
    server_options.scheduler.tick_interval = absl::Milliseconds(10);
    auto server = rpc::SchedulerServer::Create(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    const std::string address = absl::StrCat("127.0.0.1:", server_->port());

    ClientOptions client_options;
    client_options.address = address;
    client_options.default_deadline = absl::Seconds(10);
    auto client = Client::Create(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);

    WorkerAgentOptions options;
    options.scheduler_address = address;
    options.work_dir = work_dir_.path();
    options.worker_id = "test-worker";
    options.exec_path = KILN_EXEC_PATH;
    options.acquire_wait = absl::Milliseconds(200);
    options.progress_interval = absl::Milliseconds(50);
    auto agent = WorkerAgent::Create(options);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    runner_ = std::thread([this] { run_status_ = agent_->Run(); });
    ASSERT_TRUE(PollUntil([this] { return !server_->scheduler().ListWorkers().empty(); }));
  }
  void TearDown() override {
    if (agent_) agent_->Shutdown();
    if (runner_.joinable()) runner_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    agent_.reset();
    client_.reset();
    if (server_) server_->Shutdown();
    server_.reset();
  }

  // Uploads `data` as a blob named `name`.
  BlobRef Upload(const std::string& name, const std::string& data) {
    const std::string path = files_.Sub(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    absl::StatusOr<BlobRef> ref = client_->UploadFile(path, name);
    EXPECT_TRUE(ref.ok()) << ref.status();
    return ref.ok() ? *ref : BlobRef();
  }
  std::string Submit(const JobSpec& spec) {
    absl::StatusOr<Job> job = client_->Submit(spec);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->id() : "";
  }
  // The job as the scheduler has it now (a default Job when unknown).
  Job GetJob(const std::string& job_id) {
    absl::StatusOr<Job> job = server_->scheduler().GetJob(job_id);
    return job.ok() ? *job : Job();
  }
  // Waits (bounded) until the job is terminal and returns it.
  Job WaitDone(const std::string& job_id) {
    absl::StatusOr<Job> job = client_->Wait(job_id, kWait);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job();
  }
  // Waits (bounded) until the task itself runs in the executor: its own progress
  // ("slept ...") reached the scheduler, which comes after the agent's "started".
  bool WaitTaskRunning(const std::string& job_id, int attempt = 1) {
    return PollUntil([&] {
      const Job job = GetJob(job_id);
      return job.state() == JOB_STATE_RUNNING && job.attempts_size() == attempt &&
             absl::StartsWith(job.progress_message(), "slept");
    });
  }
  // The job directory goes once the report is sent: wait for it, bounded.
  bool JobDirsEmpty() {
    return PollUntil([this] { return fs::is_empty(fs::path(work_dir_.path()) / "jobs"); });
  }

  kiln::testing::ScopedTempDir data_dir_;
  kiln::testing::ScopedTempDir work_dir_;
  kiln::testing::ScopedTempDir files_;
  std::unique_ptr<rpc::SchedulerServer> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<WorkerAgent> agent_;
  std::thread runner_;
  absl::Status run_status_;
};

TEST_F(WorkerAgentTest, RegistersCpuSlotWithExecutorTasks) {
  const std::vector<WorkerInfo> workers = server_->scheduler().ListWorkers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].id(), "test-worker");
  EXPECT_FALSE(workers[0].lost());
  const WorkerCapabilities& caps = workers[0].capabilities();
  ASSERT_EQ(caps.devices_size(), 1);
  EXPECT_EQ(caps.devices(0).id(), "cpu");
  EXPECT_TRUE(caps.devices(0).runnable());
  EXPECT_GT(caps.devices(0).total_memory_bytes(), 0);
  ASSERT_EQ(caps.slots_size(), 1);
  EXPECT_EQ(caps.slots(0).device_id(), "cpu");
  EXPECT_THAT(caps.slots(0).tasks(), Contains("debug.sleep"));
  EXPECT_THAT(caps.slots(0).tasks(), Contains("mesh.extract"));
  EXPECT_EQ(caps.version(), "0.1.0");
}

TEST_F(WorkerAgentTest, RunsJobWithStagedInputAndCompletes) {
  JobSpec spec = Spec("debug.sleep", "0.2");
  *spec.add_inputs() = Upload("input.bin", std::string(5000, 'k'));
  const std::string id = Submit(spec);
  std::vector<JobState> states;  // Each state once, in the order the job went through them.
  const auto record = [&](const Job& job) {
    if (states.empty() || states.back() != job.state()) states.push_back(job.state());
    return true;
  };
  ASSERT_TRUE(client_->Watch(id, record, kWait).ok());
  ASSERT_FALSE(states.empty());
  EXPECT_THAT(states, Contains(JOB_STATE_RUNNING));
  EXPECT_EQ(states.back(), JOB_STATE_SUCCEEDED);

  const Job job = GetJob(id);
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).worker_id(), "test-worker");
  EXPECT_EQ(job.attempts(0).device(), "cpu");
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_SUCCEEDED);
  EXPECT_TRUE(job.attempts(0).has_started_at());
  EXPECT_TRUE(JobDirsEmpty());
}

TEST_F(WorkerAgentTest, UploadsOutputsAndCompletesWithTheirAddresses) {
  const std::string id =
      Submit(Spec("mesh.extract", R"({"shape":{"type":"sphere","radius":1},"resolution":16})"));
  const Job job = WaitDone(id);
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.outputs_size(), 1);
  const BlobRef& out = job.outputs(0);
  EXPECT_EQ(out.name(), "mesh.ply");

  const std::string path = files_.Sub("mesh.ply");
  ASSERT_TRUE(client_->DownloadBlob(out.sha256(), path).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(static_cast<int64_t>(stored.size()), out.size_bytes());
  EXPECT_EQ(Sha256Hex(stored), out.sha256());
  EXPECT_EQ(stored.rfind("ply\n", 0), 0u);
  EXPECT_FALSE(job.result().fields().empty());
}

TEST_F(WorkerAgentTest, CorruptInputBlobIsWorkerError) {
  const BlobRef input = Upload("input.bin", "the real bytes");
  // Same size, other bytes: the scheduler serves them, the worker's sha256 check fails.
  const fs::path blob_file =
      fs::path(data_dir_.path()) / "blobs" / input.sha256().substr(0, 2) / input.sha256();
  ASSERT_TRUE(fs::exists(blob_file));
  fs::remove(blob_file);
  std::ofstream(blob_file, std::ios::binary) << "tampered bytes";

  JobSpec spec = Spec("debug.sleep", "0");
  *spec.add_inputs() = input;
  spec.set_max_attempts(1);
  const Job job = WaitDone(Submit(spec));
  ASSERT_EQ(job.state(), JOB_STATE_FAILED);
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_WORKER_ERROR);
  EXPECT_THAT(job.attempts(0).message(), HasSubstr("sha256"));
  EXPECT_TRUE(JobDirsEmpty());
}

TEST_F(WorkerAgentTest, ExecutorCrashIsRecordedAndTheRetrySucceeds) {
  // Long enough to be killed mid-sleep, short enough for the retry to finish quickly.
  const std::string id = Submit(Spec("debug.sleep", "1"));
  ASSERT_TRUE(WaitTaskRunning(id));
  const std::vector<pid_t> children = ExecChildren();
  ASSERT_EQ(children.size(), 1u);
  ASSERT_EQ(::kill(children[0], SIGKILL), 0);

  const Job job = WaitDone(id);
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 2);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_EXECUTOR_CRASH);
  EXPECT_EQ(job.attempts(0).message(), "executor killed by signal 9 (SIGKILL)");
  EXPECT_EQ(job.attempts(1).number(), 2);
  EXPECT_EQ(job.attempts(1).worker_id(), "test-worker");
  EXPECT_EQ(job.attempts(1).exit_reason(), EXIT_REASON_SUCCEEDED);
}

TEST_F(WorkerAgentTest, CancelKillsTheTaskAndTheSlotRunsTheNextJob) {
  const std::string cancelled = Submit(Spec("debug.sleep", "30"));
  ASSERT_TRUE(WaitTaskRunning(cancelled));
  const std::vector<pid_t> before = ExecChildren();
  ASSERT_EQ(before.size(), 1u);
  ASSERT_TRUE(client_->Cancel(cancelled, "test").ok());

  // The slot only takes the next job once it has killed the cancelled one's executor
  // (heartbeat abandon); the 30 s sleep would outlast the wait otherwise.
  const Job next = WaitDone(Submit(Spec("debug.sleep", "0")));
  EXPECT_EQ(next.state(), JOB_STATE_SUCCEEDED) << next.status_message();
  EXPECT_THAT(ExecChildren(), Not(Contains(before[0])));

  // The worker's report of the abandoned attempt, if any, changed nothing.
  const Job job = GetJob(cancelled);
  EXPECT_EQ(job.state(), JOB_STATE_CANCELLED);
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_CANCELLED);
  EXPECT_EQ(job.attempts(0).message(), "cancelled: test");
  EXPECT_TRUE(JobDirsEmpty());
}

TEST_F(WorkerAgentTest, TimeoutKillsTheTask) {
  JobSpec spec = Spec("debug.sleep", "30");
  *spec.mutable_timeout() = ToProtoDuration(absl::Milliseconds(300));
  spec.set_max_attempts(1);
  const absl::Time start = absl::Now();
  const Job job = WaitDone(Submit(spec));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_EQ(job.state(), JOB_STATE_FAILED);
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_TIMEOUT);
  EXPECT_THAT(job.attempts(0).message(), HasSubstr("timeout"));
}

TEST_F(WorkerAgentTest, ShutdownFailsTheRunningJobBackToTheQueue) {
  const std::string id = Submit(Spec("debug.sleep", "30"));
  ASSERT_TRUE(WaitTaskRunning(id));
  const absl::Time start = absl::Now();
  agent_->Shutdown();
  runner_.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // FailJob is answered once durable, so the scheduler has it by now.
  const Job job = GetJob(id);
  EXPECT_EQ(job.state(), JOB_STATE_QUEUED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_WORKER_ERROR);
  EXPECT_EQ(job.attempts(0).message(), "worker shutting down");
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
