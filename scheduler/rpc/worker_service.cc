#include "scheduler/rpc/worker_service.h"

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "scheduler/rpc/grpc_status.h"

namespace kiln::rpc {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// A long-poll that a client cancellation (deadline, disconnect) takes out of
// the scheduler's waiting list.
class AcquireReactor final : public ServerUnaryReactor {
 public:
  AcquireReactor(core::Scheduler* scheduler, const kiln::v1::AcquireJobRequest& request,
                 kiln::v1::AcquireJobResponse* response)
      : scheduler_(scheduler) {
    const uint64_t id = scheduler_->AcquireJob(request, [this, response](auto result) {
      if (result.ok()) *response = *std::move(result);
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

  void OnDone() override { delete this; }

 private:
  core::Scheduler* const scheduler_;
  absl::Mutex mu_;
  uint64_t waiter_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    CallbackServerContext* context, const kiln::v1::RegisterWorkerRequest* request,
    kiln::v1::RegisterWorkerResponse* response) {
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
  return new AcquireReactor(scheduler_, *request, response);
}

ServerUnaryReactor* WorkerServiceImpl::Heartbeat(CallbackServerContext* context,
                                                 const kiln::v1::HeartbeatRequest* request,
                                                 kiln::v1::HeartbeatResponse* response) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<kiln::v1::HeartbeatResponse> result = scheduler_->Heartbeat(*request);
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::ReportProgress(
    CallbackServerContext* context, const kiln::v1::ReportProgressRequest* request,
    kiln::v1::ReportProgressResponse* response) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->ReportProgress(*request,
                             [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::CompleteJob(CallbackServerContext* context,
                                                   const kiln::v1::CompleteJobRequest* request,
                                                   kiln::v1::CompleteJobResponse* response) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->CompleteJob(*request,
                          [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

ServerUnaryReactor* WorkerServiceImpl::FailJob(CallbackServerContext* context,
                                               const kiln::v1::FailJobRequest* request,
                                               kiln::v1::FailJobResponse* response) {
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
  ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->SubmitChildJobs(*request, [reactor, response](auto result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace kiln::rpc
