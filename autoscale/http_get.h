// A minimal HTTP/1.0 GET over plain TCP, enough to read a Prometheus /metrics page
// (kiln-scheduler's --metrics-listen). Blocking, bounded by a timeout; any thread.
#ifndef KILN_AUTOSCALE_HTTP_GET_H_
#define KILN_AUTOSCALE_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::autoscale {

// The body of http://<host:port><path>. Unavailable when the server cannot be reached
// or does not answer in time, FailedPrecondition for a status other than 200.
absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& path,
                                    absl::Duration timeout);

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_HTTP_GET_H_
