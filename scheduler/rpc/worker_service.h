// WorkerServiceImpl: kiln.v1.WorkerService on gRPC's callback API. AcquireJob is
// a long-poll parked inside core::Scheduler (no thread waits); a client that goes
// away cancels its parked call. Every other call finishes from the Scheduler's
// completion callback.
// Thread-safety: called from gRPC's threads; holds no state of its own.
#ifndef KILN_SCHEDULER_RPC_WORKER_SERVICE_H_
#define KILN_SCHEDULER_RPC_WORKER_SERVICE_H_

#include "kiln/v1/worker_service.grpc.pb.h"
#include "scheduler/core/scheduler.h"

namespace kiln::rpc {

class WorkerServiceImpl final : public kiln::v1::WorkerService::CallbackService {
 public:
  // Borrows the scheduler; it must outlive the server.
  explicit WorkerServiceImpl(core::Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* context,
                                           const kiln::v1::RegisterWorkerRequest* request,
                                           kiln::v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* AcquireJob(grpc::CallbackServerContext* context,
                                       const kiln::v1::AcquireJobRequest* request,
                                       kiln::v1::AcquireJobResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const kiln::v1::HeartbeatRequest* request,
                                      kiln::v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportProgress(grpc::CallbackServerContext* context,
                                           const kiln::v1::ReportProgressRequest* request,
                                           kiln::v1::ReportProgressResponse* response) override;
  grpc::ServerUnaryReactor* CompleteJob(grpc::CallbackServerContext* context,
                                        const kiln::v1::CompleteJobRequest* request,
                                        kiln::v1::CompleteJobResponse* response) override;
  grpc::ServerUnaryReactor* FailJob(grpc::CallbackServerContext* context,
                                    const kiln::v1::FailJobRequest* request,
                                    kiln::v1::FailJobResponse* response) override;
  grpc::ServerUnaryReactor* SubmitChildJobs(grpc::CallbackServerContext* context,
                                            const kiln::v1::SubmitChildJobsRequest* request,
                                            kiln::v1::SubmitChildJobsResponse* response) override;

 private:
  core::Scheduler* const scheduler_;
};

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_WORKER_SERVICE_H_
