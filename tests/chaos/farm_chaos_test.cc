// Chaos with real workers: kiln-scheduler, kiln-worker and kiln-exec processes on
// loopback (tests/support/local_farm.h).
// - Workers and executors are killed with SIGKILL at random moments while jobs run;
//   every job still succeeds exactly once, requeued after its lease lapsed or its
//   executor died. KILN_CHAOS_FARM_KILLS (default 24) kills, KILN_CHAOS_FARM_JOBS
//   (default 48) jobs.
// - A worker cut off from the scheduler by a proxy (tests/support/tcp_proxy.h) while
//   it runs a job: the lease lapses, the job runs again on another worker and
//   succeeds once; when the proxy forwards again, the cut worker's late report
//   (progress or completion) is rejected as stale and changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/support/local_farm.h"
#include "tests/support/tcp_proxy.h"

namespace kiln::testing {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) && parsed > 0 ? parsed : fallback;
}

const std::vector<std::string> kFastLeases = {"--lease-duration=2s", "--heartbeat-interval=500ms",
                                              "--retry-backoff=100ms", "--retry-backoff-max=1s"};

kiln::v1::JobSpec SleepSpec(double seconds, const std::string& request_id, int max_attempts) {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(seconds);
  spec.set_client_request_id(request_id);
  spec.set_max_attempts(max_attempts);
  return spec;
}

int CountReason(const kiln::v1::Job& job, kiln::v1::ExitReason reason) {
  int n = 0;
  for (const kiln::v1::Attempt& attempt : job.attempts()) n += attempt.exit_reason() == reason;
  return n;
}

TEST(FarmChaos, WorkersAndExecutorsKilledAtRandomEveryJobSucceedsOnce) {
  const int kills = EnvInt("KILN_CHAOS_FARM_KILLS", 24);
  const int jobs = EnvInt("KILN_CHAOS_FARM_JOBS", 48);
  constexpr int kWorkers = 3;
  constexpr int kSlots = 2;
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler(kFastLeases).ok());
  std::vector<size_t> log_start(kWorkers, 0);
  for (int w = 0; w < kWorkers; ++w) ASSERT_TRUE(farm.StartWorker(w, kSlots).ok());
  std::unique_ptr<Client> client = farm.NewClient(/*max_retries=*/10);
  ASSERT_NE(client, nullptr);

  std::vector<std::string> ids;
  for (int i = 0; i < jobs; ++i) {
    // Attempts: every kill may cost one; none may run out.
    auto job = client->Submit(SleepSpec(2.0, absl::StrCat("farm-chaos-", i), 100));
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id());
  }

  std::mt19937 random(static_cast<unsigned>(absl::ToUnixNanos(absl::Now())));
  std::uniform_int_distribution<int> pause_ms(200, 900);
  std::uniform_int_distribution<int> pick_worker(0, kWorkers - 1);
  int worker_kills = 0, executor_kills = 0;
  const absl::Time start = absl::Now();
  for (int k = 0; k < kills; ++k) {
    absl::SleepFor(absl::Milliseconds(pause_ms(random)));
    const int victim = pick_worker(random);
    if (k % 2 == 0) {
      // An executor of the victim (any of its slots), once the victim has registered:
      // an executor killed while its worker starts up stops that worker's start-up
      // ("executor for slot N did not start"), which is not what this test is about.
      const std::string log_name = absl::StrCat("worker-", victim, ".log");
      ASSERT_TRUE(WaitUntil(
          [&] {
            return absl::StrContains(farm.Log(log_name).substr(log_start[victim]),
                                     "registered with");
          },
          absl::Seconds(60)))
          << farm.Log(log_name);
      std::vector<pid_t> executors = ChildrenOf(farm.worker(victim)->pid());
      ASSERT_FALSE(executors.empty())
          << "worker-" << victim << " has no executor; running: " << farm.worker(victim)->Running()
          << "\n"
          << farm.Log(log_name);
      std::uniform_int_distribution<size_t> pick(0, executors.size() - 1);
      ASSERT_EQ(::kill(executors[pick(random)], SIGKILL), 0);
      ++executor_kills;
    } else {
      farm.StopWorker(victim, SIGKILL);
      // The log is appended to: this start's lines begin here.
      log_start[victim] = farm.Log(absl::StrCat("worker-", victim, ".log")).size();
      ASSERT_TRUE(farm.StartWorker(victim, kSlots).ok());
      ++worker_kills;
    }
  }

  int lease_lapses = 0, executor_crashes = 0, retried = 0;
  for (const std::string& id : ids) {
    auto job = client->Wait(id, absl::Minutes(3));
    ASSERT_TRUE(job.ok()) << id << ": " << job.status();
    EXPECT_EQ(job->state(), kiln::v1::JOB_STATE_SUCCEEDED) << job->DebugString();
    EXPECT_EQ(CountReason(*job, kiln::v1::EXIT_REASON_SUCCEEDED), 1) << job->DebugString();
    ASSERT_GT(job->attempts_size(), 0);
    EXPECT_EQ(job->attempts().rbegin()->exit_reason(), kiln::v1::EXIT_REASON_SUCCEEDED);
    lease_lapses += CountReason(*job, kiln::v1::EXIT_REASON_LEASE_EXPIRED);
    executor_crashes += CountReason(*job, kiln::v1::EXIT_REASON_EXECUTOR_CRASH);
    retried += job->attempts_size() > 1;
  }
  // The kills hit running jobs: some were requeued by lapsed leases, some by crashes.
  EXPECT_GT(lease_lapses, 0);
  EXPECT_GT(executor_crashes, 0);
  std::printf(
      "farm chaos: jobs=%d kills=%d (workers=%d executors=%d) succeeded_once=%zu lost=0 "
      "duplicates=0 retried_jobs=%d lease_lapses=%d executor_crashes=%d seconds=%.1f\n",
      jobs, kills, worker_kills, executor_kills, ids.size(), retried, lease_lapses,
      executor_crashes, absl::ToDoubleSeconds(absl::Now() - start));
}

TEST(FarmChaos, WorkerCutOffByAProxyLosesItsLeaseAndItsLateReportIsRejected) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler(kFastLeases).ok());
  int scheduler_port = 0;
  const std::string address = farm.address();
  ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &scheduler_port));
  absl::StatusOr<std::unique_ptr<TcpProxy>> proxy = TcpProxy::Create(scheduler_port);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  // worker-0 reaches the scheduler only through the proxy; worker-1 directly, drained
  // until the cut so that the job starts on worker-0.
  ASSERT_TRUE(farm.StartWorker(0, 1, {"--scheduler=" + (*proxy)->address()}).ok());
  ASSERT_TRUE(farm.StartWorker(1, 1).ok());
  std::unique_ptr<Client> client = farm.NewClient();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto workers = client->ListWorkers();
        return workers.ok() && workers->size() == 2;
      },
      absl::Seconds(60)));
  ASSERT_TRUE(client->DrainWorker("worker-1").ok());

  auto submitted = client->Submit(SleepSpec(6, "cut-off", 3));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->id();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto job = client->Get(id);
        return job.ok() && job->state() == kiln::v1::JOB_STATE_RUNNING;
      },
      absl::Seconds(60)));
  EXPECT_GT((*proxy)->accepted(), 0);
  (*proxy)->Cut();
  const absl::Time cut_at = absl::Now();
  ASSERT_TRUE(client->DrainWorker("worker-1", /*resume=*/true).ok());

  // The lease lapses; worker-1 runs the job again and completes it.
  absl::StatusOr<kiln::v1::Job> done = client->Wait(id, absl::Seconds(90));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED) << done->DebugString();
  ASSERT_EQ(done->attempts_size(), 2) << done->DebugString();
  EXPECT_EQ(done->attempts(0).worker_id(), "worker-0");
  EXPECT_EQ(done->attempts(0).exit_reason(), kiln::v1::EXIT_REASON_LEASE_EXPIRED);
  EXPECT_EQ(done->attempts(1).worker_id(), "worker-1");
  EXPECT_EQ(done->attempts(1).exit_reason(), kiln::v1::EXIT_REASON_SUCCEEDED);

  // worker-0's reports (progress, then its completion) wait in the cut. The worker logs
  // the scheduler's answer to a rejected report as "... job <id> attempt 1 rejected by
  // the scheduler (<status>)" (progress) or "scheduler rejected the report for job <id>
  // attempt 1 (<status>)" (completion). A report that timed out in the cut is not sent
  // again, so the first word after it may instead answer worker-0's heartbeat, which
  // still lists the lease: the scheduler refuses that too ("abandoning job <id> ...").
  const std::string abandoned = absl::StrCat("abandoning job ", id, " attempt 1");
  const std::vector<std::string> markers = {
      absl::StrCat("job ", id, " attempt 1 rejected by the scheduler ("),
      absl::StrCat("scheduler rejected the report for job ", id, " attempt 1 ("), abandoned};
  auto rejection = [&]() -> std::string {
    const std::string log = farm.Log("worker-0.log");
    for (const std::string& marker : markers) {
      const size_t at = log.find(marker);
      if (at != std::string::npos) return log.substr(at, log.find('\n', at) - at);
    }
    return "";
  };
  absl::SleepFor(cut_at + absl::Seconds(7) - absl::Now());
  EXPECT_EQ(rejection(), "") << "a report got through the cut";
  (*proxy)->Restore();
  ASSERT_TRUE(WaitUntil([&] { return !rejection().empty(); }, absl::Seconds(90)))
      << farm.Log("worker-0.log");
  // The scheduler's answer to a report: stale, the job had finished elsewhere.
  const std::string line = rejection();
  if (!absl::StrContains(line, abandoned)) {
    EXPECT_TRUE(absl::StrContains(line, "FAILED_PRECONDITION")) << line;
    EXPECT_TRUE(absl::StrContains(line, "already finished as SUCCEEDED")) << line;
    EXPECT_TRUE(absl::StrContains(line, "report for attempt 1 is stale")) << line;
  }
  // The cut worker gives the attempt up instead of reporting it again.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return absl::StrContains(farm.Log("worker-0.log"),
                                 absl::StrCat("dropping job ", id, " attempt 1")) ||
               absl::StrContains(farm.Log("worker-0.log"),
                                 absl::StrCat("scheduler rejected the report for job ", id));
      },
      absl::Seconds(30)))
      << farm.Log("worker-0.log");

  // The late report changed nothing.
  auto after = client->Get(id);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(after->attempts_size(), 2);
  EXPECT_EQ(after->revision(), done->revision());
  EXPECT_EQ(CountReason(*after, kiln::v1::EXIT_REASON_SUCCEEDED), 1);
}

}  // namespace
}  // namespace kiln::testing
