#include "scheduler/rpc/worker_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "scheduler/rpc/grpc_status.h"

namespace kiln::rpc {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// The assignment an answer carries, if any.
const kiln::v1::Assignment* AssignmentIn(const kiln::v1::AcquireJobResponse& response) {
  return response.has_assignment() ? &response.assignment() : nullptr;
}
const kiln::v1::Assignment* AssignmentIn(const kiln::v1::CompleteJobResponse& response) {
  return response.has_next() ? &response.next() : nullptr;
}

// A call the scheduler may park (AcquireJob, CompleteJob with next_wait): a client
// cancellation (deadline, disconnect) takes it out of the scheduler's waiting list, and
// an assignment whose answer did not reach the client goes back to the queue.
template <typename Response>
class ParkedCallReactor final : public ServerUnaryReactor {
 public:
  // `start` begins the call with the answer's callback and returns the scheduler's
  // waiter id (0 when not parked).
  template <typename Start>
  ParkedCallReactor(core::Scheduler* scheduler, CallbackServerContext* context, Response* response,
                    Start start)
      : scheduler_(scheduler), context_(context), response_(response) {
    const uint64_t id = start([this](absl::StatusOr<Response> result) {
      if (result.ok()) {
        absl::MutexLock lock(&mu_);  // read again in OnDone
        *response_ = *std::move(result);
      }
      Finish(ToGrpcStatus(result.status()));
    });
    absl::MutexLock lock(&mu_);
    waiter_id_ = id;
    if (cancelled_ && id != 0) scheduler_->CancelAcquire(id);
  }

  void OnCancel() override {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      id = waiter_id_;
    }
    if (id != 0) scheduler_->CancelAcquire(id);
  }

  void OnDone() override {
    // gRPC runs OnDone after every other reaction, but orders them inside its own
    // (for ThreadSanitizer uninstrumented) library: passing through mu_ makes the order
    // of OnCancel before the delete visible to it too.
    std::optional<kiln::v1::Assignment> lost;
    {
      absl::MutexLock lock(&mu_);
      // Cancelled means the client never got the status, so not the response either.
      if (const kiln::v1::Assignment* carried = AssignmentIn(*response_);
          carried != nullptr && context_->IsCancelled()) {
        lost = *carried;
      }
    }
    if (lost.has_value()) scheduler_->ReturnUndelivered(*lost);
    delete this;
  }

 private:
  core::Scheduler* const scheduler_;
  CallbackServerContext* const context_;
  Response* const response_;
  absl::Mutex mu_;
  uint64_t waiter_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// Finishes a unary call at once with `status`.
ServerUnaryReactor* Answer(CallbackServerContext* context, const absl::Status& status) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

absl::StatusOr<auth::Caller> WorkerServiceImpl::WorkerCaller(const CallbackServerContext& context,
                                                             absl::string_view rpc,
                                                             const std::string& worker_id) const {
  KILN_ASSIGN_OR_RETURN(auth::Caller caller, authenticator_->Authenticate(context));
  KILN_RETURN_IF_ERROR(auth::RequireWorker(caller, rpc, worker_id));
  return caller;
}

absl::Status WorkerServiceImpl::CheckNamedBlobs(const auth::Caller& caller,
                                                const std::string& job_id,
                                                const std::vector<const kiln::v1::BlobRef*>& refs,
                                                const std::vector<std::string>& fields) const {
  if (caller.anonymous || refs.empty()) return absl::OkStatus();
  // An unknown or stale job is the scheduler's to answer (fencing).
  absl::StatusOr<kiln::v1::Job> job = scheduler_->GetJob(job_id);
  if (!job.ok()) return absl::OkStatus();
  for (size_t i = 0; i < refs.size(); ++i) {
    absl::StatusOr<kiln::v1::StoredBlob> blob = scheduler_->GetBlob(refs[i]->sha256());
    if (!blob.ok()) continue;  // the scheduler names the missing blob
    if (!auth::WorkerMayNameBlob(caller, *blob, job->tenant())) {
      return absl::PermissionDeniedError(absl::StrCat(
          fields[i], ".sha256: worker token \"", caller.name, "\" did not upload blob ",
          refs[i]->sha256(), " and the job's tenant may not read it"));
    }
  }
  return absl::OkStatus();
}

ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    CallbackServerContext* context, const kiln::v1::RegisterWorkerRequest* request,
    kiln::v1::RegisterWorkerResponse* response) {
  absl::StatusOr<auth::Caller> caller =
      WorkerCaller(*context, "RegisterWorker", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->RegisterWorker(*request, [reactor, response](auto result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::AcquireJob(CallbackServerContext* context,
                                                  const kiln::v1::AcquireJobRequest* request,
                                                  kiln::v1::AcquireJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = WorkerCaller(*context, "AcquireJob", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  return new ParkedCallReactor<kiln::v1::AcquireJobResponse>(
      scheduler_, context, response,
      [this, request](auto done) { return scheduler_->AcquireJob(*request, std::move(done)); });
}

ServerUnaryReactor* WorkerServiceImpl::Heartbeat(CallbackServerContext* context,
                                                 const kiln::v1::HeartbeatRequest* request,
                                                 kiln::v1::HeartbeatResponse* response) {
  absl::StatusOr<auth::Caller> caller = WorkerCaller(*context, "Heartbeat", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<kiln::v1::HeartbeatResponse> result = scheduler_->Heartbeat(*request);
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::ReportProgress(
    CallbackServerContext* context, const kiln::v1::ReportProgressRequest* request,
    kiln::v1::ReportProgressResponse* response) {
  absl::StatusOr<auth::Caller> caller =
      WorkerCaller(*context, "ReportProgress", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->ReportProgress(*request,
                             [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::CompleteJob(CallbackServerContext* context,
                                                   const kiln::v1::CompleteJobRequest* request,
                                                   kiln::v1::CompleteJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = WorkerCaller(*context, "CompleteJob", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  std::vector<const kiln::v1::BlobRef*> refs;
  std::vector<std::string> fields;
  for (int i = 0; i < request->outputs_size(); ++i) {
    refs.push_back(&request->outputs(i));
    fields.push_back(absl::StrCat("outputs[", i, "]"));
  }
  if (!request->log().sha256().empty()) {
    refs.push_back(&request->log());
    fields.push_back("log");
  }
  if (absl::Status s = CheckNamedBlobs(*caller, request->job_id(), refs, fields); !s.ok()) {
    return Answer(context, s);
  }
  return new ParkedCallReactor<kiln::v1::CompleteJobResponse>(
      scheduler_, context, response, [this, request](auto done) {
        return scheduler_->CompleteJobWithNext(*request, std::move(done));
      });
}

ServerUnaryReactor* WorkerServiceImpl::FailJob(CallbackServerContext* context,
                                               const kiln::v1::FailJobRequest* request,
                                               kiln::v1::FailJobResponse* response) {
  absl::StatusOr<auth::Caller> caller = WorkerCaller(*context, "FailJob", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  if (!request->log().sha256().empty()) {
    if (absl::Status s = CheckNamedBlobs(*caller, request->job_id(), {&request->log()}, {"log"});
        !s.ok()) {
      return Answer(context, s);
    }
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->FailJob(*request, [reactor, response](auto result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::SubmitChildJobs(
    CallbackServerContext* context, const kiln::v1::SubmitChildJobsRequest* request,
    kiln::v1::SubmitChildJobsResponse* response) {
  absl::StatusOr<auth::Caller> caller =
      WorkerCaller(*context, "SubmitChildJobs", request->worker_id());
  if (!caller.ok()) return Answer(context, caller.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->SubmitChildJobs(*request, [reactor, response](auto result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace kiln::rpc
