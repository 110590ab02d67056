// Chaos: kill -9 the scheduler at random moments under load, restart it on the same
// data dir and port, and prove that every acknowledged job reached a terminal state
// exactly once. Real kiln-scheduler process, real gRPC on loopback; the workers are
// kiln-load's simulated fleet (bench/sim_fleet.h); clients resubmit with
// client_request_id until acknowledged. Afterwards the scheduler is stopped and its
// RocksDB store is read directly: the completion records are counted there and
// compared with what the simulated workers were told.
//
// Size: KILN_CHAOS_JOBS (default 10000), KILN_CHAOS_KILLS (default 20),
// KILN_CHAOS_SUBMIT_SECONDS (default 2 s per kill, at least 20): the window over
// which submits are paced and the kills fall.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/kiln_load_support.h"
#include "bench/sim_fleet.h"
#include "common/testing/scoped_temp_dir.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "scheduler/store/store.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) && parsed > 0 ? parsed : fallback;
}

// One connection per index, reconnecting within half a second of the scheduler's return
// (gRPC's default backoff grows to two minutes).
std::shared_ptr<grpc::Channel> FastReconnectChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("kiln.chaos.channel", index);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

kiln::v1::JobSpec ChaosSpec(int index) {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(0.1);
  spec.set_client_request_id(absl::StrCat("chaos-", index));
  // A lease lapses when a completion's answer is lost in a crash; that must not fail it.
  spec.set_max_attempts(50);
  (*spec.mutable_labels())["test"] = "scheduler-crash";
  return spec;
}

// What the clients were told: request index -> job id, and any contradiction.
class Acknowledgements {
 public:
  explicit Acknowledgements(int jobs) : job_ids_(jobs) {}

  void Record(int index, const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    if (job_ids_[index].empty()) {
      job_ids_[index] = job_id;
      ++acked_;
    } else if (job_ids_[index] != job_id) {
      contradictions_.push_back(
          absl::StrCat("chaos-", index, ": ", job_ids_[index], " then ", job_id));
    }
  }
  int acked() const {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  std::vector<std::string> job_ids() const {
    absl::MutexLock lock(&mu_);
    return job_ids_;
  }
  std::vector<std::string> contradictions() const {
    absl::MutexLock lock(&mu_);
    return contradictions_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> job_ids_ ABSL_GUARDED_BY(mu_);
  int acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> contradictions_ ABSL_GUARDED_BY(mu_);
};

// Completions the scheduler accepted, as the simulated workers saw them.
class AcceptedCompletions {
 public:
  void Record(const std::string& job_id, int attempt, const std::string& worker_id) {
    absl::MutexLock lock(&mu_);
    by_job_[job_id].insert({attempt, worker_id});
  }
  std::map<std::string, std::set<std::pair<int, std::string>>> by_job() const {
    absl::MutexLock lock(&mu_);
    return by_job_;
  }
  bool Contains(const std::string& job_id) const {
    absl::MutexLock lock(&mu_);
    return by_job_.contains(job_id);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::set<std::pair<int, std::string>>> by_job_ ABSL_GUARDED_BY(mu_);
};

bool IsTerminal(kiln::v1::JobState state) {
  return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
         state == kiln::v1::JOB_STATE_CANCELLED;
}

TEST(SchedulerCrashChaos, EveryAcknowledgedJobEndsExactlyOnceThroughKillNines) {
  const int jobs = EnvInt("KILN_CHAOS_JOBS", 10000);
  const int kills = EnvInt("KILN_CHAOS_KILLS", 20);
  const absl::Duration window =
      absl::Seconds(EnvInt("KILN_CHAOS_SUBMIT_SECONDS", std::max(20, 2 * kills)));
  const absl::Time test_start = absl::Now();

  ScopedTempDir dir;
  bench::SchedulerProcess::Options options;
  options.binary = BinaryPath("kiln-scheduler");
  options.data_dir = dir.Sub("data");
  options.work_dir = dir.path();
  options.extra_flags = {"--lease-duration=2s", "--heartbeat-interval=500ms",
                         "--retry-backoff=100ms", "--retry-backoff-max=1s"};
  absl::StatusOr<std::unique_ptr<bench::SchedulerProcess>> started =
      bench::SchedulerProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<bench::SchedulerProcess> scheduler = *std::move(started);
  const std::string address = scheduler->address();
  // Restarts keep the port, so clients and workers reconnect to the same address.
  options.extra_flags.push_back("--listen=" + address);

  // Simulated workers: 40 hosts x 2 slots, 0.1 s per job.
  bench::TimerThread timer;
  AcceptedCompletions accepted;
  bench::FleetPlan plan;
  plan.new_channel = [&](int index) { return FastReconnectChannel(address, index); };
  plan.workers = 40;
  plan.slots = 2;
  plan.channels = 4;
  plan.job_seconds = 0.1;
  plan.acquire_wait = absl::Seconds(2);
  plan.timer = &timer;
  plan.identify_results = true;
  plan.on_completed = [&](const std::string& job_id, int attempt, const std::string& worker) {
    accepted.Record(job_id, attempt, worker);
  };
  bench::WorkerFleet fleet(plan);
  const absl::Status registered = fleet.Register();
  ASSERT_TRUE(registered.ok()) << registered;
  fleet.Start();

  // Clients: batches of 50 paced over the window, each retried with the same
  // client_request_ids until acknowledged.
  constexpr int kBatch = 50;
  constexpr int kClients = 4;
  Acknowledgements acks(jobs);
  std::atomic<int> next_batch{0};
  std::atomic<int64_t> submit_failures{0};
  const absl::Time submit_start = absl::Now();
  const absl::Time give_up = submit_start + window + absl::Minutes(3);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = kiln::v1::JobService::NewStub(FastReconnectChannel(address, 100 + c));
      for (;;) {
        const int first = next_batch.fetch_add(kBatch);
        if (first >= jobs) return;
        const absl::Time due = submit_start + window * (static_cast<double>(first) / jobs);
        absl::SleepFor(due - absl::Now());
        kiln::v1::SubmitJobsRequest request;
        for (int i = first; i < std::min(jobs, first + kBatch); ++i) {
          *request.add_specs() = ChaosSpec(i);
        }
        while (absl::Now() < give_up) {
          grpc::ClientContext context;
          context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
          kiln::v1::SubmitJobsResponse response;
          const grpc::Status status = stub->SubmitJobs(&context, request, &response);
          if (status.ok() && response.results_size() == request.specs_size()) {
            for (int i = 0; i < response.results_size(); ++i) {
              acks.Record(first + i, response.results(i).job().id());
            }
            break;
          }
          ++submit_failures;
          absl::SleepFor(absl::Milliseconds(50));
        }
      }
    });
  }

  // The killer: kill -9 at random moments of the window (at least 50 ms after the
  // previous restart served), restart on the same data dir and port.
  std::mt19937 random(static_cast<unsigned>(absl::ToUnixNanos(absl::Now())));
  std::vector<absl::Duration> moments;
  std::uniform_real_distribution<double> fraction(0.02, 1.0);
  for (int k = 0; k < kills; ++k) moments.push_back(window * fraction(random));
  std::sort(moments.begin(), moments.end());
  std::uniform_int_distribution<int> settle_ms(50, 400);
  std::vector<double> restart_seconds;
  std::string kill_error;
  for (const absl::Duration moment : moments) {
    absl::SleepFor(
        std::max(submit_start + moment - absl::Now(), absl::Milliseconds(settle_ms(random))));
    absl::StatusOr<int> code = scheduler->Stop(SIGKILL, absl::Seconds(30));
    if (!code.ok() || *code != 128 + SIGKILL) {
      kill_error = code.ok() ? absl::StrCat("exit code ", *code) : code.status().ToString();
      break;
    }
    scheduler.reset();
    started = bench::SchedulerProcess::Start(options);
    if (!started.ok()) {
      kill_error = started.status().ToString();
      break;
    }
    scheduler = *std::move(started);
    restart_seconds.push_back(absl::ToDoubleSeconds(scheduler->time_to_serving()));
  }
  for (std::thread& client : clients) client.join();
  if (!kill_error.empty()) {
    fleet.Stop();
    timer.Shutdown();
    fleet.Drain(absl::Seconds(60));
    FAIL() << "kill/restart " << restart_seconds.size() + 1 << ": " << kill_error;
  }
  ASSERT_EQ(acks.acked(), jobs) << "submits still failing after the kills";
  EXPECT_TRUE(acks.contradictions().empty())
      << "a client_request_id gave two jobs: " << acks.contradictions().front();

  // Wait until every acknowledged job is terminal. Completions the fleet saw accepted
  // are durable already; ask the scheduler about the rest.
  const std::vector<std::string> job_ids = acks.job_ids();
  std::set<std::string> open(job_ids.begin(), job_ids.end());
  auto stub = kiln::v1::JobService::NewStub(FastReconnectChannel(address, 200));
  const absl::Time deadline = absl::Now() + absl::Minutes(3);
  while (!open.empty() && absl::Now() < deadline) {
    for (auto it = open.begin(); it != open.end();) {
      bool done = accepted.Contains(*it);
      if (!done) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
        kiln::v1::GetJobRequest request;
        request.set_job_id(*it);
        kiln::v1::GetJobResponse response;
        done =
            stub->GetJob(&context, request, &response).ok() && IsTerminal(response.job().state());
      }
      it = done ? open.erase(it) : std::next(it);
    }
    if (!open.empty()) absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_TRUE(open.empty()) << open.size() << " acknowledged jobs never ended, e.g. "
                            << (open.empty() ? "" : *open.begin());
  fleet.Stop();
  timer.Shutdown();
  EXPECT_TRUE(fleet.Drain(absl::Seconds(60)));
  // One more hard stop: the store is read as a crash leaves it.
  ASSERT_TRUE(scheduler->Stop(SIGKILL, absl::Seconds(30)).ok());
  scheduler.reset();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - test_start);

  // The completion records: every job in the store.
  ASSERT_TRUE(std::filesystem::is_directory(options.data_dir + "/db"));
  absl::StatusOr<std::unique_ptr<store::Store>> store =
      store::Store::Open({.path = options.data_dir + "/db"});
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::string, kiln::v1::Job> stored;
  ASSERT_TRUE((*store)
                  ->ForEachJobNewestFirst("",
                                          [&](const kiln::v1::Job& job) {
                                            stored.emplace(job.id(), job);
                                            return true;
                                          })
                  .ok());

  const auto worker_view = accepted.by_job();
  int lost = 0, duplicates = 0, mismatched = 0, unconfirmed = 0, retried = 0;
  std::set<std::string> acked_ids;
  for (int i = 0; i < jobs; ++i) {
    const std::string& id = job_ids[i];
    acked_ids.insert(id);
    auto it = stored.find(id);
    if (it == stored.end() || it->second.state() != kiln::v1::JOB_STATE_SUCCEEDED) {
      ++lost;
      ADD_FAILURE() << "job " << id << " (chaos-" << i << ") "
                    << (it == stored.end() ? "is not stored" : it->second.DebugString());
      continue;
    }
    const kiln::v1::Job& job = it->second;
    if (job.spec().client_request_id() != absl::StrCat("chaos-", i)) ++mismatched;
    int successes = 0;
    for (const kiln::v1::Attempt& attempt : job.attempts()) {
      successes += attempt.exit_reason() == kiln::v1::EXIT_REASON_SUCCEEDED;
    }
    if (job.attempts_size() > 1) ++retried;
    const kiln::v1::Attempt& last = *job.attempts().rbegin();
    const auto& result = job.result().fields();
    const bool result_matches =
        last.exit_reason() == kiln::v1::EXIT_REASON_SUCCEEDED && result.contains("job_id") &&
        result.at("job_id").string_value() == id &&
        static_cast<int>(result.at("attempt").number_value()) == last.number() &&
        result.at("worker_id").string_value() == last.worker_id();
    if (!result_matches) {
      ++mismatched;
      ADD_FAILURE() << "job " << id << ": stored result is not its last attempt's\n"
                    << job.DebugString();
    }
    auto seen = worker_view.find(id);
    if (seen == worker_view.end()) {
      ++unconfirmed;  // durable, but the answer to the worker died with the scheduler
    } else if (seen->second.size() != 1 ||
               *seen->second.begin() != std::make_pair(last.number(), last.worker_id())) {
      ++duplicates;
      ADD_FAILURE() << "job " << id << ": the workers were told of " << seen->second.size()
                    << " accepted completions";
    }
    if (successes != 1) {
      ++duplicates;
      ADD_FAILURE() << "job " << id << " has " << successes << " successful attempts";
    }
  }
  int extra = 0;  // stored jobs no client was given: a resubmit that was not deduplicated
  for (const auto& [id, job] : stored) extra += !acked_ids.contains(id);
  EXPECT_EQ(stored.size(), static_cast<size_t>(jobs));
  EXPECT_EQ(extra, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(mismatched, 0);

  double slowest_restart = 0;
  for (double s : restart_seconds) slowest_restart = std::max(slowest_restart, s);
  std::printf(
      "scheduler-crash chaos: jobs=%d kills=%zu acknowledged=%d stored=%zu lost=%d "
      "duplicates=%d extra=%d mismatched=%d retried_jobs=%d unconfirmed_completions=%d "
      "submit_failures=%lld worker_call_errors=%lld slowest_restart_s=%.2f seconds=%.1f\n",
      jobs, restart_seconds.size(), acks.acked(), stored.size(), lost, duplicates, extra,
      mismatched, retried, unconfirmed, static_cast<long long>(submit_failures.load()),
      static_cast<long long>(fleet.errors()), slowest_restart, seconds);
}

}  // namespace
}  // namespace kiln::testing
