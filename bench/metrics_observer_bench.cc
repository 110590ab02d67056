// metrics_observer_bench: what the scheduler's metrics hooks cost per job on the hot
// path. One job's transitions call SchedulerMetrics' observer three times under the
// scheduler lock (assigned, attempt ended, finished); this times those three calls
// with realistic Job protos over a mix of task/model/architecture series, against the
// same loop with no observer work, single-threaded. See bench/README.md.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "scheduler/metrics/scheduler_metrics.h"

namespace {

struct Case {
  kiln::v1::Job job;
  kiln::v1::Device device;
};

std::vector<Case> MakeCases() {
  std::vector<Case> cases;
  const char* tasks[] = {"mesh.extract", "debug.sleep", "model.run"};
  const int archs[] = {0, 75, 86, 90, 120};
  for (int i = 0; i < 60; ++i) {
    Case c;
    c.job.set_id(absl::StrCat("j-", i));
    c.job.mutable_spec()->set_task(tasks[i % 3]);
    c.job.mutable_spec()->set_model(i % 3 == 2 ? absl::StrCat("model-", i % 4, "@1") : "");
    const absl::Time t0 = absl::FromUnixSeconds(1'700'000'000);
    *c.job.mutable_created_at() = kiln::ToProtoTime(t0);
    *c.job.mutable_finished_at() = kiln::ToProtoTime(t0 + absl::Seconds(3 + i % 7));
    c.job.set_state(kiln::v1::JOB_STATE_SUCCEEDED);
    kiln::v1::Attempt* attempt = c.job.add_attempts();
    attempt->set_exit_reason(kiln::v1::EXIT_REASON_SUCCEEDED);
    *attempt->mutable_started_at() = kiln::ToProtoTime(t0 + absl::Seconds(1));
    *attempt->mutable_ended_at() = kiln::ToProtoTime(t0 + absl::Seconds(2 + i % 5));
    c.device.set_id("cuda:0");
    c.device.set_compute_capability(archs[i % 5]);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr int kJobs = 1'000'000;
  const std::vector<Case> cases = MakeCases();
  kiln::metrics::SchedulerMetricsOptions options;
  options.listen = "127.0.0.1:0";
  auto metrics = kiln::metrics::SchedulerMetrics::Create(options);
  if (!metrics.ok()) {
    std::fprintf(stderr, "%s\n", metrics.status().ToString().c_str());
    return 1;
  }
  kiln::core::SchedulerObserver* observer = (*metrics)->observer();
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kJobs; ++i) {
      const Case& c = cases[i % cases.size()];
      observer->JobAssigned(c.job, &c.device, absl::Seconds(1));
      observer->AttemptEnded(c.job, &c.device);
      observer->JobFinished(c.job, &c.device);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("run %d: %.0f ns per job (3 observer calls), %zu series mixes\n", run,
                seconds * 1e9 / kJobs, cases.size());
  }
  return 0;
}
