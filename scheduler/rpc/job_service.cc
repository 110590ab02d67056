#include "scheduler/rpc/job_service.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "scheduler/rpc/grpc_status.h"

namespace kiln::rpc {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// A streaming call refused before it started.
template <typename Response>
class RefusedWriter final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit RefusedWriter(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

template <typename Request>
class RefusedReader final : public grpc::ServerReadReactor<Request> {
 public:
  explicit RefusedReader(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

// Finishes a unary call at once with `status`.
ServerUnaryReactor* Answer(CallbackServerContext* context, const absl::Status& status) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status BlobNotFound(const std::string& sha256) {
  return absl::NotFoundError(absl::StrCat("blob ", sha256, " not found"));
}

bool IsTerminal(kiln::v1::JobState state) {
  return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
         state == kiln::v1::JOB_STATE_CANCELLED;
}

// Streams a job's snapshots: the current one first, then each newer revision,
// and finishes after the first terminal state.
class WatchReactor final : public grpc::ServerWriteReactor<kiln::v1::WatchJobResponse>,
                           public core::JobObserver {
 public:
  WatchReactor(core::Scheduler* scheduler, std::string job_id)
      : scheduler_(scheduler), job_id_(std::move(job_id)) {
    // Subscribe before reading the current state so that no change falls between.
    scheduler_->watch_hub().Subscribe(job_id_, this);
    absl::StatusOr<kiln::v1::Job> job = scheduler_->GetJob(job_id_);
    if (!job.ok()) {
      absl::MutexLock lock(&mu_);
      FinishLocked(ToGrpcStatus(job.status()));
      return;
    }
    OnJobChanged(*job);
  }

  void OnJobChanged(const kiln::v1::Job& job) override {
    absl::MutexLock lock(&mu_);
    // Revisions count stored changes; progress updates keep the revision, so
    // equal revisions pass unless nothing a watcher sees has changed.
    if (finished_ || job.revision() < last_revision_) return;
    if (job.revision() == last_revision_ && job.state() == last_state_ &&
        job.progress() == last_progress_ && job.progress_message() == last_message_) {
      return;
    }
    last_revision_ = job.revision();
    last_state_ = job.state();
    last_progress_ = job.progress();
    last_message_ = job.progress_message();
    pending_.push_back(job);
    if (!writing_) WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed"));
    } else if (terminal_sent_) {
      FinishLocked(grpc::Status::OK);
    } else {
      WriteNextLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    scheduler_->watch_hub().Unsubscribe(job_id_, this);
    { absl::MutexLock lock(&mu_); }  // as in AcquireReactor::OnDone (worker_service.cc)
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pending_.empty() || finished_) return;
    *current_.mutable_job() = std::move(pending_.front());
    pending_.pop_front();
    terminal_sent_ = IsTerminal(current_.job().state());
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  core::Scheduler* const scheduler_;
  const std::string job_id_;
  absl::Mutex mu_;
  std::deque<kiln::v1::Job> pending_ ABSL_GUARDED_BY(mu_);
  kiln::v1::WatchJobResponse current_ ABSL_GUARDED_BY(mu_);
  int64_t last_revision_ ABSL_GUARDED_BY(mu_) = 0;
  kiln::v1::JobState last_state_ ABSL_GUARDED_BY(mu_) = kiln::v1::JOB_STATE_UNSPECIFIED;
  double last_progress_ ABSL_GUARDED_BY(mu_) = -1;
  std::string last_message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool terminal_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Receives a blob: header first, then chunks, hashed and written as they come.
// File writes happen on the reaction thread: they go to the page cache and the
// one fsync is at the end, which keeps this simple at the cost of a short block.
// gRPC runs one reaction at a time, each after the read the one before started; every
// reaction holds mu_ all the same, so that ThreadSanitizer sees that order too (gRPC's own
// hand-off between its threads is in its uninstrumented library).
class PutBlobReactor final : public grpc::ServerReadReactor<kiln::v1::PutBlobRequest> {
 public:
  PutBlobReactor(const JobServiceOptions& options, core::Scheduler* scheduler,
                 store::BlobStore* blobs, core::BlobGrant grant,
                 kiln::v1::PutBlobResponse* response)
      : options_(options),
        scheduler_(scheduler),
        blobs_(blobs),
        grant_(std::move(grant)),
        response_(response) {
    absl::MutexLock lock(&mu_);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      FinishUpload();
      return;
    }
    if (writer_ == nullptr) {
      if (absl::Status s = StartUpload(); !s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
    } else if (request_.has_header()) {
      Finish(ToGrpcStatus(absl::InvalidArgumentError("header: only the first message carries it")));
      return;
    }
    if (static_cast<int64_t>(request_.data().size()) > options_.blob_chunk_bytes) {
      Finish(ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("data: chunk of ", request_.data().size(), " bytes exceeds the limit of ",
                       options_.blob_chunk_bytes))));
      return;
    }
    if (absl::Status s = writer_->Append(request_.data()); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override {
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  absl::Status StartUpload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!request_.has_header()) {
      return absl::InvalidArgumentError("header: required in the first message");
    }
    header_ = request_.header();
    KILN_RETURN_IF_ERROR(store::ValidateBlobHeader(header_, options_.max_blob_bytes));
    absl::StatusOr<std::unique_ptr<store::BlobStore::Writer>> writer =
        blobs_->NewWriter(header_.size_bytes());
    if (!writer.ok()) return writer.status();
    writer_ = *std::move(writer);
    return absl::OkStatus();
  }

  void FinishUpload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writer_ == nullptr) {
      Finish(ToGrpcStatus(absl::InvalidArgumentError("header: required in the first message")));
      return;
    }
    absl::StatusOr<kiln::v1::StoredBlob> blob =
        writer_->Finish(header_.size_bytes(), header_.sha256());
    writer_.reset();
    if (!blob.ok()) {
      Finish(ToGrpcStatus(blob.status()));
      return;
    }
    response_->set_sha256(blob->sha256());
    response_->set_size_bytes(blob->size_bytes());
    scheduler_->PutBlob(*blob, grant_, [this](absl::Status s) { Finish(ToGrpcStatus(s)); });
  }

  const JobServiceOptions& options_;
  core::Scheduler* const scheduler_;
  store::BlobStore* const blobs_;
  const core::BlobGrant grant_;
  kiln::v1::PutBlobResponse* const response_;
  absl::Mutex mu_;
  kiln::v1::PutBlobRequest request_ ABSL_GUARDED_BY(mu_);
  kiln::v1::BlobHeader header_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<store::BlobStore::Writer> writer_ ABSL_GUARDED_BY(mu_);
};

// Sends a blob in chunks, one write in flight at a time. Reactions hold mu_ for the same
// reason as PutBlobReactor's.
class GetBlobReactor final : public grpc::ServerWriteReactor<kiln::v1::GetBlobResponse> {
 public:
  // `may_read` says whether the caller may read the stored blob (NOT_FOUND if not).
  GetBlobReactor(const JobServiceOptions& options, core::Scheduler* scheduler,
                 store::BlobStore* blobs, const std::string& sha256,
                 const std::function<bool(const kiln::v1::StoredBlob&)>& may_read)
      : chunk_bytes_(options.blob_chunk_bytes) {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<kiln::v1::StoredBlob> blob = scheduler->GetBlob(sha256);
    if (blob.ok() && !may_read(*blob)) blob = BlobNotFound(sha256);
    if (!blob.ok()) {
      Finish(ToGrpcStatus(blob.status()));
      return;
    }
    remaining_ = blob->size_bytes();
    in_.open(blobs->PathFor(sha256), std::ios::binary);
    if (!in_) {
      Finish(ToGrpcStatus(absl::DataLossError(absl::StrCat("blob ", sha256, " has no data file"))));
      return;
    }
    response_.set_size_bytes(remaining_);
    WriteNext(/*first=*/true);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled"));
      return;
    }
    if (remaining_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    WriteNext(/*first=*/false);
  }

  void OnDone() override {
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void WriteNext(bool first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!first) response_.clear_size_bytes();
    const int64_t n = std::min(remaining_, chunk_bytes_);
    std::string* data = response_.mutable_data();
    data->resize(static_cast<size_t>(n));
    in_.read(data->data(), n);
    if (in_.gcount() != n) {
      Finish(ToGrpcStatus(absl::DataLossError("blob data file is shorter than recorded")));
      return;
    }
    remaining_ -= n;
    StartWrite(&response_);
  }

  const int64_t chunk_bytes_;
  absl::Mutex mu_;
  std::ifstream in_ ABSL_GUARDED_BY(mu_);
  int64_t remaining_ ABSL_GUARDED_BY(mu_) = 0;
  kiln::v1::GetBlobResponse response_ ABSL_GUARDED_BY(mu_);
};

// Answers GetJobLog at once or when the Scheduler's parked read is answered (new bytes,
// the attempt's end, the wait's end); a client that goes away cancels the parked read.
class GetJobLogReactor final : public ServerUnaryReactor {
 public:
  GetJobLogReactor(core::Scheduler* scheduler, const kiln::v1::GetJobLogRequest& request,
                   kiln::v1::GetJobLogResponse* response)
      : scheduler_(scheduler) {
    const uint64_t id = scheduler_->GetJobLog(request, [this, response](auto result) {
      if (result.ok()) *response = *std::move(result);
      Finish(ToGrpcStatus(result.status()));
    });
    absl::MutexLock lock(&mu_);
    waiter_id_ = id;
    if (cancelled_ && id != 0) scheduler_->CancelJobLog(id);
  }

  void OnCancel() override {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      id = waiter_id_;
    }
    if (id != 0) scheduler_->CancelJobLog(id);
  }

  void OnDone() override {
    { absl::MutexLock lock(&mu_); }  // as in AcquireReactor::OnDone (worker_service.cc)
    delete this;
  }

 private:
  core::Scheduler* const scheduler_;
  absl::Mutex mu_;
  uint64_t waiter_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

JobServiceImpl::JobServiceImpl(const JobServiceOptions& options, core::Scheduler* scheduler,
                               store::BlobStore* blobs, const Authenticator* authenticator)
    : options_(options), scheduler_(scheduler), blobs_(blobs), authenticator_(authenticator) {}

absl::StatusOr<auth::Caller> JobServiceImpl::ClientCaller(const CallbackServerContext& context,
                                                          absl::string_view rpc) const {
  KILN_ASSIGN_OR_RETURN(auth::Caller caller, authenticator_->Authenticate(context));
  KILN_RETURN_IF_ERROR(auth::RequireClient(caller, rpc));
  return caller;
}

absl::StatusOr<kiln::v1::Job> JobServiceImpl::VisibleJob(const auth::Caller& caller,
                                                         const std::string& job_id) const {
  KILN_ASSIGN_OR_RETURN(kiln::v1::Job job, scheduler_->GetJob(job_id));
  if (!auth::MaySeeTenant(caller, job.tenant())) {
    // The very answer a missing job gets: another tenant's ids are not confirmed.
    return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  }
  return job;
}

ServerUnaryReactor* JobServiceImpl::SubmitJob(CallbackServerContext* context,
                                              const kiln::v1::SubmitJobRequest* request,
                                              kiln::v1::SubmitJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "SubmitJob");
  if (!caller.ok()) return Answer(context, caller.status());
  if (!request->has_spec()) {
    return Answer(context, absl::InvalidArgumentError("spec: required"));
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  const core::SubmitOrigin origin{caller->tenant, caller->role == auth::Role::kAdmin};
  scheduler_->Submit({request->spec()}, /*batch=*/false, origin, [reactor, response](auto results) {
    if (results.ok()) *response = std::move(results->front());
    reactor->Finish(ToGrpcStatus(results.status()));
  });
  return reactor;
}

ServerUnaryReactor* JobServiceImpl::SubmitJobs(CallbackServerContext* context,
                                               const kiln::v1::SubmitJobsRequest* request,
                                               kiln::v1::SubmitJobsResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "SubmitJobs");
  if (!caller.ok()) return Answer(context, caller.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  std::vector<kiln::v1::JobSpec> specs(request->specs().begin(), request->specs().end());
  const core::SubmitOrigin origin{caller->tenant, caller->role == auth::Role::kAdmin};
  scheduler_->Submit(std::move(specs), /*batch=*/true, origin, [reactor, response](auto results) {
    if (results.ok()) {
      for (auto& result : *results) *response->add_results() = std::move(result);
    }
    reactor->Finish(ToGrpcStatus(results.status()));
  });
  return reactor;
}

ServerUnaryReactor* JobServiceImpl::GetJob(CallbackServerContext* context,
                                           const kiln::v1::GetJobRequest* request,
                                           kiln::v1::GetJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "GetJob");
  if (!caller.ok()) return Answer(context, caller.status());
  absl::StatusOr<kiln::v1::Job> job = VisibleJob(*caller, request->job_id());
  if (job.ok()) *response->mutable_job() = *std::move(job);
  return Answer(context, job.status());
}

ServerUnaryReactor* JobServiceImpl::ListJobs(CallbackServerContext* context,
                                             const kiln::v1::ListJobsRequest* request,
                                             kiln::v1::ListJobsResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "ListJobs");
  if (!caller.ok()) return Answer(context, caller.status());
  kiln::v1::ListJobsRequest scoped = *request;
  if (caller->role != auth::Role::kAdmin) {
    if (!request->tenant().empty() && request->tenant() != caller->tenant) {
      return Answer(context,
                    absl::PermissionDeniedError(absl::StrCat(
                        "tenant: a user token lists only its own tenant (", caller->tenant, ")")));
    }
    scoped.set_tenant(caller->tenant);
  }
  absl::StatusOr<kiln::v1::ListJobsResponse> result = scheduler_->ListJobs(scoped);
  if (result.ok()) *response = *std::move(result);
  return Answer(context, result.status());
}

ServerUnaryReactor* JobServiceImpl::CancelJob(CallbackServerContext* context,
                                              const kiln::v1::CancelJobRequest* request,
                                              kiln::v1::CancelJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "CancelJob");
  if (!caller.ok()) return Answer(context, caller.status());
  // A job's tenant never changes: checking it before the cancel is enough.
  if (absl::StatusOr<kiln::v1::Job> job = VisibleJob(*caller, request->job_id()); !job.ok()) {
    return Answer(context, job.status());
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->Cancel(request->job_id(), request->reason(), [reactor, response](auto job) {
    if (job.ok()) *response->mutable_job() = *std::move(job);
    reactor->Finish(ToGrpcStatus(job.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<kiln::v1::WatchJobResponse>* JobServiceImpl::WatchJob(
    CallbackServerContext* context, const kiln::v1::WatchJobRequest* request) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "WatchJob");
  if (!caller.ok()) return new RefusedWriter<kiln::v1::WatchJobResponse>(caller.status());
  if (absl::StatusOr<kiln::v1::Job> job = VisibleJob(*caller, request->job_id()); !job.ok()) {
    return new RefusedWriter<kiln::v1::WatchJobResponse>(job.status());
  }
  return new WatchReactor(scheduler_, request->job_id());
}

grpc::ServerReadReactor<kiln::v1::PutBlobRequest>* JobServiceImpl::PutBlob(
    CallbackServerContext* context, kiln::v1::PutBlobResponse* response) {
  absl::StatusOr<auth::Caller> caller = authenticator_->Authenticate(*context);
  if (!caller.ok()) return new RefusedReader<kiln::v1::PutBlobRequest>(caller.status());
  // A worker's upload is its own until a job it completes names it; anyone else uploads
  // for its tenant.
  core::BlobGrant grant;
  if (caller->role == auth::Role::kWorker) {
    grant.worker = caller->name;
  } else {
    grant.tenant = caller->tenant;
  }
  return new PutBlobReactor(options_, scheduler_, blobs_, std::move(grant), response);
}

grpc::ServerWriteReactor<kiln::v1::GetBlobResponse>* JobServiceImpl::GetBlob(
    CallbackServerContext* context, const kiln::v1::GetBlobRequest* request) {
  absl::StatusOr<auth::Caller> caller = authenticator_->Authenticate(*context);
  if (!caller.ok()) return new RefusedWriter<kiln::v1::GetBlobResponse>(caller.status());
  core::Scheduler* scheduler = scheduler_;
  const auth::Caller& who = *caller;
  auto may_read = [scheduler, &who](const kiln::v1::StoredBlob& blob) {
    if (who.role != auth::Role::kWorker) return auth::ClientMayReadBlob(who, blob);
    // A worker reads what it uploaded and the inputs of the jobs leased to it.
    const auto& uploaders = blob.worker_uploaders();
    if (std::find(uploaders.begin(), uploaders.end(), who.name) != uploaders.end()) return true;
    return scheduler->IsInputOfLeasedJob(blob.sha256(), [&who](const std::string& worker_id) {
      return auth::MayActAsWorker(who, worker_id);
    });
  };
  return new GetBlobReactor(options_, scheduler_, blobs_, request->sha256(), may_read);
}

ServerUnaryReactor* JobServiceImpl::ListWorkers(CallbackServerContext* context,
                                                const kiln::v1::ListWorkersRequest* request,
                                                kiln::v1::ListWorkersResponse* response) {
  // Users see the fleet (what can run their jobs, why they wait), but not which jobs of
  // other tenants the workers hold.
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "ListWorkers");
  if (!caller.ok()) return Answer(context, caller.status());
  for (auto& worker : scheduler_->ListWorkers()) {
    if (caller->role != auth::Role::kAdmin) {
      std::vector<std::string> held(worker.job_ids().begin(), worker.job_ids().end());
      worker.clear_job_ids();
      for (const std::string& id : held) {
        if (VisibleJob(*caller, id).ok()) worker.add_job_ids(id);
      }
    }
    *response->add_workers() = std::move(worker);
  }
  return Answer(context, absl::OkStatus());
}

ServerUnaryReactor* JobServiceImpl::DrainWorker(CallbackServerContext* context,
                                                const kiln::v1::DrainWorkerRequest* request,
                                                kiln::v1::DrainWorkerResponse* response) {
  absl::StatusOr<auth::Caller> caller = authenticator_->Authenticate(*context);
  if (!caller.ok()) return Answer(context, caller.status());
  if (absl::Status s = auth::RequireAdmin(*caller, "DrainWorker"); !s.ok()) {
    return Answer(context, s);
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->DrainWorker(request->worker_id(), !request->resume(),
                          [reactor, response](auto worker) {
                            if (worker.ok()) *response->mutable_worker() = *std::move(worker);
                            reactor->Finish(ToGrpcStatus(worker.status()));
                          });
  return reactor;
}

ServerUnaryReactor* JobServiceImpl::GetJobLog(CallbackServerContext* context,
                                              const kiln::v1::GetJobLogRequest* request,
                                              kiln::v1::GetJobLogResponse* response) {
  absl::StatusOr<auth::Caller> caller = ClientCaller(*context, "GetJobLog");
  if (!caller.ok()) return Answer(context, caller.status());
  if (absl::StatusOr<kiln::v1::Job> job = VisibleJob(*caller, request->job_id()); !job.ok()) {
    return Answer(context, job.status());
  }
  return new GetJobLogReactor(scheduler_, *request, response);
}

}  // namespace kiln::rpc
