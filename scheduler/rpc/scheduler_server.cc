#include "scheduler/rpc/scheduler_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kiln::rpc {

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Create(
    const SchedulerServerOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: required");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir: cannot create ", options.data_dir, ": ", ec.message()));
  }
  // Before the store opens: a bad certificate file is the first thing to hear about.
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                        ServerCredentialsFor(options.tls));
  // So is a bad token file.
  std::shared_ptr<const auth::TokenTable> tokens;
  if (!options.auth_tokens_file.empty()) {
    KILN_ASSIGN_OR_RETURN(tokens, auth::TokenTable::Load(options.auth_tokens_file));
  }
  std::unique_ptr<SchedulerServer> server(new SchedulerServer());
  server->auth_tokens_file_ = options.auth_tokens_file;
  server->authenticator_ = std::make_unique<Authenticator>(std::move(tokens));
  KILN_ASSIGN_OR_RETURN(server->store_, store::Store::Open({.path = options.data_dir + "/db"}));
  KILN_ASSIGN_OR_RETURN(server->blobs_, store::BlobStore::Create(options.data_dir + "/blobs"));
  server->committer_ =
      std::make_unique<store::GroupCommitter>(server->store_.get(), options.committer);
  KILN_ASSIGN_OR_RETURN(
      server->scheduler_,
      core::Scheduler::Create(options.scheduler, server->store_.get(), server->committer_.get()));
  server->job_service_ = std::make_unique<JobServiceImpl>(
      options.jobs, server->scheduler_.get(), server->blobs_.get(), server->authenticator_.get());
  server->worker_service_ =
      std::make_unique<WorkerServiceImpl>(server->scheduler_.get(), server->authenticator_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  builder.RegisterService(server->job_service_.get());
  builder.RegisterService(server->worker_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (!options.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                                    &server->health_port_);
    server->health_server_ = health_builder.BuildAndStart();
    if (server->health_server_ == nullptr || server->health_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("health_listen: cannot listen on ", options.health_listen));
    }
  }
  if (!options.http.listen.empty()) {
    // The dashboard answers to the same tokens and tenant rules as the gRPC services;
    // worker tokens have no business there.
    http::HttpServerOptions http_options = options.http;
    Authenticator* authenticator = server->authenticator_.get();
    http_options.api.authenticate =
        [authenticator](absl::string_view token) -> absl::StatusOr<http::HttpCaller> {
      KILN_ASSIGN_OR_RETURN(auth::Caller caller, authenticator->AuthenticateToken(token));
      if (caller.role == auth::Role::kWorker) {
        return absl::PermissionDeniedError("worker tokens cannot use the dashboard");
      }
      return http::HttpCaller{.tenant = caller.tenant,
                              .is_admin = caller.role == auth::Role::kAdmin};
    };
    http_options.api.job_tenant = [](const kiln::v1::Job& job) {
      return auth::EffectiveTenant(job.tenant());
    };
    KILN_ASSIGN_OR_RETURN(
        server->http_,
        http::HttpServer::Create(http_options, server->scheduler_.get(), server->blobs_.get()));
  }
  return server;
}

SchedulerServer::~SchedulerServer() {
  Shutdown();
  // Order matters: no RPC or HTTP request may reach the scheduler once it is gone, and
  // the committer must drain (running callbacks into the scheduler) before that.
  http_.reset();
  server_.reset();
  health_server_.reset();
  scheduler_.reset();
  committer_.reset();
}

void SchedulerServer::Wait() { server_->Wait(); }

absl::Status SchedulerServer::ReloadAuthTokens() {
  if (auth_tokens_file_.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const auth::TokenTable> tokens,
                        auth::TokenTable::Load(auth_tokens_file_));
  authenticator_->Replace(std::move(tokens));
  return absl::OkStatus();
}

void SchedulerServer::Shutdown() {
  // Health first: a probe must not see SERVING while the main port goes away.
  if (health_server_ != nullptr) health_server_->Shutdown(std::chrono::system_clock::now());
  if (http_ != nullptr) http_->Stop();
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

}  // namespace kiln::rpc
