// DashboardApi: the dashboard's HTTP API (JSON under /api/v1/) and its single-page app
// (the embedded web assets), as a function from a parsed request to a response. It
// reads and acts through core::Scheduler and store::BlobStore directly (no gRPC
// loopback), applies the same caller rules as the gRPC services through the injected
// HttpAuthenticator, and never scans the whole store for a request: job lists are
// pages of the scheduler's newest-first index bounded by SchedulerOptions::max_list_scan;
// fleet and queue are O(workers) and O(requirement classes).
//
// Endpoints (docs/dashboard.md):
//   GET  /api/v1/whoami                          the caller (tenant, admin)
//   GET  /api/v1/fleet                           workers, and devices by architecture
//   GET  /api/v1/queue                           requirement classes, counters, throughput
//   GET  /api/v1/jobs?state=&tenant=&label=k=v&model=&page_size=&page_token=
//   GET  /api/v1/jobs/{id}                       one job (attempts, outputs, progress)
//   GET  /api/v1/jobs/{id}/log?attempt=&offset=  live tail of an attempt's output
//   GET  /api/v1/jobs/{id}/files/{sha256}[?download=1]  an input, output or log blob
//   POST /api/v1/jobs/{id}/cancel                cancel (admin or the job's tenant)
//   POST /api/v1/jobs/{id}/retry                 resubmit its spec as a new job
// JSON answers carry an ETag and honour If-None-Match (304), for cheap polling. A POST
// whose Origin is not this server's is refused (403): without tokens wired, no other site
// may make a browser cancel or retry jobs here.
// Errors: {"error":{"code","message","parameter"}} with 400 (bad parameter, named),
// 401, 403, 404, 409, 503.
//
// Ownership: borrows the scheduler and blob store (both outlive it). Threads: Handle
// may be called from many threads at once (civetweb's workers); cancel, retry and log
// reads wait (bounded by call_timeout) for the scheduler's completion callback.
#ifndef KILN_SCHEDULER_HTTP_DASHBOARD_API_H_
#define KILN_SCHEDULER_HTTP_DASHBOARD_API_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/http_caller.h"
#include "scheduler/store/blob_store.h"

namespace kiln::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded URL path, e.g. "/api/v1/jobs"
  // Decoded query parameters in order (a name may repeat, e.g. label).
  std::vector<std::pair<std::string, std::string>> query;
  std::string authorization;  // the Authorization header, or empty
  std::string if_none_match;  // the If-None-Match header, or empty
  std::string origin;         // the Origin header, or empty
  std::string host;           // the Host header, or empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string etag;  // sent when not empty
  std::string cache_control = "no-cache";
  std::string content_disposition;  // sent when not empty
  // When not empty: send this file's first file_size bytes instead of body.
  std::string file_path;
  int64_t file_size = 0;
};

struct DashboardApiOptions {
  // Who a bearer token is; the default lets everyone in as admin (no tokens wired).
  HttpAuthenticator authenticate = AllowAllAsAdmin;
  // Which tenant a job belongs to; the default puts every job in tenant "".
  JobTenantFn job_tenant = NoJobTenant;
  // Jobs per page when the request does not say.
  int default_page_size = 50;
  // Longest wait for the scheduler to answer a cancel, retry or log read.
  absl::Duration call_timeout = absl::Seconds(30);
  // Throughput is jobs finished per minute over this window of samples.
  absl::Duration throughput_window = absl::Minutes(5);
  Clock* clock = Clock::Real();
};

class DashboardApi {
 public:
  // Borrows both; they must outlive this object.
  DashboardApi(const DashboardApiOptions& options, core::Scheduler* scheduler,
               store::BlobStore* blobs);

  HttpResponse Handle(const HttpRequest& request);

 private:
  absl::StatusOr<HttpResponse> HandleApi(const HttpRequest& request, const HttpCaller& caller);
  absl::StatusOr<HttpResponse> Fleet();
  // Other tenants' classes are shown to users without their tenant and reason (which may
  // name it): a user sees how busy the farm is, not who else uses it.
  absl::StatusOr<HttpResponse> Queue(const HttpCaller& caller);
  absl::StatusOr<HttpResponse> ListJobs(const HttpRequest& request, const HttpCaller& caller);
  // The job, or NotFound when it is not the caller's to see.
  absl::StatusOr<kiln::v1::Job> VisibleJob(const std::string& job_id,
                                           const HttpCaller& caller) const;
  absl::StatusOr<HttpResponse> JobLog(const std::string& job_id, const HttpRequest& request);
  absl::StatusOr<HttpResponse> JobFile(const kiln::v1::Job& job, const std::string& sha256,
                                       const HttpRequest& request);
  absl::StatusOr<HttpResponse> Cancel(const std::string& job_id);
  absl::StatusOr<HttpResponse> Retry(const kiln::v1::Job& job);
  // Jobs finished per minute over the sample window (records a sample).
  double Throughput(uint64_t finished_total);

  const DashboardApiOptions options_;
  core::Scheduler* const scheduler_;
  store::BlobStore* const blobs_;

  absl::Mutex mu_;
  // (time, jobs finished so far) samples taken by /queue requests, oldest first.
  std::deque<std::pair<absl::Time, uint64_t>> finished_samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::http

#endif  // KILN_SCHEDULER_HTTP_DASHBOARD_API_H_
