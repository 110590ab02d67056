// HttpCaller and HttpAuthenticator: who is calling the dashboard's HTTP API, and the
// hook that says so from the bearer token of a request. The HTTP server keeps no token
// table of its own: the scheduler's owner injects the same authenticator the gRPC
// services use (HttpServerOptions::authenticate). Values; any thread.
#ifndef KILN_SCHEDULER_HTTP_HTTP_CALLER_H_
#define KILN_SCHEDULER_HTTP_HTTP_CALLER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kiln/v1/job.pb.h"

namespace kiln::http {

struct HttpCaller {
  // The caller's tenant; a caller that is not an admin sees only this tenant's jobs.
  std::string tenant;
  // Admins see and act on every tenant's jobs.
  bool is_admin = false;
};

// Maps the token of `Authorization: Bearer <token>` (empty when the request has none)
// to a caller. Unauthenticated -> HTTP 401, PermissionDenied -> 403 (e.g. worker tokens).
// Called on civetweb's request threads, concurrently: must be thread-safe.
using HttpAuthenticator = std::function<absl::StatusOr<HttpCaller>(absl::string_view token)>;

// The tenant a job belongs to (compared with HttpCaller::tenant).
using JobTenantFn = std::function<std::string(const kiln::v1::Job& job)>;

// The default until tokens are wired: everyone is an admin of tenant "".
inline absl::StatusOr<HttpCaller> AllowAllAsAdmin(absl::string_view /*token*/) {
  return HttpCaller{.tenant = "", .is_admin = true};
}

// The default until jobs carry a tenant: every job belongs to tenant "".
inline std::string NoJobTenant(const kiln::v1::Job& /*job*/) { return ""; }

}  // namespace kiln::http

#endif  // KILN_SCHEDULER_HTTP_HTTP_CALLER_H_
