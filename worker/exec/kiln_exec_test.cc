// Tests of the executor: Executor::RunTask in-process with test tasks, and the real
// kiln-exec binary driven over its pipes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/exec/executor.h"
#include "worker/exec/frame_io.h"
#include "worker/exec/testing/exec_child.h"
#include "worker/tasks/testing/npy_test_file.h"

extern char** environ;

namespace kiln::exec {
namespace {

using kiln::v1::ExecEvent;
using kiln::v1::ExecProgress;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A task that fails with `status`, after one progress report or before any.
class FailingTask : public tasks::Task {
 public:
  FailingTask(std::string kind, absl::Status status, bool progress_first)
      : kind_(std::move(kind)), status_(std::move(status)), progress_first_(progress_first) {}
  std::string_view kind() const override { return kind_; }
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override {
    if (progress_first_) context.report_progress(0.5, "half way");
    return status_;
  }

 private:
  std::string kind_;
  absl::Status status_;
  bool progress_first_;
};

// A task whose behaviour the test scripts: progress steps on a fake clock, then an
// error, an exception or success.
class ScriptedTask : public tasks::Task {
 public:
  enum class End { kOk, kInvalidArgument, kInternal, kThrow };
  ScriptedTask(std::string kind, FakeClock* clock, End end)
      : kind_(kind), clock_(clock), end_(end) {}
  std::string_view kind() const override { return kind_; }
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override {
    for (int i = 1; i <= 10; ++i) {
      context.report_progress(i / 10.0, "step " + std::to_string(i));
      clock_->Advance(absl::Milliseconds(50));
    }
    switch (end_) {
      case End::kInvalidArgument:
        return absl::InvalidArgumentError("bad parameter");
      case End::kInternal:
        return absl::InternalError("flaky");
      case End::kThrow:
        throw std::runtime_error("boom");
      case End::kOk:
        break;
    }
    tasks::TaskOutput output;
    kiln::v1::LocalFile file;
    file.set_name("out.txt");
    file.set_path(context.request->output_dir() + "/out.txt");
    output.outputs.push_back(file);
    (*output.summary.mutable_fields())["count"].set_number_value(3);
    return output;
  }

 private:
  std::string kind_;
  FakeClock* clock_;
  End end_;
};

// A task that fans out: asks for one child ("t.child") and puts the ids it got in its
// summary, or fails with the error.
class FanOutTask : public tasks::Task {
 public:
  std::string_view kind() const override { return "t.fanout"; }
  absl::StatusOr<tasks::TaskOutput> Run(const tasks::TaskContext& context) const override {
    context.report_progress(0.5, "segmented");
    kiln::v1::ExecChildSpec child;
    child.mutable_spec()->set_task("t.child");
    kiln::v1::LocalFile* file = child.add_files();
    file->set_name("crop.png");
    file->set_path(context.request->output_dir() + "/crop.png");
    absl::StatusOr<std::vector<std::string>> ids = context.SubmitChildren("call-1", {child});
    if (!ids.ok()) return ids.status();
    tasks::TaskOutput output;
    for (const std::string& id : *ids) {
      (*output.summary.mutable_fields())["children"]
          .mutable_list_value()
          ->add_values()
          ->set_string_value(id);
    }
    return output;
  }
};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    registry_.Add(std::make_unique<ScriptedTask>("t.ok", &clock_, ScriptedTask::End::kOk));
    registry_.Add(
        std::make_unique<ScriptedTask>("t.invalid", &clock_, ScriptedTask::End::kInvalidArgument));
    registry_.Add(
        std::make_unique<ScriptedTask>("t.internal", &clock_, ScriptedTask::End::kInternal));
    registry_.Add(std::make_unique<ScriptedTask>("t.throw", &clock_, ScriptedTask::End::kThrow));
    registry_.Add(std::make_unique<FailingTask>(
        "t.nokernel",
        absl::InternalError("CUDA error: no kernel image is available for execution on the device"),
        /*progress_first=*/true));
    registry_.Add(std::make_unique<FailingTask>(
        "t.illegal", absl::InvalidArgumentError("illegal instruction in sm_75 kernel"),
        /*progress_first=*/true));
    registry_.Add(std::make_unique<FailingTask>(
        "t.oom.load",
        absl::ResourceExhaustedError("CUDA out of memory while loading model weights (2 GiB)"),
        /*progress_first=*/false));
    registry_.Add(std::make_unique<FailingTask>(
        "t.oom.later", absl::ResourceExhaustedError("CUDA out of memory: tried to allocate 2 GiB"),
        /*progress_first=*/true));
    registry_.Add(std::make_unique<FanOutTask>());
  }

  ExecResult Run(const std::string& task, std::vector<ExecProgress>* progress,
                 std::vector<device::DeviceProbe> devices = {}) {
    ExecutorOptions options;
    options.registry = &registry_;
    options.devices = std::move(devices);
    options.clock = &clock_;
    options.progress_interval = absl::Milliseconds(200);
    Executor executor(options);
    RunTaskRequest request;
    request.set_task(task);
    request.set_output_dir("/tmp/out");
    return executor.RunTask(request, [&](const ExecProgress& p) { progress->push_back(p); });
  }

  FakeClock clock_;
  tasks::TaskRegistry registry_;
};

TEST_F(ExecutorTest, SuccessCarriesOutputsAndSummary) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.ok", &progress);
  ASSERT_TRUE(result.ok()) << result.error();
  ASSERT_EQ(result.outputs_size(), 1);
  EXPECT_EQ(result.outputs(0).path(), "/tmp/out/out.txt");
  EXPECT_EQ(result.summary().fields().at("count").number_value(), 3);
}

TEST_F(ExecutorTest, ProgressIsRateLimitedAndTheLastIsAlwaysForwarded) {
  std::vector<ExecProgress> progress;
  Run("t.ok", &progress);
  // Ten reports 50 ms apart with a 200 ms interval: steps 1, 5 and 9 pass the limit,
  // step 10 is flushed at the end.
  std::vector<std::string> messages;
  for (const ExecProgress& p : progress) messages.push_back(p.message());
  EXPECT_EQ(messages, (std::vector<std::string>{"step 1", "step 5", "step 9", "step 10"}));
  EXPECT_DOUBLE_EQ(progress.back().fraction(), 1.0);
}

TEST_F(ExecutorTest, PermanentCodesArePermanent) {
  std::vector<ExecProgress> progress;
  ExecResult result = Run("t.invalid", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.permanent());
  EXPECT_THAT(result.error(), ::testing::HasSubstr("bad parameter"));

  result = Run("t.internal", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.permanent());
}

TEST_F(ExecutorTest, ExceptionBecomesRetryableError) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.throw", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.permanent());
  EXPECT_THAT(result.error(), ::testing::HasSubstr("boom"));
  EXPECT_EQ(progress.back().message(), "step 10");  // Pending progress still flushed.
}

TEST_F(ExecutorTest, UnknownTaskIsPermanent) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("no.such.task", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.permanent());
  EXPECT_TRUE(progress.empty());
}

TEST_F(ExecutorTest, ATaskWithoutAWorkerCannotSubmitChildren) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.fanout", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.permanent());
  EXPECT_THAT(result.error(), HasSubstr("cannot submit child jobs"));
}

// Reads one frame from `fd` within `timeout` (so a protocol bug fails, not hangs).
absl::Status ReadWithin(int fd, google::protobuf::MessageLite* message, absl::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return absl::DeadlineExceededError("no frame");
  }
  return ReadFrame(fd, message);
}

// Executor::Serve on pipes, the test playing the worker.
class ServeTest : public ExecutorTest {
 protected:
  void SetUp() override {
    int requests[2], events[2];
    ASSERT_EQ(::pipe2(requests, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(events, O_CLOEXEC), 0);
    to_executor_ = requests[1];
    from_executor_ = events[0];
    server_ = std::thread([this, in = requests[0], out = events[1]] {
      ExecutorOptions options;
      options.registry = &registry_;
      options.clock = &clock_;
      Executor executor(options);
      serve_status_ = executor.Serve(in, out);
      ::close(in);
      ::close(out);
    });
    ExecEvent ready;
    ASSERT_TRUE(ReadWithin(from_executor_, &ready, absl::Seconds(30)).ok());
    ASSERT_EQ(ready.event_case(), ExecEvent::kReady);
  }
  void TearDown() override {
    ::close(to_executor_);  // End of stream: Serve returns.
    if (server_.joinable()) server_.join();
    ::close(from_executor_);
  }
  void Send(const ExecRequest& request) { ASSERT_TRUE(WriteFrame(to_executor_, request).ok()); }
  // The next event other than progress.
  ExecEvent Next() {
    ExecEvent event;
    do {
      const absl::Status status = ReadWithin(from_executor_, &event, absl::Seconds(30));
      EXPECT_TRUE(status.ok()) << status;
      if (!status.ok()) return ExecEvent();
    } while (event.event_case() == ExecEvent::kProgress);
    return event;
  }
  void RunFanOut() {
    ExecRequest run;
    run.mutable_run()->set_task("t.fanout");
    run.mutable_run()->set_output_dir("/tmp/out");
    Send(run);
  }

  int to_executor_ = -1;
  int from_executor_ = -1;
  std::thread server_;
  absl::Status serve_status_;
};

TEST_F(ServeTest, SubmitChildrenGoesToTheWorkerAndItsIdsBackToTheTask) {
  RunFanOut();
  const ExecEvent submit = Next();
  ASSERT_EQ(submit.event_case(), ExecEvent::kSubmitChildren);
  EXPECT_EQ(submit.submit_children().call_id(), "call-1");
  ASSERT_EQ(submit.submit_children().children_size(), 1);
  EXPECT_EQ(submit.submit_children().children(0).spec().task(), "t.child");
  EXPECT_EQ(submit.submit_children().children(0).files(0).path(), "/tmp/out/crop.png");

  ExecRequest answer;
  answer.mutable_children()->set_call_id("call-1");
  answer.mutable_children()->set_ok(true);
  answer.mutable_children()->add_job_ids("j-00000000000000c1");
  Send(answer);
  const ExecEvent result = Next();
  ASSERT_EQ(result.event_case(), ExecEvent::kResult);
  ASSERT_TRUE(result.result().ok()) << result.result().error();
  EXPECT_EQ(result.result().summary().fields().at("children").list_value().values(0).string_value(),
            "j-00000000000000c1");

  // The executor serves the next task as usual.
  RunFanOut();
  ASSERT_EQ(Next().event_case(), ExecEvent::kSubmitChildren);
  answer.mutable_children()->set_ok(false);
  answer.mutable_children()->clear_job_ids();
  answer.mutable_children()->set_error("specs[0].task: unknown task \"t.child\"");
  answer.mutable_children()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
  Send(answer);
  const ExecEvent refused = Next();
  ASSERT_EQ(refused.event_case(), ExecEvent::kResult);
  EXPECT_FALSE(refused.result().ok());
  EXPECT_TRUE(refused.result().permanent());  // INVALID_ARGUMENT reached the task as such.
  EXPECT_THAT(refused.result().error(), HasSubstr("specs[0].task: unknown task"));
}

TEST_F(ServeTest, AnAnswerForAnotherCallEndsTheStream) {
  RunFanOut();
  ASSERT_EQ(Next().event_case(), ExecEvent::kSubmitChildren);
  ExecRequest answer;
  answer.mutable_children()->set_call_id("some-other-call");
  answer.mutable_children()->set_ok(true);
  Send(answer);
  // The stream is out of step: Serve gives up on it without a result (the worker sees
  // the executor end, as after a crash).
  server_.join();
  ExecEvent event;
  EXPECT_TRUE(IsEndOfStream(ReadWithin(from_executor_, &event, absl::Seconds(30))));
  EXPECT_TRUE(absl::IsDataLoss(serve_status_)) << serve_status_;
}

device::DeviceProbe Probe(int cc, bool runnable, bool fake_cannot_run = false) {
  device::DeviceProbe probe;
  probe.name = "Simulated " + device::SmName(cc);
  probe.compute_capability = cc;
  probe.total_memory_bytes = int64_t{80} << 30;
  probe.free_memory_bytes = probe.total_memory_bytes;
  probe.runnable = runnable;
  if (!runnable) probe.unrunnable_reason = "no kernel image for sm_90: built for sm_120";
  probe.fake_cannot_run = fake_cannot_run;
  probe.kernel_sass = {"sm_90"};
  probe.kernel_ptx = {"compute_120"};
  probe.driver_version = 13000;
  probe.runtime_version = 13000;
  return probe;
}

TEST_F(ExecutorTest, NoKernelImageIsDeviceCannotRunAndNotPermanent) {
  std::vector<ExecProgress> progress;
  ExecResult result = Run("t.nokernel", &progress);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.device_cannot_run());
  EXPECT_FALSE(result.permanent());
  EXPECT_THAT(result.error(), HasSubstr("no kernel image"));

  // An error code that would be permanent does not make it so: another device may run it.
  result = Run("t.illegal", &progress);
  EXPECT_TRUE(result.device_cannot_run());
  EXPECT_FALSE(result.permanent());
}

TEST_F(ExecutorTest, OutOfMemoryCountsOnlyWhileLoading) {
  std::vector<ExecProgress> progress;
  ExecResult result = Run("t.oom.load", &progress);
  EXPECT_TRUE(result.device_cannot_run()) << result.error();
  result = Run("t.oom.later", &progress);
  EXPECT_FALSE(result.device_cannot_run()) << result.error();
  // Ordinary errors stay ordinary.
  result = Run("t.internal", &progress);
  EXPECT_FALSE(result.device_cannot_run());
}

TEST(DeviceCannotRunTest, Classification) {
  EXPECT_TRUE(IsDeviceCannotRunError("CUDA error: no kernel image is available"));
  EXPECT_TRUE(IsDeviceCannotRunError("CUDA error: invalid device function"));
  EXPECT_TRUE(IsDeviceCannotRunError("Illegal Instruction"));
  EXPECT_TRUE(IsDeviceCannotRunError("out of memory while loading model sdxl"));
  // The job's own size: it uses an attempt like any other error.
  EXPECT_FALSE(IsDeviceCannotRunError("CUDA out of memory: tried to allocate 2 GiB"));
  EXPECT_FALSE(IsDeviceCannotRunError("bad parameter"));
}

TEST_F(ExecutorTest, FakeCannotRunDeviceFailsWithoutRunningTheTask) {
  std::vector<ExecProgress> progress;
  const ExecResult result =
      Run("t.ok", &progress, {Probe(90, /*runnable=*/true, /*fake_cannot_run=*/true)});
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.device_cannot_run());
  EXPECT_EQ(result.error(),
            "CUDA error: no kernel image is available for execution on the device (simulated)");
  EXPECT_TRUE(progress.empty());  // The task never ran.
}

TEST_F(ExecutorTest, NotRunnableDeviceFailsWithItsReason) {
  std::vector<ExecProgress> progress;
  const ExecResult result = Run("t.ok", &progress, {Probe(90, /*runnable=*/false)});
  EXPECT_TRUE(result.device_cannot_run());
  EXPECT_THAT(result.error(), HasSubstr("no kernel image for sm_90: built for sm_120"));
  EXPECT_TRUE(progress.empty());
}

TEST_F(ExecutorTest, RunnableDeviceRunsTheTaskAndReadyListsIt) {
  std::vector<ExecProgress> progress;
  EXPECT_TRUE(Run("t.ok", &progress, {Probe(90, /*runnable=*/true)}).ok());

  ExecutorOptions options;
  options.registry = &registry_;
  options.devices = {Probe(90, true), Probe(86, false)};
  const kiln::v1::ExecReady ready = Executor(options).Ready();
  ASSERT_EQ(ready.devices_size(), 2);
  const kiln::v1::Device& d = ready.devices(0);
  EXPECT_EQ(d.id(), "");  // The worker names it.
  EXPECT_EQ(d.name(), "Simulated sm_90");
  EXPECT_EQ(d.compute_capability(), 90);
  EXPECT_EQ(d.total_memory_bytes(), int64_t{80} << 30);
  EXPECT_TRUE(d.runnable());
  EXPECT_EQ(d.unrunnable_reason(), "");
  EXPECT_THAT(d.features(), Contains("bf16"));
  EXPECT_THAT(d.features(), Contains("fp8"));
  EXPECT_THAT(d.kernel_sass(), ElementsAre("sm_90"));
  EXPECT_THAT(d.kernel_ptx(), ElementsAre("compute_120"));
  EXPECT_EQ(d.driver_version(), 13000);
  EXPECT_EQ(d.runtime_version(), 13000);
  EXPECT_FALSE(ready.devices(1).runnable());
  EXPECT_THAT(ready.devices(1).features(), Not(Contains("fp8")));
}

RunTaskRequest SleepRequest(double seconds) {
  RunTaskRequest run;
  run.set_job_id("j-test");
  run.set_attempt(1);
  run.set_task("debug.sleep");
  (*run.mutable_parameters()->mutable_fields())["seconds"].set_number_value(seconds);
  run.set_output_dir(::testing::TempDir());
  return run;
}

TEST(KilnExecTest, FirstEventIsReadyWithBuiltinTasksAndPid) {
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent event;
  ASSERT_TRUE(child.Read(&event).ok());
  ASSERT_TRUE(event.has_ready());
  EXPECT_EQ(event.ready().pid(), child.pid());
  EXPECT_THAT(event.ready().tasks(), Contains("mesh.extract"));
  EXPECT_THAT(event.ready().tasks(), Contains("debug.sleep"));
}

TEST(KilnExecTest, DebugSleepSucceedsWithProgressAndTheProcessServesTheNextTask) {
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(child.Send(SleepRequest(0.3)).ok());
    std::vector<ExecProgress> progress;
    absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->ok()) << result->error();
    EXPECT_FALSE(progress.empty());
  }
}

TEST(KilnExecTest, UnknownTaskIsPermanentError) {
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  RunTaskRequest run = SleepRequest(0);
  run.set_task("no.such.task");
  ASSERT_TRUE(child.Send(run).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent());
  EXPECT_THAT(result->error(), ::testing::HasSubstr("no.such.task"));
}

TEST(KilnExecTest, BadParametersArePermanentError) {
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  RunTaskRequest run = SleepRequest(0);
  run.mutable_parameters()->mutable_fields()->erase("seconds");
  ASSERT_TRUE(child.Send(run).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->permanent()) << result->error();
}

// An uploaded volume whose size does not match its dims, then a good one (a sphere's
// distance on 9^3 samples), in one kiln-exec: the first fails permanently by name, the
// process lives on and extracts the second.
TEST(KilnExecTest, BadVolumeFailsItsTaskAndTheNextVolumeSucceeds) {
  const std::string dir = ::testing::TempDir() + "/kiln_exec_volume";
  std::filesystem::create_directories(dir + "/out");
  std::vector<float> field;
  for (int k = 0; k < 9; ++k) {
    for (int j = 0; j < 9; ++j) {
      for (int i = 0; i < 9; ++i) {
        field.push_back(
            std::sqrt(float((i - 4) * (i - 4) + (j - 4) * (j - 4) + (k - 4) * (k - 4))) - 2.5f);
      }
    }
  }
  tasks::testing::WriteRawFloat32(dir + "/sphere.raw", field);
  auto volume_request = [&](const std::string& dims) {
    RunTaskRequest run;
    run.set_job_id("j-volume");
    run.set_attempt(1);
    run.set_task("mesh.extract");
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    R"({"volume":{"input":"sphere.raw","format":"raw","dims":)" + dims + "}}",
                    run.mutable_parameters())
                    .ok());
    kiln::v1::LocalFile* input = run.add_inputs();
    input->set_name("sphere.raw");
    input->set_path(dir + "/sphere.raw");
    run.set_output_dir(dir + "/out");
    return run;
  };

  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  ASSERT_TRUE(child.Send(volume_request("[9,9,10]")).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> bad = child.ReadResult(&progress);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(bad->ok());
  EXPECT_TRUE(bad->permanent());
  EXPECT_THAT(bad->error(),
              HasSubstr("volume: sphere.raw has 2916 bytes, dims [9, 9, 10] need 3240"));
  EXPECT_TRUE(child.Alive());

  ASSERT_TRUE(child.Send(volume_request("[9,9,9]")).ok());
  absl::StatusOr<ExecResult> good = child.ReadResult(&progress);
  ASSERT_TRUE(good.ok()) << good.status();
  ASSERT_TRUE(good->ok()) << good->error();
  ASSERT_EQ(good->outputs_size(), 1);
  EXPECT_TRUE(std::filesystem::exists(good->outputs(0).path()));
  EXPECT_GT(good->summary().fields().at("faces").number_value(), 50);
  EXPECT_TRUE(good->summary().fields().at("watertight").bool_value());
}

TEST(KilnExecTest, ExitsZeroWhenStdinCloses) {
  ExecChild child(KILN_EXEC_PATH);
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  child.CloseStdin();
  absl::StatusOr<int> status = child.Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(KilnExecTest, ReadyListsFakeDevicesSelfTested) {
  ExecChild child(KILN_EXEC_PATH, {"--fake-devices=sm_90:80GiB,sm_86:24GiB:nokernel"},
                  {"CUDA_VISIBLE_DEVICES"});
  ExecEvent event;
  ASSERT_TRUE(child.Read(&event).ok());
  ASSERT_TRUE(event.has_ready());
  const kiln::v1::ExecReady& ready = event.ready();
  ASSERT_EQ(ready.devices_size(), 2);
  EXPECT_EQ(ready.devices(0).compute_capability(), 90);
  EXPECT_EQ(ready.devices(0).total_memory_bytes(), int64_t{80} << 30);
  EXPECT_TRUE(ready.devices(0).runnable()) << ready.devices(0).unrunnable_reason();
  EXPECT_THAT(ready.devices(0).features(), Contains("fp8"));
  EXPECT_THAT(ready.devices(0).kernel_sass(), Not(::testing::IsEmpty()));
  EXPECT_GT(ready.devices(0).driver_version(), 0);
  EXPECT_EQ(ready.devices(1).compute_capability(), 86);
  EXPECT_FALSE(ready.devices(1).runnable());
  EXPECT_THAT(ready.devices(1).unrunnable_reason(), StartsWith("no kernel image for sm_86"));
}

TEST(KilnExecTest, FakeDevicesHonourCudaVisibleDevices) {
  {
    ExecChild child(KILN_EXEC_PATH, {"--fake-devices=sm_90:80GiB,sm_86:24GiB:nokernel"},
                    {"CUDA_VISIBLE_DEVICES=1"});
    ExecEvent event;
    ASSERT_TRUE(child.Read(&event).ok());
    ASSERT_EQ(event.ready().devices_size(), 1);
    EXPECT_EQ(event.ready().devices(0).compute_capability(), 86);
  }
  {
    // The CPU slots' setting: no device at all.
    ExecChild child(KILN_EXEC_PATH, {"--fake-devices=sm_90:80GiB"}, {"CUDA_VISIBLE_DEVICES="});
    ExecEvent event;
    ASSERT_TRUE(child.Read(&event).ok());
    ASSERT_TRUE(event.has_ready());
    EXPECT_EQ(event.ready().devices_size(), 0);
    EXPECT_THAT(event.ready().tasks(), Contains("debug.sleep"));
  }
}

TEST(KilnExecTest, ProbeWritesOneReadyFrameAndExitsZero) {
  ExecChild child(KILN_EXEC_PATH, {"--probe", "--fake-devices=sm_120:32GiB,sm_75:16GiB"},
                  {"CUDA_VISIBLE_DEVICES"});
  ExecEvent event;
  ASSERT_TRUE(child.Read(&event).ok());
  ASSERT_TRUE(event.has_ready());
  ASSERT_EQ(event.ready().devices_size(), 2);
  EXPECT_EQ(event.ready().devices(0).compute_capability(), 120);
  EXPECT_EQ(event.ready().devices(1).compute_capability(), 75);
  // Then end of stream, without stdin being closed: the probe does not serve.
  EXPECT_TRUE(IsEndOfStream(ReadFrame(child.from(), &event)));
  absl::StatusOr<int> status = child.Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(KilnExecTest, BadFakeDeviceSpecExitsTwo) {
  for (const char* arg : {"--fake-devices=sm_90:lots", "--no-such-flag"}) {
    ExecChild child(KILN_EXEC_PATH, {"--probe", arg});
    ExecEvent event;
    EXPECT_FALSE(child.Read(&event).ok()) << arg;
    absl::StatusOr<int> status = child.Wait();
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_TRUE(WIFEXITED(*status)) << arg;
    EXPECT_EQ(WEXITSTATUS(*status), 2) << arg;
  }
}

TEST(KilnExecTest, TaskOnCannotRunFakeDeviceIsDeviceCannotRun) {
  ExecChild child(KILN_EXEC_PATH, {"--fake-devices=sm_90:80GiB:cannot-run"},
                  {"CUDA_VISIBLE_DEVICES=0"});
  ExecEvent ready;
  ASSERT_TRUE(child.Read(&ready).ok());
  ASSERT_EQ(ready.ready().devices_size(), 1);
  EXPECT_TRUE(ready.ready().devices(0).runnable());  // The self-test passes.
  ASSERT_TRUE(child.Send(SleepRequest(0)).ok());
  std::vector<ExecProgress> progress;
  absl::StatusOr<ExecResult> result = child.ReadResult(&progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->device_cannot_run());
  EXPECT_FALSE(result->permanent());
  EXPECT_EQ(result->error(),
            "CUDA error: no kernel image is available for execution on the device (simulated)");
}

}  // namespace
}  // namespace kiln::exec
