#include "scheduler/core/sharing_policy.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::core {
namespace {

bool IsTenantName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<SharingPolicy> SharingPolicy::FromProto(const kiln::v1::SharingPolicy& proto) {
  SharingPolicy policy;
  for (int i = 0; i < proto.tenants_size(); ++i) {
    const kiln::v1::TenantShare& share = proto.tenants(i);
    auto invalid = [&](absl::string_view field, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("tenants[", i, "].", field, ": ", why));
    };
    if (!IsTenantName(share.tenant())) {
      return invalid("tenant", "must be 1..63 characters of [A-Za-z0-9._-]");
    }
    if (!std::isfinite(share.weight()) || share.weight() < 0 || share.weight() > 1000) {
      return invalid("weight", "must be > 0 and at most 1000 (0 or absent means 1)");
    }
    if (share.max_running() < 0) return invalid("max_running", "must be >= 0 (0: no limit)");
    Tenant tenant;
    tenant.weight = share.weight() == 0 ? 1 : share.weight();
    tenant.max_running = share.max_running();
    if (!policy.tenants_.emplace(share.tenant(), tenant).second) {
      return invalid("tenant", absl::StrCat("\"", share.tenant(), "\" is listed twice"));
    }
  }
  for (int i = 0; i < proto.label_limits_size(); ++i) {
    const kiln::v1::LabelLimit& limit = proto.label_limits(i);
    auto invalid = [&](absl::string_view field, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("label_limits[", i, "].", field, ": ", why));
    };
    if (limit.key().empty() || limit.key().size() > 63) {
      return invalid("key", "must be 1..63 characters");
    }
    if (limit.value().empty() || limit.value().size() > 63) {
      return invalid("value", "must be 1..63 characters");
    }
    if (limit.max_running() < 1) return invalid("max_running", "must be >= 1");
    if (!policy.label_limits_
             .emplace(std::make_pair(limit.key(), limit.value()), limit.max_running())
             .second) {
      return invalid("value", absl::StrCat("\"", limit.key(), "\" = \"", limit.value(),
                                           "\" is limited twice"));
    }
    policy.limited_keys_.insert(limit.key());
  }
  return policy;
}

absl::StatusOr<SharingPolicy> SharingPolicy::Parse(absl::string_view json,
                                                   absl::string_view source) {
  kiln::v1::SharingPolicy proto;
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &proto, parse_options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a sharing policy (kiln.v1.SharingPolicy as JSON): ",
                     std::string(parsed.message().data(), parsed.message().size())));
  }
  absl::StatusOr<SharingPolicy> policy = FromProto(proto);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", policy.status().message()));
  }
  return policy;
}

absl::StatusOr<SharingPolicy> SharingPolicy::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the sharing policy"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

double SharingPolicy::Weight(const std::string& tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 1.0 : it->second.weight;
}

int64_t SharingPolicy::TenantLimit(const std::string& tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0 : it->second.max_running;
}

int64_t SharingPolicy::LabelLimit(const std::string& key, const std::string& value) const {
  auto it = label_limits_.find(std::make_pair(key, value));
  return it == label_limits_.end() ? 0 : it->second;
}

}  // namespace kiln::core
