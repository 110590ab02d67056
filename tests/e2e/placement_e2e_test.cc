// Capability-aware placement end to end: a simulated fleet (kiln-exec
// --fake-devices replaces only the CUDA calls) of real kiln-worker processes
// against a real kiln-scheduler on loopback.
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

constexpr int kBlackwell = 0, kSm100 = 1, kHopper = 2, kAmpere = 3, kTuring = 4, kCpu = 5;

kiln::v1::JobSpec Job(const std::string& json) {
  kiln::v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &spec).ok()) << json;
  if (spec.task().empty()) spec.set_task("debug.sleep");
  if (spec.parameters().fields().empty()) {
    (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(0.2);
  }
  return spec;
}

class PlacementEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(farm_.StartScheduler({"--heartbeat-interval=500ms"}).ok());
    const std::map<int, std::string> fleet = {{kBlackwell, "sm_120:32GiB"},
                                              {kSm100, "sm_100:80GiB"},
                                              {kHopper, "sm_90:80GiB"},
                                              {kAmpere, "sm_86:24GiB"},
                                              {kTuring, "sm_75:16GiB"}};
    for (const auto& [index, devices] : fleet) {
      ASSERT_TRUE(farm_.StartWorker(index, 0, {"--fake-devices=" + devices}).ok());
    }
    ASSERT_TRUE(farm_.StartWorker(kCpu, 1).ok());
    client_ = farm_.NewClient();
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto workers = client_->ListWorkers();
          return workers.ok() && workers->size() == 6;
        },
        absl::Seconds(30)));
  }

  // Submits, waits for the end, and returns the worker of the last attempt.
  std::string RunsOn(const kiln::v1::JobSpec& spec) {
    auto job = client_->Submit(spec);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return "";
    auto done = client_->Wait(job->id(), absl::Seconds(60));
    EXPECT_TRUE(done.ok() && done->state() == kiln::v1::JOB_STATE_SUCCEEDED)
        << (done.ok() ? done->DebugString() : done.status().ToString());
    return done.ok() && !done->attempts().empty() ? done->attempts().rbegin()->worker_id() : "";
  }

  LocalFarm farm_;
  std::unique_ptr<Client> client_;
};

TEST_F(PlacementEndToEnd, EveryJobLandsOnTheRightDevice) {
  // sm_120 work only on the Blackwell worker.
  EXPECT_EQ(RunsOn(Job(R"({"requirements":{"architectures":["sm_120"]}})")), "worker-0");
  // Generic GPU work on the least capable GPU that fits.
  EXPECT_EQ(RunsOn(Job(R"({"requirements":{"accelerator":"ACCELERATOR_GPU"}})")), "worker-4");
  EXPECT_EQ(RunsOn(Job(R"({"requirements":{"minComputeCapability":80}})")), "worker-3");
  EXPECT_EQ(RunsOn(Job(R"({"requirements":{"features":["fp8"]}})")), "worker-2");
  // A CPU tier runs on the CPU when no GPU tier fits. (It also gives worker-2
  // time to ask for work again: placement only chooses among waiting slots.)
  EXPECT_EQ(RunsOn(Job(R"({"tiers":[{"name":"ada","requirements":{"architectures":["sm_89"]}},
                                    {"name":"cpu","requirements":{"accelerator":"ACCELERATOR_CPU"}}]})")),
            "worker-5");
  EXPECT_EQ(RunsOn(Job(R"({"requirements":{"accelerator":"ACCELERATOR_GPU",
                                            "minDeviceMemoryBytes":"68719476736"}})")),
            "worker-2");
  // Real work on a fake GPU: mesh.extract runs its CPU code path there.
  EXPECT_EQ(RunsOn(Job(R"({"task":"mesh.extract","requirements":{"architectures":["sm_100"]},
                           "parameters":{"shape":{"type":"sphere","radius":1},"resolution":24}})")),
            "worker-1");
}

TEST_F(PlacementEndToEnd, Sm120WorkWaitsForTheBusyBlackwell) {
  auto busy = client_->Submit(Job(R"({"requirements":{"architectures":["sm_120"]},
                                      "parameters":{"seconds":4}})"));
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(
      WaitUntil([&] { return client_->Get(busy->id())->state() == kiln::v1::JOB_STATE_RUNNING; },
                absl::Seconds(30)));
  auto waiting = client_->Submit(Job(R"({"requirements":{"architectures":["sm_120"]}})"));
  ASSERT_TRUE(waiting.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto job = client_->Get(waiting->id());
        return job.ok() && job->status_message() == "waiting: all 1 slot that can run it are busy";
      },
      absl::Seconds(10)))
      << client_->Get(waiting->id())->status_message();
  EXPECT_EQ(client_->Get(waiting->id())->state(), kiln::v1::JOB_STATE_QUEUED);
  auto done = client_->Wait(waiting->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done->attempts(0).worker_id(), "worker-0");
}

TEST_F(PlacementEndToEnd, TooMuchMemoryWaitsWithAClearReason) {
  auto job = client_->Submit(Job(R"({"requirements":{"accelerator":"ACCELERATOR_GPU",
                                     "minDeviceMemoryBytes":"214748364800"}})"));
  ASSERT_TRUE(job.ok());
  std::string reason;
  ASSERT_TRUE(WaitUntil(
      [&] {
        reason = client_->Get(job->id())->status_message();
        return reason.find("below 200.0 GiB") != std::string::npos;
      },
      absl::Seconds(10)))
      << reason;
  EXPECT_EQ(reason.find("waiting: no worker can run it ("), 0u) << reason;
  CommandResult describe = farm_.Kilnctl({"describe", job->id()});
  EXPECT_NE(describe.out.find("below 200.0 GiB"), std::string::npos) << describe.out;
  EXPECT_EQ(client_->Get(job->id())->state(), kiln::v1::JOB_STATE_QUEUED);
}

// Models: each worker's executors report the models of its repository, the slots
// advertise them, and a job naming a model goes only where it is.
TEST(ModelPlacementEndToEnd, AModelJobRunsOnlyWhereTheModelIs) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--heartbeat-interval=500ms"}).ok());
  ASSERT_TRUE(farm.StartWorker(0, 1, {"--model-repo=" KILN_EXAMPLE_MODELS_DIR}).ok());
  ScopedTempDir empty_repo;
  ASSERT_TRUE(farm.StartWorker(1, 1, {"--model-repo=" + empty_repo.path()}).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto workers = client->ListWorkers();
        return workers.ok() && workers->size() == 2;
      },
      absl::Seconds(30)));
  absl::StatusOr<std::vector<kiln::v1::WorkerInfo>> workers = client->ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  for (const kiln::v1::WorkerInfo& worker : *workers) {
    const kiln::v1::Slot& slot = worker.capabilities().slots(0);
    if (worker.id() == "worker-0") {
      ASSERT_EQ(slot.models_size(), 1) << worker.DebugString();
      EXPECT_EQ(slot.models(0), "kiln-tetra@1");
      ASSERT_EQ(worker.capabilities().models_size(), 1);
      EXPECT_EQ(worker.capabilities().models(0).runtime(), "exec");
    } else {
      EXPECT_EQ(slot.models_size(), 0) << worker.DebugString();
    }
  }
  for (int i = 0; i < 3; ++i) {
    auto job = client->Submit(Job(R"({"task":"model.run","model":"kiln-tetra",
                                      "parameters":{"scale":2}})"));
    ASSERT_TRUE(job.ok()) << job.status();
    auto done = client->Wait(job->id(), absl::Seconds(60));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED) << done->DebugString();
    ASSERT_EQ(done->attempts_size(), 1);
    EXPECT_EQ(done->attempts(0).worker_id(), "worker-0");
  }
  auto missing = client->Submit(Job(R"({"task":"model.run","model":"trellis"})"));
  ASSERT_TRUE(missing.ok());
  std::string reason;
  EXPECT_TRUE(WaitUntil(
      [&] {
        reason = client->Get(missing->id())->status_message();
        return reason == "waiting: no worker advertises model trellis";
      },
      absl::Seconds(10)))
      << reason;
  EXPECT_EQ(client->Get(missing->id())->state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST(PlacementFailureEndToEnd, NoKernelImageMovesTheJobWithoutUsingAnAttempt) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--heartbeat-interval=500ms"}).ok());
  // Its self-test passes, but every task fails with "no kernel image".
  ASSERT_TRUE(farm.StartWorker(0, 0, {"--fake-devices=sm_90:80GiB:cannot-run"}).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  auto job = client->Submit(Job(R"({"requirements":{"architectures":["sm_90"]},"maxAttempts":1})"));
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto current = client->Get(job->id());
        return current.ok() && current->attempts_size() >= 1 &&
               current->attempts(0).exit_reason() == kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN;
      },
      absl::Seconds(30)));
  ASSERT_TRUE(farm.StartWorker(1, 0, {"--fake-devices=sm_90:80GiB"}).ok());
  auto done = client->Wait(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_GE(done->attempts_size(), 2);
  EXPECT_TRUE(done->attempts(0).not_counted());
  EXPECT_NE(done->attempts(0).message().find("no kernel image"), std::string::npos);
  EXPECT_EQ(done->attempts().rbegin()->worker_id(), "worker-1");
  // max_attempts is 1 and the job still ran: the first attempt was not counted.
  EXPECT_EQ(done->spec().max_attempts(), 1);
}

}  // namespace
}  // namespace kiln::testing
