#include "scheduler/core/fair_share.h"

#include "absl/strings/str_cat.h"
#include "scheduler/auth/caller.h"

namespace kiln::core {

JobQueue::Share FairShare::ShareOf(const kiln::v1::Job& job) const {
  JobQueue::Share share;
  share.tenant = auth::EffectiveTenant(job.tenant());
  for (const std::string& key : policy_.limited_keys()) {  // sorted: a stable class key
    auto label = job.spec().labels().find(key);
    if (label != job.spec().labels().end()) share.limited_labels.emplace_back(key, label->second);
  }
  return share;
}

void FairShare::CountRunning(const kiln::v1::Job& job, int sign) {
  const std::string tenant = auth::EffectiveTenant(job.tenant());
  if ((running_by_tenant_[tenant] += sign) <= 0) running_by_tenant_.erase(tenant);
  for (const auto& [key, value] : job.spec().labels()) {
    auto it = running_by_label_.try_emplace({key, value}, 0).first;
    if ((it->second += sign) <= 0) running_by_label_.erase(it);
  }
}

void FairShare::Clear() {
  running_by_tenant_.clear();
  running_by_label_.clear();
}

int64_t FairShare::RunningOf(const std::string& tenant) const {
  auto it = running_by_tenant_.find(tenant);
  return it == running_by_tenant_.end() ? 0 : it->second;
}

int64_t FairShare::RunningWith(const std::string& key, const std::string& value) const {
  auto it = running_by_label_.find({key, value});
  return it == running_by_label_.end() ? 0 : it->second;
}

double FairShare::Usage(const std::string& tenant) const {
  // (running + 1/2) / weight, the Sainte-Laguë rule: slots go out in proportion to the
  // weights, and weights count from the first slot (with nothing running, the heavier
  // tenant goes first; plain running / weight would tie every idle tenant at 0).
  return (static_cast<double>(RunningOf(tenant)) + 0.5) / policy_.Weight(tenant);
}

bool FairShare::Blocked(const JobQueue::Share& share) const {
  const int64_t tenant_limit = policy_.TenantLimit(share.tenant);
  if (tenant_limit > 0 && RunningOf(share.tenant) >= tenant_limit) return true;
  for (const auto& [key, value] : share.limited_labels) {
    const int64_t limit = policy_.LabelLimit(key, value);
    if (limit > 0 && RunningWith(key, value) >= limit) return true;
  }
  return false;
}

std::string FairShare::LimitReason(const kiln::v1::Job& job) const {
  return LimitReason(ShareOf(job));
}

std::string FairShare::LimitReason(const JobQueue::Share& share) const {
  const int64_t tenant_limit = policy_.TenantLimit(share.tenant);
  if (tenant_limit > 0 && RunningOf(share.tenant) >= tenant_limit) {
    return absl::StrCat("waiting: tenant ", share.tenant, " at its limit of ", tenant_limit,
                        " running job", tenant_limit == 1 ? "" : "s", " (sharing policy)");
  }
  for (const auto& [key, value] : share.limited_labels) {
    const int64_t limit = policy_.LabelLimit(key, value);
    if (limit > 0 && RunningWith(key, value) >= limit) {
      return absl::StrCat("waiting: label ", key, "=", value, " at its limit of ", limit,
                          " running job", limit == 1 ? "" : "s", " (sharing policy)");
    }
  }
  return "";
}

}  // namespace kiln::core
