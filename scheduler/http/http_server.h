// HttpServer: kiln-scheduler's --http-listen endpoint. A civetweb server whose
// worker threads ("civetweb-worker", num_threads of them) parse each request and hand
// it to DashboardApi, then write the answer (blob downloads streamed from the blob
// file in 1 MiB chunks). Owns the civetweb context and the DashboardApi; borrows the
// scheduler and blob store, which must outlive it (or its Stop()). Create and Stop from
// any one thread; port() from any.
#ifndef KILN_SCHEDULER_HTTP_HTTP_SERVER_H_
#define KILN_SCHEDULER_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/dashboard_api.h"
#include "scheduler/store/blob_store.h"

struct mg_context;
struct mg_connection;

namespace kiln::http {

struct HttpServerOptions {
  // host:port; port 0 picks a free one (see port()).
  std::string listen;
  // civetweb worker threads: requests served at once (each poll holds one briefly).
  int num_threads = 8;
  DashboardApiOptions api;
};

class HttpServer {
 public:
  // InvalidArgument for a malformed `listen`, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                            core::Scheduler* scheduler,
                                                            store::BlobStore* blobs);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting and waits for requests in flight; idempotent.
  void Stop();

 private:
  HttpServer(const HttpServerOptions& options, core::Scheduler* scheduler, store::BlobStore* blobs);
  static int HandleRequest(mg_connection* connection, void* self);
  void Serve(mg_connection* connection);

  DashboardApi api_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace kiln::http

#endif  // KILN_SCHEDULER_HTTP_HTTP_SERVER_H_
