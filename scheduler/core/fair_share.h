// FairShare: the scheduler's in-memory view of how tenants share the fleet. It holds the
// SharingPolicy and the number of jobs assigned or running (leased) per tenant and per
// label value, and answers the JobQueue's Fairness questions (a tenant's (running + 1/2)/weight,
// whether a class is at a limit) plus why a queued job is held back by a limit.
// Counts are kept for every tenant and label value (not only limited ones), so a policy
// reload needs no recount; the Scheduler rebuilds them on recovery from the leased jobs.
// Not thread-safe: the Scheduler owns it and guards it with its lock.
#ifndef KILN_SCHEDULER_CORE_FAIR_SHARE_H_
#define KILN_SCHEDULER_CORE_FAIR_SHARE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "kiln/v1/job.pb.h"
#include "scheduler/core/job_queue.h"
#include "scheduler/core/sharing_policy.h"

namespace kiln::core {

class FairShare : public JobQueue::Fairness {
 public:
  const SharingPolicy& policy() const { return policy_; }
  // Swaps the policy. The caller re-queues the ready jobs: the limited label keys, and
  // with them the queue's classes, may have changed.
  void SetPolicy(SharingPolicy policy) { policy_ = std::move(policy); }

  // The queue class share of a job: its tenant and the values of its limited labels.
  JobQueue::Share ShareOf(const kiln::v1::Job& job) const;
  // A job was leased (+1) or its lease ended (-1).
  void CountRunning(const kiln::v1::Job& job, int sign);
  void Clear();

  // Why the QUEUED `job` may not start now because of a limit ("tenant team-a at its limit
  // of 4 running jobs"); empty when no limit holds it back.
  std::string LimitReason(const kiln::v1::Job& job) const;
  // The same for the jobs of a queue class.
  std::string LimitReason(const JobQueue::Share& share) const;
  // Leased jobs per tenant (tenants with none are absent).
  const absl::flat_hash_map<std::string, int64_t>& running_by_tenant() const {
    return running_by_tenant_;
  }

  // JobQueue::Fairness.
  double Usage(const std::string& tenant) const override;
  bool Blocked(const JobQueue::Share& share) const override;

 private:
  int64_t RunningOf(const std::string& tenant) const;
  int64_t RunningWith(const std::string& key, const std::string& value) const;

  SharingPolicy policy_;
  absl::flat_hash_map<std::string, int64_t> running_by_tenant_;
  std::map<std::pair<std::string, std::string>, int64_t> running_by_label_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_FAIR_SHARE_H_
