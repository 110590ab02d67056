// Queue demand as the scheduler exports it: the kiln_queue_jobs gauge of kiln-scheduler's
// /metrics (ready queued jobs per requirement class: labels task, accelerator, min_cc,
// memory, placement; docs/monitoring.md). kiln-autoscale reads it rather than a new RPC,
// so the autoscaler, KEDA and an HPA all scale on the very same figures. Pure, any thread.
#ifndef KILN_AUTOSCALE_QUEUE_DEMAND_H_
#define KILN_AUTOSCALE_QUEUE_DEMAND_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::autoscale {

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of metric `name` in a Prometheus text exposition (version 0.0.4).
// InvalidArgument with the line number for a malformed line of that metric; other
// metrics' lines are skipped unread.
absl::StatusOr<std::vector<Sample>> ParseMetricSamples(absl::string_view exposition,
                                                       absl::string_view name);

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_QUEUE_DEMAND_H_
