#include "scheduler/core/job_queue.h"

#include <algorithm>
#include <string_view>

#include "common/capability_match.h"

namespace kiln::core {

std::string JobQueue::ClassKey(const kiln::v1::JobSpec& spec, const Share& share) {
  std::string key = RequirementClassKey(spec);
  if (share.tenant.empty() && share.limited_labels.empty()) return key;
  // NUL cannot occur in the requirement key's text form, tenants or label keys; values
  // (any UTF-8) go length-prefixed so that no value can pose as another label.
  const std::string separator("\0", 1);
  key += separator + "t=" + share.tenant;
  for (const auto& [label, value] : share.limited_labels) {
    key += separator + "l=" + label + "=" + std::to_string(value.size()) + ":" + value;
  }
  return key;
}

void JobQueue::Push(const kiln::v1::JobSpec& spec, uint64_t seq, const std::string& job_id,
                    Share share) {
  auto [entry, inserted] = index_.try_emplace(job_id);
  if (!inserted) return;
  const ClassMap::iterator cls_it = classes_.try_emplace(ClassKey(spec, share)).first;
  Class& cls = cls_it->second;
  if (cls.jobs.empty()) {
    cls.share = std::move(share);
    cls.representative.Clear();
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
  entry->second = {cls_it, cls.jobs.insert(Key{-spec.priority(), seq, job_id}).first};
}

bool JobQueue::Remove(const std::string& job_id) {
  auto it = index_.find(job_id);
  if (it == index_.end()) return false;
  const ClassMap::iterator cls = it->second.first;
  cls->second.jobs.erase(it->second.second);
  if (cls->second.jobs.empty()) classes_.erase(cls);
  index_.erase(it);
  return true;
}

JobQueue::Choice JobQueue::Choose(const Rank& rank, const std::optional<Pick>& only,
                                  const Fairness* fairness) const {
  // The best (priority, rank, seq) per tenant (one group when there is no fairness).
  struct Best {
    Choice choice;
    int64_t rank = 0;
  };
  std::map<std::string_view, Best> best;
  const std::string no_tenant;
  for (const auto& [class_key, cls] : classes_) {
    const Key& head = *cls.jobs.begin();
    if (only.has_value()) {
      if (-std::get<0>(head) != only->priority) continue;
      if (fairness != nullptr && cls.share.tenant != only->tenant) continue;
    }
    if (fairness != nullptr && fairness->Blocked(cls.share)) continue;
    Best& group = best[fairness != nullptr ? std::string_view(cls.share.tenant) : no_tenant];
    // Ask about the class only when its head could still win on priority.
    if (group.choice.head != nullptr && std::get<0>(head) > std::get<0>(*group.choice.head)) {
      continue;
    }
    const std::optional<int64_t> r = rank(cls.representative);
    if (!r.has_value()) continue;
    if (group.choice.head == nullptr || std::tie(std::get<0>(head), *r, std::get<1>(head)) <
                                            std::tie(std::get<0>(*group.choice.head), group.rank,
                                                     std::get<1>(*group.choice.head))) {
      group.choice = Choice{&cls, &head};
      group.rank = *r;
    }
  }
  // The tenant furthest below its share; ties: the one whose best job is oldest.
  Choice chosen;
  double chosen_usage = 0;
  for (const auto& [tenant, group] : best) {
    if (group.choice.head == nullptr) continue;
    const double usage = fairness != nullptr ? fairness->Usage(std::string(tenant)) : 0;
    if (chosen.head == nullptr || usage < chosen_usage ||
        (usage == chosen_usage && std::get<1>(*group.choice.head) < std::get<1>(*chosen.head))) {
      chosen = group.choice;
      chosen_usage = usage;
    }
  }
  return chosen;
}

std::optional<std::string> JobQueue::PopBest(const Rank& rank, std::optional<Pick> only,
                                             const Fairness* fairness) {
  const Choice chosen = Choose(rank, only, fairness);
  if (chosen.head == nullptr) return std::nullopt;
  std::string job_id = std::get<2>(*chosen.head);
  Remove(job_id);
  return job_id;
}

std::optional<JobQueue::Pick> JobQueue::BestPick(const Rank& rank, const Fairness* fairness) const {
  const Choice chosen = Choose(rank, std::nullopt, fairness);
  if (chosen.head == nullptr) return std::nullopt;
  return Pick{chosen.cls->share.tenant, -std::get<0>(*chosen.head)};
}

std::map<std::string, size_t> JobQueue::DepthByClass() const {
  std::map<std::string, size_t> depth;
  for (const auto& [class_key, cls] : classes_) depth[class_key] = cls.jobs.size();
  return depth;
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

const JobQueue::Share* JobQueue::ShareOf(const std::string& key) const {
  auto it = classes_.find(key);
  return it == classes_.end() ? nullptr : &it->second.share;
}

void JobQueue::ForEachClass(
    const std::function<void(const std::string&, const kiln::v1::JobSpec&, size_t)>& fn) const {
  for (const auto& [class_key, cls] : classes_) fn(class_key, cls.representative, cls.jobs.size());
}

}  // namespace kiln::core
