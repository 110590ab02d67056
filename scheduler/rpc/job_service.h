// JobServiceImpl: kiln.v1.JobService on gRPC's callback API. Unary calls hand
// the request to core::Scheduler and finish from its completion callback (after
// the durable write), so no gRPC thread waits on an fsync. WatchJob, PutBlob and
// GetBlob are reactors; blob bytes go through store::BlobStore.
// Every call is authenticated first (Authenticator): JobService needs a user or admin
// token, except PutBlob and GetBlob, which workers use for their jobs' blobs. A user sees
// only its tenant's jobs and blobs; another tenant's job or blob answers NOT_FOUND, exactly
// as a missing one does, so ids say nothing about other tenants. DrainWorker is for admins.
// Thread-safety: gRPC calls these from its own threads; all state is in the
// Scheduler and the reactors.
#ifndef KILN_SCHEDULER_RPC_JOB_SERVICE_H_
#define KILN_SCHEDULER_RPC_JOB_SERVICE_H_

#include <cstdint>

#include "kiln/v1/job_service.grpc.pb.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/rpc/authenticator.h"
#include "scheduler/store/blob_store.h"

namespace kiln::rpc {

struct JobServiceOptions {
  // Largest blob PutBlob accepts.
  int64_t max_blob_bytes = int64_t{2} << 30;
  // Largest chunk GetBlob sends and PutBlob accepts per message.
  int64_t blob_chunk_bytes = 1 << 20;
};

class JobServiceImpl final : public kiln::v1::JobService::CallbackService {
 public:
  // Borrows all three; they must outlive the server.
  JobServiceImpl(const JobServiceOptions& options, core::Scheduler* scheduler,
                 store::BlobStore* blobs, const Authenticator* authenticator);

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const kiln::v1::SubmitJobRequest* request,
                                      kiln::v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* SubmitJobs(grpc::CallbackServerContext* context,
                                       const kiln::v1::SubmitJobsRequest* request,
                                       kiln::v1::SubmitJobsResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const kiln::v1::GetJobRequest* request,
                                   kiln::v1::GetJobResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const kiln::v1::ListJobsRequest* request,
                                     kiln::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const kiln::v1::CancelJobRequest* request,
                                      kiln::v1::CancelJobResponse* response) override;
  grpc::ServerWriteReactor<kiln::v1::WatchJobResponse>* WatchJob(
      grpc::CallbackServerContext* context, const kiln::v1::WatchJobRequest* request) override;
  grpc::ServerReadReactor<kiln::v1::PutBlobRequest>* PutBlob(
      grpc::CallbackServerContext* context, kiln::v1::PutBlobResponse* response) override;
  grpc::ServerWriteReactor<kiln::v1::GetBlobResponse>* GetBlob(
      grpc::CallbackServerContext* context, const kiln::v1::GetBlobRequest* request) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* context,
                                        const kiln::v1::ListWorkersRequest* request,
                                        kiln::v1::ListWorkersResponse* response) override;
  // Long-polls like WorkerService.AcquireJob: parked in the Scheduler, never blocking.
  grpc::ServerUnaryReactor* DrainWorker(grpc::CallbackServerContext* context,
                                        const kiln::v1::DrainWorkerRequest* request,
                                        kiln::v1::DrainWorkerResponse* response) override;
  grpc::ServerUnaryReactor* GetJobLog(grpc::CallbackServerContext* context,
                                      const kiln::v1::GetJobLogRequest* request,
                                      kiln::v1::GetJobLogResponse* response) override;

 private:
  // The caller, when it may make JobService call `rpc` (user or admin).
  absl::StatusOr<auth::Caller> ClientCaller(const grpc::CallbackServerContext& context,
                                            absl::string_view rpc) const;
  // The job, when `caller` may see it; NOT_FOUND (as for a missing job) otherwise.
  absl::StatusOr<kiln::v1::Job> VisibleJob(const auth::Caller& caller,
                                           const std::string& job_id) const;

  const JobServiceOptions options_;
  core::Scheduler* const scheduler_;
  store::BlobStore* const blobs_;
  const Authenticator* const authenticator_;
};

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_JOB_SERVICE_H_
