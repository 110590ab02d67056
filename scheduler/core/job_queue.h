// JobQueue: the ready QUEUED jobs in memory, indexed by class: requirement class (task,
// model and requirements; see common/capability_match.h) plus the job's Share (tenant and
// the values of labels that have limits), so every class is homogeneous for the sharing
// policy. Placement asks one question per class ("can this slot run it?") instead of one
// per job. Without a Fairness it takes the best head: highest priority first, then the
// best rank the caller gives the class, then oldest (lowest sequence number). With one,
// it first picks the tenant (lowest (running + 1/2)/weight among tenants with a fitting class
// not at a limit; ties: the one whose best job is oldest), then that order within it.
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
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

class JobQueue {
 public:
  // What the sharing policy needs to know of a class (all its jobs have the same).
  struct Share {
    std::string tenant;
    // (key, value) of the job's labels whose key has a limit, sorted by key.
    std::vector<std::pair<std::string, std::string>> limited_labels;
  };
  // The fair share between tenants, asked during PopBest/BestPick (under the caller's lock).
  class Fairness {
   public:
    virtual ~Fairness() = default;
    // The tenant's usage, e.g. (running jobs + 1/2) / weight: the lowest is served first.
    virtual double Usage(const std::string& tenant) const = 0;
    // Whether the class's jobs must not start now (its tenant or a label at its limit).
    virtual bool Blocked(const Share& share) const = 0;
  };
  // What PopBest would take, as BestPick tells it.
  struct Pick {
    std::string tenant;
    int priority = 0;
  };

  // The class key of a job: RequirementClassKey, plus the share when it is not empty.
  static std::string ClassKey(const kiln::v1::JobSpec& spec, const Share& share);
  // Adds a job; `seq` orders jobs of equal priority (smaller first).
  void Push(const kiln::v1::JobSpec& spec, uint64_t seq, const std::string& job_id,
            Share share = {});
  // Removes a job if present; returns whether it was.
  bool Remove(const std::string& job_id);
  // `rank` says whether a class fits a slot (nullopt: it does not) and how well
  // (lower is better), judged on the class's representative spec (task, model,
  // tiers and requirements, no parameters).
  using Rank = std::function<std::optional<int64_t>(const kiln::v1::JobSpec& representative)>;
  // Removes and returns the best job among the fitting classes (see the top comment;
  // `fairness` may be null); nullopt when no class fits. With `only`, classes of another
  // tenant (with a fairness) or whose best job has another priority are skipped.
  std::optional<std::string> PopBest(const Rank& rank, std::optional<Pick> only = std::nullopt,
                                     const Fairness* fairness = nullptr);
  // The tenant and priority of the job PopBest(rank, nullopt, fairness) would take.
  std::optional<Pick> BestPick(const Rank& rank, const Fairness* fairness = nullptr) const;
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
  // The share of class `key`; nullptr for an unknown class.
  const Share* ShareOf(const std::string& key) const;
  // Visits every class: its key, representative spec and number of jobs.
  void ForEachClass(
      const std::function<void(const std::string& key, const kiln::v1::JobSpec& representative,
                               size_t jobs)>& fn) const;

 private:
  using Key = std::tuple<int, uint64_t, std::string>;  // (-priority, seq, id)
  struct Class {
    kiln::v1::JobSpec representative;
    Share share;
    std::set<Key> jobs;
  };
  struct Choice {
    const Class* cls = nullptr;
    const Key* head = nullptr;
  };
  Choice Choose(const Rank& rank, const std::optional<Pick>& only, const Fairness* fairness) const;
  using ClassMap = std::map<std::string, Class>;
  ClassMap classes_;
  // id -> its class and its entry there, by iterator (std::map's and std::set's stay
  // valid), so a million queued jobs hold no copies of their class keys or entries.
  absl::flat_hash_map<std::string, std::pair<ClassMap::iterator, std::set<Key>::iterator>> index_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_JOB_QUEUE_H_
