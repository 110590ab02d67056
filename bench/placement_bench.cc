// Cost of one placement decision (JobQueue::PopBest with the scheduler's real
// rank: FirstFittingTier + Specificity against an sm_86 slot) as the queue grows,
// jobs spread over a fixed number of requirement classes. The point: the cost
// follows the number of classes, not the number of queued jobs. With tenants, jobs
// are spread over them too and PopBest applies the weighted fair share (a Fairness
// that counts what each tenant took), as the scheduler does with a sharing policy.
//
//   placement_bench [--runs=R]
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/capability_match.h"
#include "common/device_features.h"
#include "scheduler/core/job_queue.h"

namespace {

kiln::v1::JobSpec ClassSpec(int c) {
  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  // 16 classes: compute capability floors and memory bands, some unplaceable here.
  spec.mutable_requirements()->set_min_compute_capability(c % 4 == 0 ? 0 : 70 + 5 * (c % 8));
  spec.mutable_requirements()->set_min_device_memory_bytes(int64_t{(c / 4) * 8} << 30);
  return spec;
}

// The fair share as the scheduler's FairShare computes it: taken jobs / weight (tenant i
// has weight i + 1), no limits.
class CountingFairness : public kiln::core::JobQueue::Fairness {
 public:
  double Usage(const std::string& tenant) const override {
    auto it = taken_.find(tenant);
    return it == taken_.end() ? 0 : it->second / (1.0 + (tenant.back() - '0'));
  }
  bool Blocked(const kiln::core::JobQueue::Share&) const override { return false; }
  void Took(const std::string& tenant) { ++taken_[tenant]; }

 private:
  std::map<std::string, double> taken_;
};

double MedianNanosPerDecision(int jobs, int classes, int runs, int tenants = 0) {
  kiln::v1::Device device;
  device.set_id("cuda:0");
  device.set_compute_capability(86);
  device.set_total_memory_bytes(int64_t{24} << 30);
  device.set_runnable(true);
  for (const std::string& f : kiln::FeaturesForComputeCapability(86)) device.add_features(f);
  kiln::v1::Slot slot;
  slot.set_device_id("cuda:0");
  slot.add_tasks("mesh.extract");
  const kiln::core::JobQueue::Rank rank =
      [&](const kiln::v1::JobSpec& spec) -> std::optional<int64_t> {
    const int tier = kiln::FirstFittingTier(device, slot, spec);
    if (tier < 0) return std::nullopt;
    return int64_t{tier} * 1000 - kiln::Specificity(kiln::TierRequirements(spec, tier));
  };
  std::vector<double> samples;
  for (int r = 0; r < runs; ++r) {
    kiln::core::JobQueue queue;
    for (int i = 0; i < jobs; ++i) {
      kiln::core::JobQueue::Share share;
      if (tenants > 0) share.tenant = absl::StrCat("t", (i / classes) % tenants);
      queue.Push(ClassSpec(i % classes), static_cast<uint64_t>(i), absl::StrCat("j-", i), share);
    }
    CountingFairness fairness;
    constexpr int kDecisions = 2000;
    const absl::Time start = absl::Now();
    int placed = 0;
    for (int d = 0; d < kDecisions; ++d) {
      if (tenants == 0) {
        if (queue.PopBest(rank).has_value()) ++placed;
        continue;
      }
      const std::optional<std::string> job = queue.PopBest(rank, std::nullopt, &fairness);
      if (!job.has_value()) continue;
      ++placed;
      // Job ids are j-<i>: the tenant follows from i as in Push.
      int i = 0;
      absl::SimpleAtoi(job->substr(2), &i);
      fairness.Took(absl::StrCat("t", (i / classes) % tenants));
    }
    const absl::Duration took = absl::Now() - start;
    if (placed == 0) std::abort();
    samples.push_back(absl::ToDoubleNanoseconds(took) / kDecisions);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--runs=", 0) == 0) absl::SimpleAtoi(arg.substr(7), &runs);
  }
  std::printf("%10s %8s %18s\n", "queued", "classes", "ns per decision");
  for (int jobs : {10'000, 100'000, 1'000'000}) {
    std::printf("%10d %8d %18.0f\n", jobs, 16, MedianNanosPerDecision(jobs, 16, runs));
  }
  std::printf("%10d %8d %18.0f\n", 100'000, 64, MedianNanosPerDecision(100'000, 64, runs));
  // Weighted fair share: 16 requirement classes x 4 tenants = 64 queue classes.
  std::printf("%10s %8s %8s %18s\n", "queued", "classes", "tenants", "ns per decision");
  for (int jobs : {10'000, 100'000, 1'000'000}) {
    std::printf("%10d %8d %8d %18.0f\n", jobs, 64, 4, MedianNanosPerDecision(jobs, 16, runs, 4));
  }
  return 0;
}
