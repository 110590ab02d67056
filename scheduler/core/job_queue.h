// JobQueue: the ready QUEUED jobs in memory, indexed by requirement class (task,
// model and requirements; see common/capability_match.h). Placement asks one
// question per class ("can this slot run it?") instead of one per job, and takes
// the best head: highest priority first, then the best rank the caller gives the
// class, then oldest (lowest sequence number).
// Not thread-safe: the Scheduler guards it with its lock.
#ifndef KILN_SCHEDULER_CORE_JOB_QUEUE_H_
#define KILN_SCHEDULER_CORE_JOB_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

class JobQueue {
 public:
  // Adds a job; `seq` orders jobs of equal priority (smaller first).
  void Push(const kiln::v1::JobSpec& spec, uint64_t seq, const std::string& job_id);
  // Removes a job if present; returns whether it was.
  bool Remove(const std::string& job_id);
  // `rank` says whether a class fits a slot (nullopt: it does not) and how well
  // (lower is better), judged on the class's representative spec (task, model,
  // tiers and requirements, no parameters).
  using Rank = std::function<std::optional<int64_t>(const kiln::v1::JobSpec& representative)>;
  // Removes and returns the best job among the fitting classes: highest
  // priority, then lowest rank, then oldest; nullopt when no class fits. With
  // `only_priority`, classes whose best job has another priority are skipped.
  std::optional<std::string> PopBest(const Rank& rank,
                                     std::optional<int> only_priority = std::nullopt);
  // The highest priority among the jobs of the fitting classes.
  std::optional<int> BestPriority(const Rank& rank) const;
  // The most tiers any queued job has (at least 1 when the queue is not empty).
  int MaxTierCount() const;

  size_t size() const { return index_.size(); }
  size_t class_count() const { return classes_.size(); }
  // Jobs per class key, for metrics.
  std::map<std::string, size_t> DepthByClass() const;
  // The id of the job of class `key` that was queued first (lowest sequence number,
  // whatever its priority); nullptr for an unknown class. Costs one look-up per
  // distinct priority in the class.
  const std::string* OldestJobOf(const std::string& key) const;
  // Visits every class: its key, representative spec and number of jobs.
  void ForEachClass(
      const std::function<void(const std::string& key, const kiln::v1::JobSpec& representative,
                               size_t jobs)>& fn) const;

 private:
  using Key = std::tuple<int, uint64_t, std::string>;  // (-priority, seq, id)
  struct Class {
    kiln::v1::JobSpec representative;
    std::set<Key> jobs;
  };
  std::map<std::string, Class> classes_;
  absl::flat_hash_map<std::string, std::pair<std::string, Key>> index_;  // id -> (class, key)
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_JOB_QUEUE_H_
