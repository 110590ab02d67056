// Validation of submitted job specs against the farm's explicit limits. Pure;
// every error is InvalidArgument whose message starts with the offending field
// (e.g. "spec.parameters.resolution: ..."), so clients can point at it.
#ifndef KILN_SCHEDULER_CORE_JOB_VALIDATION_H_
#define KILN_SCHEDULER_CORE_JOB_VALIDATION_H_

#include <string_view>

#include "absl//status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/task_catalog.h"
#include "kiln/v1/job.pb.h"

namespace kiln::core {

struct JobLimits {
  int max_batch_size = 1000;               // specs per SubmitJobs
  int max_labels = 32;                     // labels per job
  size_t max_label_length = 63;            // of a key and of a value
  int max_inputs = 64;                     // input blobs per job
  size_t max_parameters_bytes = 64 << 10;  // serialized parameters
  int max_parameters_depth = 32;           // nesting of structs and lists
  size_t max_request_id_length = 128;
  int max_attempts = 100;
  int max_priority = 1000;  // |priority|
  absl::Duration max_timeout = absl::Hours(24 * 7);
  int max_dependencies = 64;        // JobSpec.dependencies per job
  int max_children_per_job = 1000;  // SubmitChildJobs children of one parent, all calls
  TaskLimits tasks;
};

// True for names made of [A-Za-z0-9._-], 1..max_length long (ids, blob names).
bool IsSafeName(absl::string_view name, size_t max_length);

// True for "j-" followed by 16 lower-case hex digits.
bool IsJobIdShape(absl::string_view id);

// True for a model reference: "name", or "name@version", both safe names.
bool IsModelRef(absl::string_view ref);

// `field` prefixes the messages: "spec" for SubmitJob, "specs[3]" for SubmitJobs.
absl::Status ValidateJobSpec(const kiln::v1::JobSpec& spec, const JobLimits& limits,
                             absl::string_view field);

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_JOB_VALIDATION_H_
