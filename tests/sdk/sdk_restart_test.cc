// The SDK across a scheduler restart: calls made while the scheduler process is down
// are retried with backoff (UNAVAILABLE) and succeed once a new scheduler serves the
// same port and RocksDB store; a retried submit keeps its request id, so it makes one job.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <string>

#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

v1::JobSpec SphereSpec(const std::string& request_id) {
  v1::JobSpec spec;
  spec.set_task("mesh.extract");
  spec.set_client_request_id(request_id);
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(
          R"({"shape":{"type":"sphere","radius":1},"resolution":24})", spec.mutable_parameters())
          .ok());
  return spec;
}

TEST(SdkRestartTest, CallsMadeWhileTheSchedulerIsDownSucceedAfterItRestarts) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  // 12 retries from 100 ms doubling to 5 s: about 40 s of patience.
  std::unique_ptr<Client> patient = farm.NewClient(/*max_retries=*/12);
  std::unique_ptr<Client> impatient = farm.NewClient(/*max_retries=*/0);
  absl::StatusOr<v1::Job> before = patient->Submit(SphereSpec("restart-1"));
  ASSERT_TRUE(before.ok()) << before.status();

  farm.StopScheduler(SIGKILL);
  // Down for sure: a call without retries fails as UNAVAILABLE.
  absl::StatusOr<v1::Job> refused = impatient->Get(before->id());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();

  // Both start while nothing listens, and retry until the new scheduler answers.
  const absl::Time down_since = absl::Now();
  auto get = std::async(std::launch::async, [&] { return patient->Get(before->id()); });
  auto submit =
      std::async(std::launch::async, [&] { return patient->Submit(SphereSpec("restart-2")); });
  ASSERT_EQ(get.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "Get returned while the scheduler was down";
  const absl::Time restarted_at = absl::Now();
  ASSERT_TRUE(farm.StartScheduler().ok());

  absl::StatusOr<v1::Job> got = get.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id(), before->id());
  EXPECT_EQ(got->state(), v1::JOB_STATE_QUEUED);
  absl::StatusOr<v1::Job> submitted = submit.get();
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_GE(absl::Now() - down_since, restarted_at - down_since);

  // The retried submit made exactly one job: its request id again gives the same job.
  absl::StatusOr<v1::Job> again = patient->Submit(SphereSpec("restart-2"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), submitted->id());
  v1::ListJobsRequest all;
  absl::StatusOr<v1::ListJobsResponse> listed = patient->List(all);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->jobs_size(), 2);

  // And the jobs run once a worker comes: Wait follows them to the end, Download works.
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  for (const std::string& id : {before->id(), submitted->id()}) {
    absl::StatusOr<v1::Job> done = patient->Wait(id, absl::Minutes(2));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED) << done->status_message();
    ASSERT_EQ(done->outputs_size(), 1);
    const std::string path = farm.dir() + "/" + id + ".ply";
    ASSERT_TRUE(patient->DownloadBlob(done->outputs(0).sha256(), path).ok());
    EXPECT_EQ(ReadFileOrEmpty(path).substr(0, 4), "ply\n");
  }
}

// A watch that is open when the scheduler dies reconnects to the new one and still
// sees the job to its end.
TEST(SdkRestartTest, WatchFollowsAJobAcrossARestart) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  std::unique_ptr<Client> client = farm.NewClient(/*max_retries=*/12);
  absl::StatusOr<v1::Job> job = client->Submit(SphereSpec("watch-1"));
  ASSERT_TRUE(job.ok()) << job.status();
  std::promise<void> first_seen;
  auto wait = std::async(std::launch::async, [&] {
    bool told = false;
    v1::Job last;
    absl::Status status = client->Watch(
        job->id(),
        [&](const v1::Job& j) {
          last = j;
          if (!told) first_seen.set_value();
          told = true;
          return true;
        },
        absl::Minutes(2));
    return status.ok() ? absl::StatusOr<v1::Job>(last) : absl::StatusOr<v1::Job>(status);
  });
  first_seen.get_future().wait();  // The stream is open and delivered the queued job.
  farm.StopScheduler(SIGKILL);
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  absl::StatusOr<v1::Job> done = wait.get();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace kiln::testing
