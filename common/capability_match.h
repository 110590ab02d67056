// Capability matching: can a worker's slot, on its device, run a job? Pure
// functions shared by the scheduler's placement and by tests; the worker's
// advertisement (kiln.v1.WorkerCapabilities) is the only input besides the spec.
#ifndef KILN_COMMON_CAPABILITY_MATCH_H_
#define KILN_COMMON_CAPABILITY_MATCH_H_

#include <string>

#include "kiln/v1/capability.pb.h"
#include "kiln/v1/job.pb.h"

namespace kiln {

// "sm_90" for compute capability 90; empty for CPUs (0).
std::string ArchitectureName(int compute_capability);

// Empty when `slot` on `device` can run `spec`; otherwise why not, for the
// job's pending reason (e.g. "device cpu is not a GPU").
std::string WhyCannotRun(const kiln::v1::Device& device, const kiln::v1::Slot& slot,
                         const kiln::v1::JobSpec& spec);

// A stable key of everything placement looks at (task and requirements): jobs
// with equal keys fit exactly the same slots, so the queue indexes by it.
std::string RequirementClassKey(const kiln::v1::JobSpec& spec);

}  // namespace kiln

#endif  // KILN_COMMON_CAPABILITY_MATCH_H_
