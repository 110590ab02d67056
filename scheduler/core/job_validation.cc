#include "scheduler/core/job_validation.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/capability_match.h"
#include "common/device_features.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace kiln::core {
namespace {

constexpr char kModelRefRule[] =
    "must be a model name, or name@version, of [A-Za-z0-9._-] (name up to 128 characters, "
    "version up to 64)";

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

int Depth(const google::protobuf::Value& value);

int Depth(const google::protobuf::Struct& s) {
  int depth = 0;
  for (const auto& [key, value] : s.fields()) depth = std::max(depth, Depth(value));
  return depth + 1;
}

int Depth(const google::protobuf::Value& value) {
  if (value.has_struct_value()) return Depth(value.struct_value());
  if (value.has_list_value()) {
    int depth = 0;
    for (const auto& item : value.list_value().values()) depth = std::max(depth, Depth(item));
    return depth + 1;
  }
  return 0;
}

bool IsArchitecture(absl::string_view arch) {
  int number = 0;
  return absl::StartsWith(arch, "sm_") && absl::SimpleAtoi(arch.substr(3), &number) &&
         number >= 10 && number <= 999;
}

absl::Status ValidateRequirements(const kiln::v1::Requirements& req, const std::string& f) {
  if (!kiln::v1::Accelerator_IsValid(req.accelerator())) {
    return Invalid(f + ".accelerator", "unknown value");
  }
  if (req.min_compute_capability() < 0 || req.min_compute_capability() > 999) {
    return Invalid(f + ".min_compute_capability", "must be 0..999 (major*10+minor)");
  }
  if (req.max_compute_capability() < 0 || req.max_compute_capability() > 999) {
    return Invalid(f + ".max_compute_capability", "must be 0..999 (major*10+minor)");
  }
  if (req.max_compute_capability() > 0 &&
      req.max_compute_capability() < req.min_compute_capability()) {
    return Invalid(f + ".max_compute_capability", "below min_compute_capability");
  }
  for (int i = 0; i < req.architectures_size(); ++i) {
    if (!IsArchitecture(req.architectures(i))) {
      return Invalid(absl::StrCat(f, ".architectures[", i, "]"),
                     absl::StrCat("\"", req.architectures(i), "\" is not like sm_90"));
    }
  }
  for (int i = 0; i < req.features_size(); ++i) {
    if (!IsKnownFeature(req.features(i))) {
      return Invalid(absl::StrCat(f, ".features[", i, "]"),
                     absl::StrCat("unknown feature \"", req.features(i),
                                  "\" (known: ", absl::StrJoin(KnownFeatures(), ", "), ")"));
    }
  }
  if (req.min_device_memory_bytes() < 0) {
    return Invalid(f + ".min_device_memory_bytes", "must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSafeName(absl::string_view name, size_t max_length) {
  if (name.empty() || name.size() > max_length) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

bool IsModelRef(absl::string_view ref) {
  const size_t at = ref.find('@');
  if (at == absl::string_view::npos) return IsSafeName(ref, 128);
  return IsSafeName(ref.substr(0, at), 128) && IsSafeName(ref.substr(at + 1), 64);
}

namespace {

// The shape of each dependency; whether the named jobs exist (and that a batch index
// names an earlier spec) is the scheduler's to check.
absl::Status ValidateDependencies(const kiln::v1::JobSpec& spec, const JobLimits& limits,
                                  const std::string& f) {
  if (spec.dependencies_size() > limits.max_dependencies) {
    return Invalid(f + ".dependencies",
                   absl::StrCat("more than the limit of ", limits.max_dependencies));
  }
  for (int j = 0; j < spec.dependencies_size(); ++j) {
    const kiln::v1::Dependency& dep = spec.dependencies(j);
    const std::string at = absl::StrCat(f, ".dependencies[", j, "]");
    switch (dep.target_case()) {
      case kiln::v1::Dependency::kJobId:
        if (!IsJobIdShape(dep.job_id())) {
          return Invalid(at + ".job_id", absl::StrCat("\"", dep.job_id().substr(0, 40),
                                                      "\" is not a job id (j-<16 hex>)"));
        }
        break;
      case kiln::v1::Dependency::kBatchIndex:
        if (dep.batch_index() < 0) return Invalid(at + ".batch_index", "must be >= 0");
        break;
      default:
        return Invalid(at, "set job_id or batch_index");
    }
    if (!dep.input_prefix().empty() && !IsSafeName(dep.input_prefix(), 64)) {
      return Invalid(at + ".input_prefix", "must be 0..64 characters of [A-Za-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsJobIdShape(absl::string_view id) {
  if (id.size() != 18 || id.substr(0, 2) != "j-") return false;
  for (char c : id.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status ValidateJobSpec(const kiln::v1::JobSpec& spec, const JobLimits& limits,
                             absl::string_view field) {
  const std::string f(field);
  if (spec.task().empty()) return Invalid(f + ".task", "required");
  if (!IsKnownTask(spec.task())) {
    // The catalog's message lists the known kinds.
    absl::Status s = ValidateTaskParameters(spec.task(), spec.parameters(), limits.tasks);
    return absl::InvalidArgumentError(absl::StrCat(f, ".", s.message()));
  }
  if (!spec.model().empty() && !IsModelRef(spec.model())) {
    return Invalid(f + ".model", kModelRefRule);
  }
  if (spec.parameters().ByteSizeLong() > limits.max_parameters_bytes) {
    return Invalid(f + ".parameters", absl::StrCat("larger than the limit of ",
                                                   limits.max_parameters_bytes, " bytes"));
  }
  if (Depth(spec.parameters()) > limits.max_parameters_depth) {
    return Invalid(f + ".parameters",
                   absl::StrCat("nested deeper than the limit of ", limits.max_parameters_depth));
  }
  // With tiers, each tier's merged parameters are checked below instead.
  if (spec.tiers().empty()) {
    if (absl::Status s = ValidateTaskParameters(spec.task(), spec.parameters(), limits.tasks);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(f, ".", s.message()));
    }
  }
  if (spec.inputs_size() > limits.max_inputs) {
    return Invalid(f + ".inputs", absl::StrCat("more than the limit of ", limits.max_inputs));
  }
  for (int i = 0; i < spec.inputs_size(); ++i) {
    const kiln::v1::BlobRef& input = spec.inputs(i);
    const std::string at = absl::StrCat(f, ".inputs[", i, "]");
    if (!IsSafeName(input.name(), 128)) {
      return Invalid(at + ".name", "must be 1..128 characters of [A-Za-z0-9._-]");
    }
    for (int j = 0; j < i; ++j) {
      if (spec.inputs(j).name() == input.name()) return Invalid(at + ".name", "duplicate name");
    }
    if (!IsSha256Hex(input.sha256())) {
      return Invalid(at + ".sha256", "must be 64 lower-case hex digits");
    }
  }
  if (spec.tiers_size() > kMaxTiers) {
    return Invalid(f + ".tiers", absl::StrCat("more than the limit of ", kMaxTiers));
  }
  if (spec.tiers().empty()) {
    KILN_RETURN_IF_ERROR(ValidateRequirements(spec.requirements(), f + ".requirements"));
  }
  for (int i = 0; i < spec.tiers_size(); ++i) {
    const kiln::v1::Tier& tier = spec.tiers(i);
    const std::string at = absl::StrCat(f, ".tiers[", i, "]");
    if (!tier.name().empty() && !IsSafeName(tier.name(), 63)) {
      return Invalid(at + ".name", "must be 1..63 characters of [A-Za-z0-9._-]");
    }
    if (!tier.model().empty() && !IsModelRef(tier.model())) {
      return Invalid(at + ".model", kModelRefRule);
    }
    KILN_RETURN_IF_ERROR(ValidateRequirements(tier.requirements(), at + ".requirements"));
    if (tier.parameters().ByteSizeLong() > limits.max_parameters_bytes ||
        Depth(tier.parameters()) > limits.max_parameters_depth) {
      return Invalid(at + ".parameters", "larger or deeper than the parameter limits");
    }
    // What the tier runs must be valid for the task too.
    if (absl::Status s = ValidateTaskParameters(spec.task(), TierParameters(spec, i), limits.tasks);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".", s.message()));
    }
  }
  if (spec.priority() < -limits.max_priority || spec.priority() > limits.max_priority) {
    return Invalid(f + ".priority", absl::StrCat("must be within -", limits.max_priority, "..",
                                                 limits.max_priority));
  }
  if (spec.max_attempts() < 0 || spec.max_attempts() > limits.max_attempts) {
    return Invalid(f + ".max_attempts", absl::StrCat("must be 0..", limits.max_attempts));
  }
  const absl::Duration timeout = FromProtoDuration(spec.timeout());
  if (timeout < absl::ZeroDuration() || timeout > limits.max_timeout) {
    return Invalid(f + ".timeout",
                   absl::StrCat("must be 0..", absl::FormatDuration(limits.max_timeout)));
  }
  if (spec.labels_size() > limits.max_labels) {
    return Invalid(f + ".labels", absl::StrCat("more than the limit of ", limits.max_labels));
  }
  for (const auto& [key, value] : spec.labels()) {
    if (!IsSafeName(key, limits.max_label_length)) {
      return Invalid(absl::StrCat(f, ".labels[\"", key.substr(0, 64), "\"]"),
                     absl::StrCat("key must be 1..", limits.max_label_length,
                                  " characters of [A-Za-z0-9._-]"));
    }
    if (value.size() > limits.max_label_length) {
      return Invalid(absl::StrCat(f, ".labels[\"", key, "\"]"),
                     absl::StrCat("value longer than ", limits.max_label_length));
    }
  }
  if (spec.client_request_id().size() > limits.max_request_id_length) {
    return Invalid(f + ".client_request_id",
                   absl::StrCat("longer than ", limits.max_request_id_length));
  }
  return ValidateDependencies(spec, limits, f);
}

}  // namespace kiln::core
