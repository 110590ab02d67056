// End to end with real processes on loopback: kiln-scheduler (RocksDB on disk),
// kiln-worker with kiln-exec children, and kilnctl.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/tasks/testing/npy_test_file.h"

namespace kiln::testing {
namespace {

using kiln::v1::JobState;

// A block with a spherical bite out of its top face: one closed surface of genus 0.
constexpr char kBittenBlock[] =
    R"({"shape":{"type":"difference","children":[)"
    R"({"type":"box","size":[2.0,1.2,0.6]},)"
    R"({"type":"sphere","radius":0.5,"center":[0.6,0,0.3]}]},"resolution":48})";

kiln::v1::JobSpec SleepSpec(double seconds, int max_attempts = 3) {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  spec.set_max_attempts(max_attempts);
  google::protobuf::util::JsonStringToMessage(absl::StrCat(R"({"seconds":)", seconds, "}"),
                                              spec.mutable_parameters());
  return spec;
}

JobState StateOf(Client& client, const std::string& id) {
  auto job = client.Get(id);
  return job.ok() ? job->state() : kiln::v1::JOB_STATE_UNSPECIFIED;
}

TEST(FarmEndToEnd, KilnctlSubmitWaitFetchGivesAValidPly) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());

  CommandResult submit =
      farm.Kilnctl({"submit", "mesh.extract", "--params", kBittenBlock, "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm.Log("worker-0.log");
  const std::string id(absl::StripAsciiWhitespace(submit.out.substr(0, submit.out.find('\n'))));
  ASSERT_EQ(id.substr(0, 2), "j-") << submit.out;

  CommandResult get = farm.Kilnctl({"get", id, "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  kiln::v1::Job job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &job).ok()) << get.out;
  EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(job.outputs_size(), 1);

  const std::string out_dir = farm.dir() + "/fetched";
  CommandResult fetch = farm.Kilnctl({"fetch", id, "--dir", out_dir});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const std::string path(absl::StripAsciiWhitespace(fetch.out));
  ASSERT_TRUE(std::filesystem::exists(path)) << fetch.out;
  auto mesh = tasks::ReadPly(path);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  tasks::MeshStats stats = tasks::ComputeMeshStats(*mesh);
  EXPECT_GT(stats.faces, 1000);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(stats.euler_characteristic, 2);
  // The summary recorded on the job matches the file.
  EXPECT_EQ(job.result().fields().at("faces").number_value(), stats.faces);

  CommandResult describe = farm.Kilnctl({"describe", id});
  EXPECT_EQ(describe.exit_code, 0);
  EXPECT_NE(describe.out.find("worker-0"), std::string::npos) << describe.out;
  CommandResult workers = farm.Kilnctl({"workers"});
  EXPECT_NE(workers.out.find("worker-0"), std::string::npos) << workers.out;
}

// The id on the first line of `kilnctl submit`'s output.
std::string SubmittedId(const CommandResult& submit) {
  return std::string(absl::StripAsciiWhitespace(submit.out.substr(0, submit.out.find('\n'))));
}

// mesh.extract on an uploaded .npy volume (a sphere's distance, x fastest, 25^3 samples)
// through kilnctl's --input upload; a raw volume whose size does not match its dims
// fails by name first, and the same worker goes on to extract the good one.
TEST(FarmEndToEnd, MeshExtractOnAnUploadedNpyVolume) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  constexpr int kSamples = 25;
  std::vector<float> field;
  for (int k = 0; k < kSamples; ++k) {
    for (int j = 0; j < kSamples; ++j) {
      for (int i = 0; i < kSamples; ++i) {
        field.push_back(std::hypot(i - 12.0f, j - 12.0f, k - 12.0f) - 9.0f);
      }
    }
  }
  const std::string npy = farm.dir() + "/sphere.npy";
  tasks::testing::WriteFloat32Npy(npy, kSamples, kSamples, kSamples, field);
  const std::string raw = farm.dir() + "/short.raw";
  tasks::testing::WriteRawFloat32(raw, std::span<const float>(field).first(1000));

  CommandResult bad = farm.Kilnctl(
      {"submit", "mesh.extract", "--input", "short.raw=" + raw, "--params",
       R"({"volume":{"input":"short.raw","format":"raw","dims":[10,10,11]}})", "--wait"});
  EXPECT_NE(bad.exit_code, 0) << bad.out;
  const std::string bad_id = SubmittedId(bad);
  ASSERT_EQ(bad_id.substr(0, 2), "j-") << bad.out << bad.err;
  CommandResult bad_get = farm.Kilnctl({"get", bad_id, "-o", "json"});
  kiln::v1::Job failed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(bad_get.out, &failed).ok())
      << bad_get.out;
  EXPECT_EQ(failed.state(), kiln::v1::JOB_STATE_FAILED);
  EXPECT_NE(
      failed.status_message().find("volume: short.raw has 4000 bytes, dims [10, 10, 11] need 4400"),
      std::string::npos)
      << failed.status_message();

  CommandResult submit = farm.Kilnctl(
      {"submit", "mesh.extract", "--input", npy, "--params",
       R"({"volume":{"input":"sphere.npy","format":"npy","origin":[-1.2,-1.2,-1.2],"spacing":0.1}})",
       "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm.Log("worker-0.log");
  const std::string id = SubmittedId(submit);
  CommandResult get = farm.Kilnctl({"get", id, "-o", "json"});
  kiln::v1::Job job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &job).ok()) << get.out;
  EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.result().fields().at("extractor").string_value(), "cpu");

  const std::string out_dir = farm.dir() + "/fetched";
  CommandResult fetch = farm.Kilnctl({"fetch", id, "--dir", out_dir});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  auto mesh = tasks::ReadPly(std::string(absl::StripAsciiWhitespace(fetch.out)));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const tasks::MeshStats stats = tasks::ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(stats.euler_characteristic, 2);
  EXPECT_EQ(job.result().fields().at("faces").number_value(), stats.faces);
  // A sphere of radius 9 samples of 0.1 about the origin: [-0.9, 0.9] on every axis.
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(stats.bbox_min[a], -0.9, 0.02);
    EXPECT_NEAR(stats.bbox_max[a], 0.9, 0.02);
  }
}

TEST(FarmEndToEnd, AcknowledgedJobsSurviveKillNineAndRunningJobsAreRequeued) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler(
                      {"--lease-duration=3s", "--heartbeat-interval=1s", "--retry-backoff=100ms"})
                  .ok());
  // Phase 1: concurrent submits; kill -9 while they are in flight.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      std::unique_ptr<Client> client = farm.NewClient(/*max_retries=*/0);
      for (int i = 0; i < 200 && !stop; ++i) {
        auto job = client->Submit(SleepSpec(0));
        if (!job.ok()) break;  // the scheduler died: this one was not acknowledged
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.push_back(job->id());
      }
    });
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acknowledged.size() >= 100;
      },
      absl::Seconds(60)));
  farm.StopScheduler(SIGKILL);
  stop = true;
  for (auto& thread : clients) thread.join();
  const std::set<std::string> acked(acknowledged.begin(), acknowledged.end());
  ASSERT_EQ(acked.size(), acknowledged.size());  // no id acknowledged twice

  ASSERT_TRUE(farm.StartScheduler(
                      {"--lease-duration=3s", "--heartbeat-interval=1s", "--retry-backoff=100ms"})
                  .ok());
  std::unique_ptr<Client> client = farm.NewClient();
  std::set<std::string> listed;
  kiln::v1::ListJobsRequest list;
  list.set_page_size(1000);
  for (;;) {
    auto page = client->List(list);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& job : page->jobs()) EXPECT_TRUE(listed.insert(job.id()).second);
    if (page->next_page_token().empty()) break;
    list.set_page_token(page->next_page_token());
  }
  for (const std::string& id : acked) EXPECT_TRUE(listed.count(id)) << id << " was lost";

  // Phase 2: every stored job runs to the end.
  ASSERT_TRUE(farm.StartWorker(0, 2).ok());
  for (const std::string& id : listed) {
    auto job = client->Wait(id, absl::Seconds(120));
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state(), kiln::v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(job->attempts_size(), 1);
  }

  // Phase 3: two jobs running when scheduler and worker both die hard.
  auto first = client->Submit(SleepSpec(8));
  auto second = client->Submit(SleepSpec(8));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return StateOf(*client, first->id()) == kiln::v1::JOB_STATE_RUNNING &&
               StateOf(*client, second->id()) == kiln::v1::JOB_STATE_RUNNING;
      },
      absl::Seconds(30)));
  farm.StopWorker(0, SIGKILL);
  farm.StopScheduler(SIGKILL);
  ASSERT_TRUE(farm.StartScheduler(
                      {"--lease-duration=3s", "--heartbeat-interval=1s", "--retry-backoff=100ms"})
                  .ok());
  EXPECT_EQ(StateOf(*client, first->id()), kiln::v1::JOB_STATE_RUNNING);
  // A new worker picks them up once the old leases lapse.
  ASSERT_TRUE(farm.StartWorker(1, 2).ok());
  for (const auto* job : {&*first, &*second}) {
    auto done = client->Wait(job->id(), absl::Seconds(90));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);
    ASSERT_EQ(done->attempts_size(), 2);
    EXPECT_EQ(done->attempts(0).exit_reason(), kiln::v1::EXIT_REASON_LEASE_EXPIRED);
    EXPECT_EQ(done->attempts(1).worker_id(), "worker-1");
  }
}

TEST(FarmEndToEnd, ExecutorCrashIsRetriedAndTheWorkerLivesOn) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--retry-backoff=100ms"}).ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  auto job = client->Submit(SleepSpec(3));
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return StateOf(*client, job->id()) == kiln::v1::JOB_STATE_RUNNING; },
                        absl::Seconds(30)));
  std::vector<pid_t> executors = ChildrenOf(farm.worker(0)->pid());
  ASSERT_EQ(executors.size(), 1u);
  ASSERT_EQ(::kill(executors[0], SIGKILL), 0);

  auto done = client->Wait(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(done->attempts_size(), 2);
  EXPECT_EQ(done->attempts(0).exit_reason(), kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
  EXPECT_NE(done->attempts(0).message().find("SIGKILL"), std::string::npos)
      << done->attempts(0).message();
  EXPECT_TRUE(farm.worker(0)->Running());
  // A fresh executor serves the slot.
  std::vector<pid_t> now = ChildrenOf(farm.worker(0)->pid());
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], executors[0]);
}

TEST(FarmEndToEnd, CancelStopsARunningJobAndTheSlotMovesOn) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--heartbeat-interval=500ms"}).ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  auto long_job = client->Submit(SleepSpec(300));
  ASSERT_TRUE(long_job.ok());
  ASSERT_TRUE(
      WaitUntil([&] { return StateOf(*client, long_job->id()) == kiln::v1::JOB_STATE_RUNNING; },
                absl::Seconds(30)));
  CommandResult cancel = farm.Kilnctl({"cancel", long_job->id()});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(StateOf(*client, long_job->id()), kiln::v1::JOB_STATE_CANCELLED);
  // The only slot was busy with a 300 s job; the next job runs only if the
  // cancel reached the executor.
  auto next = client->Submit(SleepSpec(0));
  ASSERT_TRUE(next.ok());
  auto done = client->Wait(next->id(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);
  CommandResult watch = farm.Kilnctl({"watch", long_job->id()});
  EXPECT_EQ(watch.exit_code, 5) << watch.out << watch.err;  // 5: job cancelled
}

TEST(FarmEndToEnd, SameRequestIdTwiceGivesOneJob) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  std::vector<std::string> args = {"submit",    "debug.sleep",  "--param",
                                   "seconds=0", "--request-id", "render-42"};
  CommandResult first = farm.Kilnctl(args);
  CommandResult second = farm.Kilnctl(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(first.out, second.out);
  CommandResult list = farm.Kilnctl({"list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0);
  std::string id(absl::StripAsciiWhitespace(first.out));
  size_t count = 0;
  for (size_t at = list.out.find(id); at != std::string::npos; at = list.out.find(id, at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << list.out;
}

TEST(FarmEndToEnd, BadInputIsRefusedByNameAndStoresNothing) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--max-blob-bytes=1024", "--max-mesh-resolution=256"}).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  ASSERT_TRUE(client->Submit(SleepSpec(0)).ok());

  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::string big = farm.dir() + "/big.bin";
  { std::ofstream(big) << std::string(4096, 'x'); }
  std::vector<Case> cases = {
      {{"submit", "mesh.explode"}, "spec.task"},
      {{"submit", "mesh.extract", "--params",
        R"({"shape":{"type":"sphere","radius":1},"resolution":5000})"},
       "spec.parameters.resolution"},
      {{"submit", "mesh.extract", "--params", R"({"shape":{"type":"cone","radius":1}})"},
       "spec.parameters.shape.type"},
      {{"submit", "mesh.extract", "--params", R"({"shape":{"type":"sphere","radius":-1}})"},
       "spec.parameters.shape.radius"},
      {{"submit", "mesh.extract", "--params", R"({"volume":{"input":"v.raw","format":"raw"}})"},
       "spec.parameters.volume.dims"},
      {{"submit", "mesh.extract", "--params",
        R"({"shape":{"type":"sphere","radius":1},"volume":{"input":"v.npy","format":"npy"}})"},
       "spec.parameters.volume: give either shape or volume"},
      {{"submit", "debug.sleep", "--param", "seconds=1", "--input", "big.bin=" + big},
       "exceeds the blob size limit"},
  };
  for (const Case& c : cases) {
    CommandResult result = farm.Kilnctl(c.args);
    EXPECT_NE(result.exit_code, 0) << c.args[1];
    EXPECT_NE(result.err.find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in: " << result.err;
  }
  // A blob that was never uploaded, through the SDK (kilnctl always uploads).
  kiln::v1::JobSpec missing = SleepSpec(0);
  auto* input = missing.add_inputs();
  input->set_name("in.bin");
  input->set_sha256(std::string(64, 'c'));
  auto refused = client->Submit(missing);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("spec.inputs[0].sha256"), std::string::npos);

  auto all = client->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->jobs_size(), 1);
}

}  // namespace
}  // namespace kiln::testing
