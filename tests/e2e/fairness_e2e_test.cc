// Weighted fair share end to end (issue 11), with real processes on loopback: kiln-scheduler
// with --sharing-policy (tenants a, b, c of weights 1, 2, 1) and --auth-tokens (one user
// token per tenant, an admin token, a worker token), and two kiln-worker processes of four
// slots each (with their kiln-exec children). Each tenant submits far more short debug.sleep
// jobs than the 8 slots can run, through the SDK with its own token. While all three still
// have queued work (watched through ListJobs with the admin token), the test takes the
// running jobs every 200 ms from the attempts the scheduler recorded (leased from
// assigned_at until ended_at: a consistent timeline, where one ListJobs scan is not a
// snapshot) and checks that each tenant's mean share of the running jobs is within 10 %
// (relative) of 25/50/25 and that no tenant sat at 0 running, with work queued while others
// ran, for more than a few samples in a row. The in-process version with a fake clock is
// scheduler/core/scheduler_sharing_test.cc; this one goes through gRPC, RocksDB, workers and
// executors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/kiln_client.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

struct Tenant {
  std::string name;
  double weight;
  std::string token;
};

const std::vector<Tenant>& Tenants() {
  static const auto* tenants = new std::vector<Tenant>{
      {"a", 1, "tenant-a-5c1e7d"}, {"b", 2, "tenant-b-9a04f2"}, {"c", 1, "tenant-c-31bb68"}};
  return *tenants;
}
constexpr char kAdminToken[] = "admin-e4d2a1";
constexpr char kWorkerToken[] = "workers-77c0de";

constexpr int kWorkers = 2;
constexpr int kSlotsPerWorker = 4;
constexpr int kJobsPerTenant = 150;
constexpr double kJobSeconds = 0.4;
constexpr absl::Duration kSampleEvery = absl::Milliseconds(200);
// Samples in a row a tenant may sit at 0 running with work queued while others run: a
// tenant's last job ending and its next one being leased can straddle a sample or two.
constexpr int kMaxStarvedSamples = 5;

std::string TokenFile() {
  std::vector<std::string> entries;
  auto entry = [](const std::string& name, const std::string& token, const std::string& tenant,
                  const std::string& role, const std::string& extra = "") {
    return absl::StrCat(R"({"name": ")", name, R"(", "sha256": ")", Sha256Hex(token),
                        R"(", "tenant": ")", tenant, R"(", "role": ")", role, "\"", extra, "}");
  };
  for (const Tenant& tenant : Tenants()) {
    entries.push_back(entry("user-" + tenant.name, tenant.token, tenant.name, "user"));
  }
  entries.push_back(entry("root", kAdminToken, "ops", "admin"));
  entries.push_back(
      entry("pool", kWorkerToken, "ops", "worker", R"(, "worker_ids": ["worker-0", "worker-1"])"));
  return absl::StrCat(R"({"tokens": [)", absl::StrJoin(entries, ","), "]}");
}

std::string SharingPolicyFile() {
  std::vector<std::string> tenants;
  for (const Tenant& tenant : Tenants()) {
    tenants.push_back(
        absl::StrCat(R"({"tenant": ")", tenant.name, R"(", "weight": )", tenant.weight, "}"));
  }
  return absl::StrCat(R"({"tenants": [)", absl::StrJoin(tenants, ","), "]}");
}

std::unique_ptr<Client> ClientWithToken(const LocalFarm& farm, const std::string& token) {
  ClientOptions options;
  options.address = farm.address();
  options.token = token;
  options.default_deadline = absl::Seconds(30);
  auto client = Client::Create(options);
  return client.ok() ? *std::move(client) : nullptr;
}

// One lease of a slot, as the scheduler recorded it: from assignment until the attempt ended
// (InfiniteFuture while it runs). The fair share counts leased (ASSIGNED or RUNNING) jobs.
struct Lease {
  std::string tenant;
  absl::Time from;
  absl::Time until;
};

struct Scan {
  std::map<std::string, int> queued;  // per tenant
  std::vector<Lease> leases;
};

// Every job (one ListJobs scan, page by page): queued jobs per tenant and every attempt.
absl::StatusOr<Scan> ScanJobs(Client& admin) {
  Scan scan;
  v1::ListJobsRequest request;
  request.set_page_size(1000);
  for (int page = 0; page < 100; ++page) {
    absl::StatusOr<v1::ListJobsResponse> response = admin.List(request);
    if (!response.ok()) return response.status();
    for (const v1::Job& job : response->jobs()) {
      if (job.state() == v1::JOB_STATE_QUEUED) ++scan.queued[job.tenant()];
      for (const v1::Attempt& attempt : job.attempts()) {
        scan.leases.push_back(
            {job.tenant(), FromProtoTime(attempt.assigned_at()),
             attempt.has_ended_at() ? FromProtoTime(attempt.ended_at()) : absl::InfiniteFuture()});
      }
    }
    if (response->next_page_token().empty()) return scan;
    request.set_page_token(response->next_page_token());
  }
  return absl::DeadlineExceededError("ListJobs: more than 100 pages");
}

TEST(FairnessEndToEnd, RunningSharesFollowWeights121ThroughRealProcesses) {
  LocalFarm farm;
  ScopedTempDir config;
  const std::string tokens = config.WriteFile("tokens.json", TokenFile());
  const std::string policy = config.WriteFile("sharing.json", SharingPolicyFile());
  const std::string worker_token =
      config.WriteFile("worker.token", absl::StrCat(kWorkerToken, "\n"));
  ASSERT_TRUE(farm.StartScheduler({"--auth_tokens=" + tokens, "--sharing_policy=" + policy}).ok())
      << farm.Log("scheduler.log");
  std::unique_ptr<Client> admin = ClientWithToken(farm, kAdminToken);
  ASSERT_NE(admin, nullptr);

  // All the work is queued before any slot exists, so every tenant waits from the start.
  for (const Tenant& tenant : Tenants()) {
    std::unique_ptr<Client> client = ClientWithToken(farm, tenant.token);
    ASSERT_NE(client, nullptr);
    std::vector<v1::JobSpec> specs(kJobsPerTenant);
    for (v1::JobSpec& spec : specs) {
      spec.set_task("debug.sleep");
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                      absl::StrCat(R"({"seconds": )", kJobSeconds, "}"), spec.mutable_parameters())
                      .ok());
    }
    absl::StatusOr<std::vector<v1::Job>> jobs = client->SubmitMany(specs);
    ASSERT_TRUE(jobs.ok()) << tenant.name << ": " << jobs.status();
    ASSERT_EQ(jobs->size(), kJobsPerTenant);
    EXPECT_EQ(jobs->front().tenant(), tenant.name);
  }

  for (int i = 0; i < kWorkers; ++i) {
    ASSERT_TRUE(farm.StartWorker(i, kSlotsPerWorker, {"--token_file=" + worker_token}).ok());
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<std::vector<v1::WorkerInfo>> workers = admin->ListWorkers();
        return workers.ok() && static_cast<int>(workers->size()) == kWorkers;
      },
      absl::Seconds(90)))
      << farm.Log("worker-0.log") << farm.Log("worker-1.log");

  // The window: from now until one tenant's queue is empty (the heaviest, b, drains first)
  // or time is up; then the running jobs at every 200 ms step of it, from the attempts.
  const absl::Time window_start = absl::Now();
  absl::Time window_end = window_start;
  const absl::Time deadline = window_start + absl::Seconds(75);
  while (absl::Now() < deadline) {
    const absl::Time scanned_at = absl::Now();
    absl::StatusOr<Scan> scan = ScanJobs(*admin);
    ASSERT_TRUE(scan.ok()) << scan.status();
    bool all_queued = true;
    for (const Tenant& tenant : Tenants()) all_queued &= scan->queued[tenant.name] > 0;
    if (!all_queued) break;
    window_end = scanned_at;
    absl::SleepFor(kSampleEvery);
  }
  absl::StatusOr<Scan> history = ScanJobs(*admin);
  ASSERT_TRUE(history.ok()) << history.status();

  int samples = 0;
  int most_running = 0;
  std::map<std::string, double> share_sum;
  std::map<std::string, int> streak, longest_streak;
  std::vector<std::string> trace;
  for (absl::Time t = window_start; t < window_end; t += kSampleEvery) {
    std::map<std::string, int> running;
    int total = 0;
    for (const Lease& lease : history->leases) {
      if (lease.from <= t && t < lease.until) {
        ++running[lease.tenant];
        ++total;
      }
    }
    most_running = std::max(most_running, total);
    if (total == 0) continue;
    ++samples;
    std::vector<std::string> line;
    for (const Tenant& tenant : Tenants()) {
      share_sum[tenant.name] += static_cast<double>(running[tenant.name]) / total;
      // Starved: work queued (the whole window) and others running, none of its own.
      streak[tenant.name] = running[tenant.name] == 0 ? streak[tenant.name] + 1 : 0;
      longest_streak[tenant.name] = std::max(longest_streak[tenant.name], streak[tenant.name]);
      line.push_back(absl::StrCat(tenant.name, "=", running[tenant.name]));
    }
    trace.push_back(absl::StrJoin(line, " "));
  }

  ASSERT_GE(samples, 20) << "too few samples while all three tenants had work queued\n"
                         << farm.Log("scheduler.log") << farm.Log("worker-0.log");
  double weight_sum = 0;
  for (const Tenant& tenant : Tenants()) weight_sum += tenant.weight;
  std::vector<std::string> shares, streaks;
  for (const Tenant& tenant : Tenants()) {
    shares.push_back(
        absl::StrFormat("%s %.2f%%", tenant.name, 100 * share_sum[tenant.name] / samples));
    streaks.push_back(absl::StrCat(tenant.name, " ", longest_streak[tenant.name]));
  }
  std::printf("fair share over %d samples (every %s, at most %d running): %s\n", samples,
              absl::FormatDuration(kSampleEvery).c_str(), most_running,
              absl::StrJoin(shares, "  ").c_str());
  std::printf("longest stretch at 0 running with work queued (samples): %s\n",
              absl::StrJoin(streaks, "  ").c_str());
  // Leases from the scheduler's own records: never more than the slots.
  EXPECT_LE(most_running, kWorkers * kSlotsPerWorker);
  for (const Tenant& tenant : Tenants()) {
    const double want = tenant.weight / weight_sum;
    EXPECT_NEAR(share_sum[tenant.name] / samples, want, 0.1 * want) << "tenant " << tenant.name;
    EXPECT_LE(longest_streak[tenant.name], kMaxStarvedSamples) << "tenant " << tenant.name;
  }
  if (::testing::Test::HasFailure()) {
    std::printf("running jobs per sample:\n%s\n", absl::StrJoin(trace, "\n").c_str());
  }
}

}  // namespace
}  // namespace kiln::testing
