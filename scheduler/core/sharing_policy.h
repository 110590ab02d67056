// SharingPolicy: how tenants share the fleet (kiln-scheduler --sharing-policy=FILE):
// per-tenant weights for the weighted fair share and per-tenant and per-label limits on
// the jobs assigned or running at once. A validated, immutable view of the
// kiln.v1.SharingPolicy file; the Scheduler holds a copy (SetSharingPolicy swaps it) and
// asks it under its own lock. Any thread may use a const SharingPolicy.
// See docs/pipelines.md, "Sharing: priorities, fair share, limits".
#ifndef KILN_SCHEDULER_CORE_SHARING_POLICY_H_
#define KILN_SCHEDULER_CORE_SHARING_POLICY_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kiln/v1/sharing.pb.h"

namespace kiln::core {

class SharingPolicy {
 public:
  // The empty policy: every tenant weight 1, no limits.
  SharingPolicy() = default;

  // Validates `proto`; InvalidArgument naming the field (e.g. "tenants[1].weight: ...").
  static absl::StatusOr<SharingPolicy> FromProto(const kiln::v1::SharingPolicy& proto);
  // Parses the JSON form of kiln.v1.SharingPolicy (unknown fields refused); `source`
  // prefixes errors (the file name).
  static absl::StatusOr<SharingPolicy> Parse(absl::string_view json, absl::string_view source);
  // Reads and parses a policy file.
  static absl::StatusOr<SharingPolicy> Load(const std::string& path);

  // The tenant's weight (> 0; 1 when not listed).
  double Weight(const std::string& tenant) const;
  // The tenant's max_running; 0 when it has none.
  int64_t TenantLimit(const std::string& tenant) const;
  // The limit on jobs with labels[key] == value; 0 when none.
  int64_t LabelLimit(const std::string& key, const std::string& value) const;
  // Label keys that have at least one limit (their values split the queue's classes).
  const std::set<std::string>& limited_keys() const { return limited_keys_; }

 private:
  struct Tenant {
    double weight = 1;
    int64_t max_running = 0;
  };
  std::map<std::string, Tenant> tenants_;
  std::map<std::pair<std::string, std::string>, int64_t> label_limits_;
  std::set<std::string> limited_keys_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_SHARING_POLICY_H_
