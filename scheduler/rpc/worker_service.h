// WorkerServiceImpl: kiln.v1.WorkerService on gRPC's callback API. AcquireJob is
// a long-poll parked inside core::Scheduler (no thread waits); a client that goes
// away cancels its parked call. Every other call finishes from the Scheduler's
// completion callback. Every call needs a worker token allowed to act as the request's
// worker_id (Authenticator); a completion may name only blobs the worker uploaded or the
// job's tenant may read. The scheduler's fencing confines reports to the jobs leased to
// that worker id.
// Thread-safety: called from gRPC's threads; holds no state of its own.
#ifndef KILN_SCHEDULER_RPC_WORKER_SERVICE_H_
#define KILN_SCHEDULER_RPC_WORKER_SERVICE_H_

#include <string>
#include <vector>

#include "kiln/v1/worker_service.grpc.pb.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/rpc/authenticator.h"

namespace kiln::rpc {

class WorkerServiceImpl final : public kiln::v1::WorkerService::CallbackService {
 public:
  // Borrows both; they must outlive the server.
  WorkerServiceImpl(core::Scheduler* scheduler, const Authenticator* authenticator)
      : scheduler_(scheduler), authenticator_(authenticator) {}

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
  // The caller, when it is a worker token allowed to act as `worker_id`.
  absl::StatusOr<auth::Caller> WorkerCaller(const grpc::CallbackServerContext& context,
                                            absl::string_view rpc,
                                            const std::string& worker_id) const;
  // PERMISSION_DENIED when a blob in `refs` (request fields `fields`) is one the worker may
  // not name for job `job_id` (auth::WorkerMayNameBlob).
  absl::Status CheckNamedBlobs(const auth::Caller& caller, const std::string& job_id,
                               const std::vector<const kiln::v1::BlobRef*>& refs,
                               const std::vector<std::string>& fields) const;

  core::Scheduler* const scheduler_;
  const Authenticator* const authenticator_;
};

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_WORKER_SERVICE_H_
