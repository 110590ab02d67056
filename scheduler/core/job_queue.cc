#include "scheduler/core/job_queue.h"

#include <algorithm>

#include "common/capability_match.h"

namespace kiln::core {

void JobQueue::Push(const kiln::v1::JobSpec& spec, uint64_t seq, const std::string& job_id) {
  if (index_.contains(job_id)) return;
  std::string class_key = RequirementClassKey(spec);
  Class& cls = classes_[class_key];
  if (cls.jobs.empty()) {
    cls.representative.set_task(spec.task());
    cls.representative.set_model(spec.model());
    *cls.representative.mutable_requirements() = spec.requirements();
    for (const kiln::v1::Tier& tier : spec.tiers()) {
      kiln::v1::Tier* copy = cls.representative.add_tiers();
      copy->set_name(tier.name());
      copy->set_model(tier.model());
      *copy->mutable_requirements() = tier.requirements();
    }
  }
  Key key{-spec.priority(), seq, job_id};
  cls.jobs.insert(key);
  index_.emplace(job_id, std::make_pair(std::move(class_key), std::move(key)));
}

bool JobQueue::Remove(const std::string& job_id) {
  auto it = index_.find(job_id);
  if (it == index_.end()) return false;
  auto cls = classes_.find(it->second.first);
  cls->second.jobs.erase(it->second.second);
  if (cls->second.jobs.empty()) classes_.erase(cls);
  index_.erase(it);
  return true;
}

std::optional<std::string> JobQueue::PopBest(const Rank& rank, std::optional<int> only_priority) {
  const Key* best = nullptr;
  int64_t best_rank = 0;
  for (const auto& [class_key, cls] : classes_) {
    const Key& head = *cls.jobs.begin();
    if (only_priority.has_value() && -std::get<0>(head) != *only_priority) continue;
    // Ask about the class only when its head could still win on priority.
    if (best != nullptr && std::get<0>(head) > std::get<0>(*best)) continue;
    const std::optional<int64_t> r = rank(cls.representative);
    if (!r.has_value()) continue;
    if (best == nullptr || std::tie(std::get<0>(head), *r, std::get<1>(head)) <
                               std::tie(std::get<0>(*best), best_rank, std::get<1>(*best))) {
      best = &head;
      best_rank = *r;
    }
  }
  if (best == nullptr) return std::nullopt;
  std::string job_id = std::get<2>(*best);
  Remove(job_id);
  return job_id;
}

std::map<std::string, size_t> JobQueue::DepthByClass() const {
  std::map<std::string, size_t> depth;
  for (const auto& [class_key, cls] : classes_) depth[class_key] = cls.jobs.size();
  return depth;
}

std::optional<int> JobQueue::BestPriority(const Rank& rank) const {
  std::optional<int> best;
  for (const auto& [class_key, cls] : classes_) {
    const int priority = -std::get<0>(*cls.jobs.begin());
    if (best.has_value() && priority <= *best) continue;
    if (rank(cls.representative).has_value()) best = priority;
  }
  return best;
}

int JobQueue::MaxTierCount() const {
  int most = 0;
  for (const auto& [class_key, cls] : classes_) {
    most = std::max(most, std::max(1, cls.representative.tiers_size()));
  }
  return most;
}

const std::string* JobQueue::OldestJobOf(const std::string& key) const {
  auto it = classes_.find(key);
  if (it == classes_.end() || it->second.jobs.empty()) return nullptr;
  const std::set<Key>& jobs = it->second.jobs;
  // Keys sort by (-priority, seq): the oldest job is the head of one priority's run.
  const Key* oldest = nullptr;
  for (auto job = jobs.begin(); job != jobs.end();
       job = jobs.lower_bound(Key{std::get<0>(*job) + 1, 0, std::string()})) {
    if (oldest == nullptr || std::get<1>(*job) < std::get<1>(*oldest)) oldest = &*job;
  }
  return &std::get<2>(*oldest);
}

void JobQueue::ForEachClass(
    const std::function<void(const std::string&, const kiln::v1::JobSpec&, size_t)>& fn) const {
  for (const auto& [class_key, cls] : classes_) fn(class_key, cls.representative, cls.jobs.size());
}

}  // namespace kiln::core
