// WorkerAgent against the real scheduler, in-process: a SchedulerServer on 127.0.0.1:0
// with its store in a temp dir, jobs submitted through the SDK (kiln::Client), real
// kiln-exec children (on simulated GPUs where a test says so: --fake-devices).
// Assertions read the job, its attempt history and the registered workers back from the
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
#include "worker/agent/exec_probe.h"

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
    options.gpus = std::vector<int>();  // No GPU slots, even on a GPU host.
    ConfigureAgent(options);
    auto agent = WorkerAgent::Create(options);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    runner_ = std::thread([this] { run_status_ = agent_->Run(); });
    ASSERT_TRUE(PollUntil([this] { return !server_->scheduler().ListWorkers().empty(); }));
  }
  // Fixtures adjust the agent's options here.
  virtual void ConfigureAgent(WorkerAgentOptions& options) {}
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
  // The device `id` as the scheduler has it registered now (a default Device if none).
  Device RegisteredDevice(const std::string& id) {
    for (const WorkerInfo& worker : server_->scheduler().ListWorkers()) {
      for (const Device& device : worker.capabilities().devices()) {
        if (device.id() == id) return device;
      }
    }
    return Device();
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

TEST_F(WorkerAgentTest, ABusySlotTakesItsNextJobsWithItsCompletions) {
  const std::string first = Submit(Spec("debug.sleep", "1"));
  ASSERT_TRUE(WaitTaskRunning(first));
  // Queued behind the running job: each comes back in the answer of the CompleteJob
  // before it (acquire_next), not from an AcquireJob.
  const std::string second = Submit(Spec("debug.sleep", "0"));
  const std::string third = Submit(Spec("debug.sleep", "0"));
  for (const std::string& id : {first, second, third}) {
    const Job job = WaitDone(id);
    EXPECT_EQ(job.state(), JOB_STATE_SUCCEEDED) << id << ": " << job.status_message();
    ASSERT_EQ(job.attempts_size(), 1) << id;
    EXPECT_EQ(job.attempts(0).worker_id(), "test-worker");
  }
  EXPECT_EQ(server_->scheduler().Stats().assigned_with_completion, 2u);
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
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_WORKER_STOPPING);
  EXPECT_EQ(job.attempts(0).message(), "worker shutting down");
  EXPECT_TRUE(job.attempts(0).not_counted());
}

TEST_F(WorkerAgentTest, DrainLetsTheRunningJobFinishAndTakesNoMore) {
  const std::string running = Submit(Spec("debug.sleep", "1"));
  ASSERT_TRUE(WaitTaskRunning(running));
  const absl::Time start = absl::Now();
  agent_->Drain(absl::Seconds(60));
  const std::string later = Submit(Spec("debug.sleep", "0"));
  runner_.join();
  // Run() returned once the slot went idle, long before the grace period ended.
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  const Job job = GetJob(running);
  EXPECT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  EXPECT_EQ(job.attempts_size(), 1);
  // The draining worker did not take the job submitted after Drain().
  const Job waiting = GetJob(later);
  EXPECT_EQ(waiting.state(), JOB_STATE_QUEUED) << waiting.status_message();
  EXPECT_EQ(waiting.attempts_size(), 0);
  EXPECT_TRUE(JobDirsEmpty());
}

TEST_F(WorkerAgentTest, DrainHandsBackAJobStillRunningAtTheDeadline) {
  const std::string id = Submit(Spec("debug.sleep", "3"));
  ASSERT_TRUE(WaitTaskRunning(id));
  const absl::Time start = absl::Now();
  agent_->Drain(absl::Milliseconds(300));
  runner_.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2.5));  // did not wait for the 3 s task
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  Job job = GetJob(id);
  EXPECT_EQ(job.state(), JOB_STATE_QUEUED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_WORKER_STOPPING);
  EXPECT_TRUE(job.attempts(0).not_counted());

  // Another worker takes the job and finishes it; the handed-back attempt cost nothing.
  kiln::testing::ScopedTempDir other_dir;
  WorkerAgentOptions options;
  options.scheduler_address = absl::StrCat("127.0.0.1:", server_->port());
  options.work_dir = other_dir.path();
  options.worker_id = "other-worker";
  options.exec_path = KILN_EXEC_PATH;
  options.acquire_wait = absl::Milliseconds(200);
  options.gpus = std::vector<int>();
  auto other = WorkerAgent::Create(options);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status other_status;
  std::thread other_runner([&] { other_status = (*other)->Run(); });
  job = WaitDone(id);
  (*other)->Shutdown();
  other_runner.join();
  EXPECT_TRUE(other_status.ok()) << other_status;
  EXPECT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 2);
  EXPECT_EQ(job.attempts(1).worker_id(), "other-worker");
  EXPECT_EQ(job.attempts(1).exit_reason(), EXIT_REASON_SUCCEEDED);
}

TEST_F(WorkerAgentTest, DrainOfAnIdleWorkerReturnsAtOnce) {
  const absl::Time start = absl::Now();
  agent_->Drain(absl::Seconds(60));
  runner_.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(run_status_.ok()) << run_status_;
}

TEST_F(WorkerAgentTest, RunsTheAssignmentsTierParameters) {
  // The job's own parameters would sleep past the wait; the tier's say 0 s.
  JobSpec spec = Spec("debug.sleep", "30");
  Tier* tier = spec.add_tiers();
  tier->set_name("cpu-fast");
  tier->mutable_requirements()->set_accelerator(ACCELERATOR_CPU);
  (*tier->mutable_parameters()->mutable_fields())["seconds"].set_number_value(0);
  const Job job = WaitDone(Submit(spec));
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).tier(), "cpu-fast");
}

// A task that fans out (image.segment with fan_out): the agent uploads the crops and
// objects.json its children name, submits them fenced by the parent's lease, and the
// children run on this worker too, the compose one after the image.to3d ones.
TEST_F(WorkerAgentTest, FanOutUploadsTheChildrensFilesAndSubmitsThemUnderTheParent) {
  const std::string image = files_.Sub("scene.png");
  fs::copy_file(KILN_TEST_DATA_DIR "/images/three_objects.png", image);
  absl::StatusOr<BlobRef> input = client_->UploadFile(image, "scene.png");
  ASSERT_TRUE(input.ok()) << input.status();
  JobSpec spec = Spec("image.segment", R"({"input": "scene.png",
      "fan_out": {"to3d": {"resolution": 32}, "compose": {"width": 2.4}}})");
  *spec.add_inputs() = *input;
  const std::string id = Submit(spec);
  const Job parent = WaitDone(id);
  ASSERT_EQ(parent.state(), JOB_STATE_SUCCEEDED) << parent.status_message();
  ASSERT_EQ(parent.child_job_ids_size(), 4);
  EXPECT_EQ(parent.result().fields().at("scene_job").string_value(), parent.child_job_ids(3));
  for (int i = 0; i < 3; ++i) {
    const Job child = GetJob(parent.child_job_ids(i));
    EXPECT_EQ(child.parent_job_id(), id);
    EXPECT_EQ(child.spec().task(), "image.to3d");
    EXPECT_EQ(child.spec().client_request_id(), absl::StrCat(id, "/segment-to3d-", i));
    ASSERT_EQ(child.spec().inputs_size(), 1);
    // The blob uploaded while the parent ran is the crop the parent then stored.
    const BlobRef& crop = child.spec().inputs(0);
    EXPECT_EQ(crop.name(), absl::StrCat("object-", i, ".png"));
    bool stored = false;
    for (const BlobRef& out : parent.outputs()) stored |= out.sha256() == crop.sha256();
    EXPECT_TRUE(stored) << crop.name();
  }
  // Four jobs one after another on the one slot: a longer wait than one job's.
  absl::StatusOr<Job> compose = client_->Wait(parent.child_job_ids(3), absl::Minutes(2));
  ASSERT_TRUE(compose.ok()) << compose.status();
  ASSERT_EQ(compose->state(), JOB_STATE_SUCCEEDED) << compose->status_message();
  EXPECT_EQ(compose->parent_job_id(), id);
  EXPECT_EQ(compose->result().fields().at("nodes").number_value(), 3);
  ASSERT_EQ(compose->outputs_size(), 1);
  EXPECT_EQ(compose->outputs(0).name(), "scene.glb");
}

// Simulated GPUs: a good sm_90 and an sm_86 our kernels do not cover, plus a CPU slot.
class GpuWorkerAgentTest : public WorkerAgentTest {
 protected:
  void ConfigureAgent(WorkerAgentOptions& options) override {
    options.gpus.reset();  // auto: every GPU the probe lists.
    options.fake_devices = "sm_90:80GiB,sm_86:24GiB:nokernel";
  }
};

TEST_F(GpuWorkerAgentTest, RegistersOneSlotPerGpuWithItsExecutorsVerdict) {
  const std::vector<WorkerInfo> workers = server_->scheduler().ListWorkers();
  ASSERT_EQ(workers.size(), 1u);
  const WorkerCapabilities& caps = workers[0].capabilities();
  ASSERT_EQ(caps.devices_size(), 3);
  EXPECT_EQ(caps.devices(0).id(), "cpu");

  const Device& good = caps.devices(1);
  EXPECT_EQ(good.id(), "cuda:0");
  EXPECT_EQ(good.compute_capability(), 90);
  EXPECT_EQ(good.total_memory_bytes(), int64_t{80} << 30);
  EXPECT_TRUE(good.runnable()) << good.unrunnable_reason();
  EXPECT_THAT(good.features(), Contains("bf16"));
  EXPECT_THAT(good.features(), Contains("fp8"));
  EXPECT_THAT(good.kernel_sass(), Contains("sm_90"));

  // Probed by the slot's own executor, which sees only its GPU (as its ordinal 0).
  const Device& bad = caps.devices(2);
  EXPECT_EQ(bad.id(), "cuda:1");
  EXPECT_EQ(bad.compute_capability(), 86);
  EXPECT_FALSE(bad.runnable());
  EXPECT_THAT(bad.unrunnable_reason(), ::testing::StartsWith("no kernel image for sm_86"));
  EXPECT_THAT(bad.features(), Not(Contains("fp8")));

  ASSERT_EQ(caps.slots_size(), 3);
  EXPECT_EQ(caps.slots(0).device_id(), "cuda:0");
  EXPECT_EQ(caps.slots(1).device_id(), "cuda:1");
  EXPECT_EQ(caps.slots(2).device_id(), "cpu");
  EXPECT_THAT(caps.slots(0).tasks(), Contains("debug.sleep"));
  EXPECT_EQ(ExecChildren().size(), 3u);
}

TEST_F(GpuWorkerAgentTest, GpuJobRunsOnTheRunnableGpu) {
  JobSpec spec = Spec("debug.sleep", "0");
  spec.mutable_requirements()->set_accelerator(ACCELERATOR_GPU);
  const Job job = WaitDone(Submit(spec));
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 1);
  EXPECT_EQ(job.attempts(0).device(), "cuda:0");
}

// One GPU that passes its self-test but cannot run any task, described in a file the
// test rewrites (a restarted executor reads it again), plus a CPU slot.
class CannotRunWorkerAgentTest : public WorkerAgentTest {
 protected:
  void ConfigureAgent(WorkerAgentOptions& options) override {
    std::ofstream(spec_file_) << "# test fleet\nsm_90:80GiB:cannot-run\n";
    options.gpus.reset();
    options.fake_devices = spec_file_;
    // Long polls: both slots are waiting whenever a job is submitted, so the scheduler
    // offers tier 0 (GPU) before the CPU tier.
    options.acquire_wait = absl::Seconds(5);
  }
  const std::string spec_file_ = files_.Sub("fake-devices.txt");
};

TEST_F(CannotRunWorkerAgentTest, JobMovesToTheCpuTierWithoutUsingAnAttempt) {
  ASSERT_TRUE(RegisteredDevice("cuda:0").runnable());
  // The next probe of this GPU will find no kernel image.
  std::ofstream(spec_file_, std::ios::trunc) << "sm_90:80GiB:nokernel\n";

  JobSpec spec = Spec("debug.sleep", "0");
  spec.set_max_attempts(1);  // A counted failure would end the job.
  Tier* gpu = spec.add_tiers();
  gpu->set_name("gpu");
  gpu->mutable_requirements()->set_accelerator(ACCELERATOR_GPU);
  Tier* cpu = spec.add_tiers();
  cpu->set_name("cpu");
  cpu->mutable_requirements()->set_accelerator(ACCELERATOR_CPU);
  // Both slots must be parked, or the CPU slot may ask first and take the job at once (it
  // did on a loaded machine).
  ASSERT_TRUE(PollUntil([this] { return server_->scheduler().Stats().parked_acquires == 2; }));
  const Job job = WaitDone(Submit(spec));
  ASSERT_EQ(job.state(), JOB_STATE_SUCCEEDED) << job.status_message();
  ASSERT_EQ(job.attempts_size(), 2);
  EXPECT_EQ(job.attempts(0).device(), "cuda:0");
  EXPECT_EQ(job.attempts(0).tier(), "gpu");
  EXPECT_EQ(job.attempts(0).exit_reason(), EXIT_REASON_DEVICE_CANNOT_RUN);
  EXPECT_EQ(job.attempts(0).message(),
            "CUDA error: no kernel image is available for execution on the device (simulated)");
  EXPECT_TRUE(job.attempts(0).not_counted());
  EXPECT_EQ(job.attempts(1).device(), "cpu");
  EXPECT_EQ(job.attempts(1).tier(), "cpu");
  EXPECT_EQ(job.attempts(1).exit_reason(), EXIT_REASON_SUCCEEDED);

  // The slot restarted its executor, whose probe now fails: registered again.
  ASSERT_TRUE(PollUntil([&] { return !RegisteredDevice("cuda:0").runnable(); }));
  EXPECT_THAT(RegisteredDevice("cuda:0").unrunnable_reason(),
              ::testing::StartsWith("no kernel image for sm_90"));
}

// A GPU whose verdict changes between periodic re-probes.
class ReprobeWorkerAgentTest : public WorkerAgentTest {
 protected:
  void ConfigureAgent(WorkerAgentOptions& options) override {
    std::ofstream(spec_file_) << "sm_90:80GiB\n";
    options.gpus = std::vector<int>{0};
    options.slots = 0;
    options.fake_devices = spec_file_;
    options.reprobe_interval = absl::Milliseconds(100);
  }
  const std::string spec_file_ = files_.Sub("fake-devices.txt");
};

TEST_F(ReprobeWorkerAgentTest, PeriodicProbeReRegistersChangedDevices) {
  const WorkerCapabilities caps = server_->scheduler().ListWorkers().at(0).capabilities();
  ASSERT_EQ(caps.slots_size(), 1);  // No CPU slot.
  EXPECT_EQ(caps.slots(0).device_id(), "cuda:0");
  ASSERT_TRUE(RegisteredDevice("cuda:0").runnable());

  std::ofstream(spec_file_, std::ios::trunc) << "sm_90:80GiB:nokernel\n";
  ASSERT_TRUE(PollUntil([&] { return !RegisteredDevice("cuda:0").runnable(); }));
  EXPECT_THAT(RegisteredDevice("cuda:0").unrunnable_reason(),
              ::testing::StartsWith("no kernel image for sm_90"));

  std::ofstream(spec_file_, std::ios::trunc) << "sm_90:80GiB\n";
  ASSERT_TRUE(PollUntil([&] { return RegisteredDevice("cuda:0").runnable(); }));
  EXPECT_EQ(RegisteredDevice("cuda:0").unrunnable_reason(), "");
}

TEST(WorkerAgentCreateTest, RefusesBadGpuSetups) {
  kiln::testing::ScopedTempDir work_dir;
  WorkerAgentOptions options;
  options.scheduler_address = "127.0.0.1:1";  // Never dialled by Create().
  options.work_dir = work_dir.path();
  options.worker_id = "w";
  options.exec_path = KILN_EXEC_PATH;
  options.fake_devices = "sm_90:80GiB,sm_86:24GiB";

  options.gpus = std::vector<int>{2};
  absl::StatusOr<std::unique_ptr<WorkerAgent>> agent = WorkerAgent::Create(options);
  EXPECT_TRUE(absl::IsInvalidArgument(agent.status())) << agent.status();
  EXPECT_THAT(agent.status().message(), HasSubstr("lists 2 GPU(s)"));

  options.gpus = std::vector<int>();
  options.slots = 0;
  agent = WorkerAgent::Create(options);
  EXPECT_TRUE(absl::IsInvalidArgument(agent.status())) << agent.status();

  options.gpus.reset();
  options.fake_devices = "sm_90:eighty";
  agent = WorkerAgent::Create(options);
  EXPECT_TRUE(absl::IsInvalidArgument(agent.status())) << agent.status();
  EXPECT_THAT(agent.status().message(), HasSubstr("eighty"));

  // Only GPU slots is fine; the second GPU alone, under its host index.
  options.fake_devices = "sm_90:80GiB,sm_86:24GiB";
  options.gpus = std::vector<int>{1};
  agent = WorkerAgent::Create(options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  const WorkerCapabilities caps = (*agent)->capabilities();
  ASSERT_EQ(caps.slots_size(), 1);
  EXPECT_EQ(caps.slots(0).device_id(), "cuda:1");
  ASSERT_EQ(caps.devices_size(), 2);
  EXPECT_EQ(caps.devices(1).id(), "cuda:1");
  EXPECT_EQ(caps.devices(1).compute_capability(), 86);
}

TEST(WorkerAgentHelpersTest, ParseGpuSelection) {
  auto parsed = ParseGpuSelection("auto");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->has_value());
  parsed = ParseGpuSelection("none");
  ASSERT_TRUE(parsed.ok() && parsed->has_value());
  EXPECT_TRUE((*parsed)->empty());
  parsed = ParseGpuSelection("0,2");
  ASSERT_TRUE(parsed.ok() && parsed->has_value());
  EXPECT_EQ(**parsed, (std::vector<int>{0, 2}));
  for (const char* bad : {"", "0,", ",1", "1,1", "-1", "gpu0", "0;1", "99999"}) {
    EXPECT_FALSE(ParseGpuSelection(bad).ok()) << bad;
  }
}

TEST(WorkerAgentHelpersTest, AdvertisedDeviceChangesAreVerdictsAndWholeGiB) {
  Device a;
  a.set_id("cuda:0");
  a.set_runnable(true);
  a.set_total_memory_bytes(int64_t{80} << 30);
  a.set_free_memory_bytes((int64_t{79} << 30) + 1);
  Device b = a;
  b.set_free_memory_bytes((int64_t{79} << 30) + (int64_t{500} << 20));  // Same GiB.
  EXPECT_FALSE(AdvertisedDeviceChanged(a, b, /*compare_memory=*/true));
  b.set_free_memory_bytes(int64_t{40} << 30);
  EXPECT_TRUE(AdvertisedDeviceChanged(a, b, /*compare_memory=*/true));
  EXPECT_FALSE(AdvertisedDeviceChanged(a, b, /*compare_memory=*/false));
  b = a;
  b.set_runnable(false);
  b.set_unrunnable_reason("no kernel image for sm_90: built for sm_120");
  EXPECT_TRUE(AdvertisedDeviceChanged(a, b, /*compare_memory=*/false));

  // A device the process no longer sees keeps what was known, marked not runnable.
  const Device missing = AdvertisedGpuDevice(3, nullptr, &a, "gone");
  EXPECT_EQ(missing.id(), "cuda:3");
  EXPECT_EQ(missing.total_memory_bytes(), a.total_memory_bytes());
  EXPECT_FALSE(missing.runnable());
  EXPECT_EQ(missing.unrunnable_reason(), "gone");
}

TEST(WorkerAgentHelpersTest, ProbeOfAMissingBinaryIsUnavailable) {
  ExecProbeOptions options;
  options.exec_path = "/nonexistent/kiln-exec";
  const absl::StatusOr<ExecReady> ready = RunExecProbe(options);
  EXPECT_TRUE(absl::IsUnavailable(ready.status())) << ready.status();
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
