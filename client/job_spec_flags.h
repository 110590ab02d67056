// Turns the flags of `kilnctl submit` into a JobSpec, and the small value parsers behind
// them (sizes, compute capabilities, architectures, parameters, labels). Pure apart from
// reading the files named by -f and --params-file; any thread.
//
// Precedence, lowest first: the spec file (-f), then --params/--params-file (replace the
// parameters), then each --param (sets one key); scalar flags replace the file's value,
// --label and --input add to the file's (same key/name: the flag wins), --arch replaces
// the file's list.
#ifndef KILN_CLIENT_JOB_SPEC_FLAGS_H_
#define KILN_CLIENT_JOB_SPEC_FLAGS_H_

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/kilnctl_args.h"
#include "google/protobuf/struct.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln::kilnctl {

// A local file that `submit` uploads and adds to JobSpec.inputs under `name`.
struct InputFile {
  std::string name;
  std::string path;
};

// What `submit` does: upload `uploads`, append their BlobRefs to spec.inputs, submit spec.
struct SubmitPlan {
  v1::JobSpec spec;
  std::vector<InputFile> uploads;
};

// The flags that shape a JobSpec (submit adds --wait and --wait-timeout itself).
std::vector<FlagSpec> JobSpecFlags();

// Builds the plan from parsed `submit` arguments; positional()[0] is TASK, which may be
// left out when -f names one. -f takes YAML or JSON (job_spec_yaml.h tells which).
// Errors are INVALID_ARGUMENT (or the file's read error).
absl::StatusOr<SubmitPlan> BuildSubmitPlan(const ParsedArgs& args);

// "24GiB", "24Gi", "512MiB", "1.5GiB" (powers of 1024); "24GB", "24G" (powers of 1000);
// plain digits are bytes. Units are case-insensitive; a space before the unit is fine.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// Compute capability as major*10+minor: "8.0" -> 80, "12.0" -> 120, "9" -> 90,
// "sm_90"/"90" -> 90, "120" -> 120.
absl::StatusOr<int32_t> ParseComputeCapability(absl::string_view text);

// An SM architecture in the form the scheduler stores: "sm_90", "90" -> "sm_90",
// "sm_90a" stays, "SM_120" -> "sm_120".
absl::StatusOr<std::string> ParseArchitecture(absl::string_view text);

// A --param value: JSON when it parses as JSON (numbers, true, null, [..], {..}, "..."),
// otherwise the text as a string.
google::protobuf::Value ParseParamValue(absl::string_view text);

// "key=value" (the value may contain '=' and may be empty); `what` names the flag in errors.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text,
                                                                  absl::string_view what);

// "any", "gpu", "cpu".
absl::StatusOr<v1::Accelerator> ParseAccelerator(absl::string_view text);

// "queued", "assigned", "running", "succeeded", "failed", "cancelled".
absl::StatusOr<v1::JobState> ParseJobState(absl::string_view text);

// Reads a whole file; "-" reads standard input. A file over `max_bytes` is INVALID_ARGUMENT.
absl::StatusOr<std::string> ReadFileOrStdin(
    const std::string& path, int64_t max_bytes = std::numeric_limits<int64_t>::max());

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_JOB_SPEC_FLAGS_H_
