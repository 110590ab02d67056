// SchedulerServer: the whole scheduler process minus flags: opens the store,
// recovers the scheduler, and serves JobService, WorkerService, gRPC health
// checking and server reflection on one port, plus the dashboard (HTTP) when asked.
// Owns everything it creates. Create, then Wait from the main thread; Shutdown
// from any other thread (e.g. a signal watcher).
#ifndef KILN_SCHEDULER_RPC_SCHEDULER_SERVER_H_
#define KILN_SCHEDULER_RPC_SCHEDULER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/http_server.h"
#include "scheduler/rpc/authenticator.h"
#include "scheduler/rpc/job_service.h"
#include "scheduler/rpc/server_credentials.h"
#include "scheduler/rpc/worker_service.h"
#include "scheduler/store/blob_store.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"

namespace kiln::rpc {

struct SchedulerServerOptions {
  // host:port to listen on; port 0 picks a free one (see port()).
  std::string listen = "127.0.0.1:7070";
  // Directory for RocksDB (db/) and blob files (blobs/).
  std::string data_dir;
  // TLS (or mutual TLS) on `listen`; plaintext when empty.
  ServerTlsOptions tls;
  // host:port of a second, plaintext port serving only grpc.health.v1 (empty: none).
  // Kubernetes' gRPC probes cannot speak TLS; this lets them probe a TLS scheduler.
  std::string health_listen;
  // Token file (kiln.v1.TokenFile as JSON, docs/operations.md): every JobService and
  // WorkerService call must then carry a known bearer token. Empty: authentication off,
  // every caller is an admin of the tenant "default".
  std::string auth_tokens_file;
  // Largest request in bytes (blobs travel in 1 MiB chunks). Kept under 4 MiB:
  // a SubmitJobs reply is a little larger than its request and clients accept
  // 4 MiB by default.
  int max_request_bytes = 3 << 20;
  core::SchedulerOptions scheduler;
  JobServiceOptions jobs;
  store::GroupCommitterOptions committer;
  // The dashboard and its JSON API (scheduler/http, docs/dashboard.md) on http.listen;
  // off when http.listen is empty.
  http::HttpServerOptions http;
};

class SchedulerServer {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Create(
      const SchedulerServerOptions& options);
  ~SchedulerServer();

  int port() const { return port_; }
  // The health-only port (0 without options.health_listen).
  int health_port() const { return health_port_; }
  // The dashboard's port; 0 when it is off.
  int http_port() const { return http_ != nullptr ? http_->port() : 0; }
  // Reads options.auth_tokens_file again and swaps the new table in (calls in flight
  // finish with the old one). On an error the old table stays. No-op without a file.
  absl::Status ReloadAuthTokens();
  bool auth_enabled() const { return authenticator_->enabled(); }
  core::Scheduler& scheduler() { return *scheduler_; }
  store::Store& store() { return *store_; }
  void Wait();
  void Shutdown();

 private:
  SchedulerServer() = default;

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<core::Scheduler> scheduler_;
  std::string auth_tokens_file_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
  // Health only; its default health service answers SERVING while it runs.
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_ = 0;
};

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_SCHEDULER_SERVER_H_
