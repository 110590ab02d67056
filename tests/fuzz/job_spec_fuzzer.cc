// libFuzzer: submitted job specs. An input is a kiln.v1.JobSpec, as JSON when its first
// byte is '{' (the proto3 JSON mapping that JSON and YAML clients produce), else in the
// binary wire format a gRPC SubmitJob carries. Each spec that parses goes through the
// scheduler's submit-time check (core::ValidateJobSpec) and its parameters through every
// task kind's parameter check of the catalog (common/task_catalog.h), which executors
// apply again to what they are sent. Besides not crashing, the contracts of both headers
// are checked: every refusal is InvalidArgument and names the offending field first.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/task_catalog.h"
#include "google/protobuf/util/json_util.h"
#include "kiln/v1/job.pb.h"
#include "scheduler/core/job_validation.h"

namespace {

// Aborts (a finding) with the broken contract on stderr.
void Check(bool ok, const char* what, const absl::Status& status) {
  if (ok) return;
  std::fprintf(stderr, "contract broken: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  kiln::v1::JobSpec spec;
  if (!bytes.empty() && bytes[0] == '{') {
    if (!google::protobuf::util::JsonStringToMessage(bytes, &spec).ok()) return 0;
  } else if (!spec.ParseFromString(bytes)) {
    return 0;
  }

  kiln::core::JobLimits limits;
  const absl::Status status = kiln::core::ValidateJobSpec(spec, limits, "spec");
  if (!status.ok()) {
    Check(status.code() == absl::StatusCode::kInvalidArgument, "ValidateJobSpec code", status);
    Check(absl::StartsWith(status.message(), "spec."), "ValidateJobSpec field", status);
  }

  // The catalog on its own, for every kind, as an executor would run it (both parsers
  // stop nesting at 100 levels, so deep inputs are bounded before they get here).
  if (spec.parameters().ByteSizeLong() > limits.max_parameters_bytes) return 0;
  for (const std::string& task : kiln::KnownTasks()) {
    for (const kiln::TaskLimits& task_limits : {limits.tasks, kiln::TaskLimits::Ceiling()}) {
      const absl::Status s = kiln::ValidateTaskParameters(task, spec.parameters(), task_limits);
      if (s.ok()) continue;
      Check(s.code() == absl::StatusCode::kInvalidArgument, "ValidateTaskParameters code", s);
      Check(absl::StartsWith(s.message(), "parameters"), "ValidateTaskParameters field", s);
    }
  }
  return 0;
}
