#include "client/kiln_client.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/blob_transfer.h"
#include "client/channel_credentials.h"
#include "client/grpc_status.h"
#include "common/attempt_log.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "kiln/v1/job_service.grpc.pb.h"

namespace kiln {
namespace {

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

// A 128-bit random id; collisions across clients are not a practical concern.
std::string RandomId() {
  absl::BitGen gen;
  return absl::StrFormat("r-%016x%016x", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

void FillRequestId(v1::JobSpec& spec) {
  if (spec.client_request_id().empty()) spec.set_client_request_id(RandomId());
}

// Exponential backoff with +-25% jitter so that many clients do not retry in lockstep.
class Backoff {
 public:
  explicit Backoff(const ClientOptions& options)
      : next_(options.initial_backoff), max_(options.max_backoff) {}
  absl::Duration Next() {
    const absl::Duration d = next_ * absl::Uniform(gen_, 0.75, 1.25);
    next_ = std::min(next_ * 2, max_);
    return d;
  }
  void Reset(const ClientOptions& options) { next_ = options.initial_backoff; }

 private:
  absl::BitGen gen_;
  absl::Duration next_;
  absl::Duration max_;
};

// Runs `attempt` and repeats it while it fails with UNAVAILABLE, at most max_retries times.
// Only for calls that are safe to repeat; every JobService call this client makes is (see
// the header). Local errors (files) never use UNAVAILABLE, so they are not retried.
absl::Status RetryUnavailable(const ClientOptions& options,
                              const std::function<absl::Status()>& attempt) {
  Backoff backoff(options);
  for (int retry = 0;; ++retry) {
    absl::Status status = attempt();
    if (status.code() != absl::StatusCode::kUnavailable || retry >= options.max_retries) {
      return status;
    }
    absl::SleepFor(backoff.Next());
  }
}

// Every call carries the caller's token (when set) and a deadline.
void PrepareContext(grpc::ClientContext& context, const ClientOptions& options,
                    absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
}

}  // namespace

struct Client::Stub {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::JobService::Stub> service;

  // One unary call with retries; each attempt has its own context and deadline.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(const ClientOptions& options, absl::string_view rpc,
                                grpc::Status (v1::JobService::Stub::*method)(grpc::ClientContext*,
                                                                             const Request&,
                                                                             Response*),
                                const Request& request) {
    Response response;
    KILN_RETURN_IF_ERROR(RetryUnavailable(options, [&]() {
      grpc::ClientContext context;
      PrepareContext(context, options, options.default_deadline);
      response.Clear();
      return FromGrpcStatus((service.get()->*method)(&context, request, &response), rpc,
                            options.address);
    }));
    return response;
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("scheduler address is empty");
  if (options.default_deadline <= absl::ZeroDuration() ||
      options.transfer_deadline <= absl::ZeroDuration() ||
      options.watch_stream_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("client deadlines must be positive");
  }
  for (const char c : options.token) {
    // gRPC refuses such metadata at call time; say so at once, and by name.
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("token: only printable ASCII characters are allowed");
    }
  }
  if (options.max_retries < 0 || options.max_watch_reconnects < 0) {
    return absl::InvalidArgumentError("max_retries and max_watch_reconnects must be >= 0");
  }
  grpc::ChannelArguments args;
  // A chunk is 1 MiB of data plus framing; leave room above it.
  args.SetMaxReceiveMessageSize(4 * kBlobChunkBytes);
  // Calls fail fast while the channel waits to reconnect, so gRPC's own reconnect backoff
  // (1 s growing to 120 s) would outlast our retries after a scheduler restart; keep it on
  // the same schedule as the retries.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                        SchedulerChannelCredentials(options.tls));
  AddTlsChannelArguments(options.tls, args);
  auto stub = std::make_unique<Stub>();
  stub->channel = grpc::CreateCustomChannel(options.address, credentials, args);
  stub->service = v1::JobService::NewStub(stub->channel);
  return std::unique_ptr<Client>(new Client(options, std::move(stub)));
}

Client::Client(const ClientOptions& options, std::unique_ptr<Stub> stub)
    : options_(options), stub_(std::move(stub)) {}

Client::~Client() = default;

absl::StatusOr<v1::Job> Client::Submit(const v1::JobSpec& spec) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  FillRequestId(*request.mutable_spec());
  KILN_ASSIGN_OR_RETURN(
      v1::SubmitJobResponse response,
      stub_->Call(options_, "SubmitJob", &v1::JobService::Stub::SubmitJob, request));
  return std::move(*response.mutable_job());
}

absl::StatusOr<std::vector<v1::Job>> Client::SubmitMany(const std::vector<v1::JobSpec>& specs) {
  v1::SubmitJobsRequest request;
  for (const v1::JobSpec& spec : specs) {
    v1::JobSpec* copy = request.add_specs();
    *copy = spec;
    FillRequestId(*copy);
  }
  KILN_ASSIGN_OR_RETURN(
      v1::SubmitJobsResponse response,
      stub_->Call(options_, "SubmitJobs", &v1::JobService::Stub::SubmitJobs, request));
  if (response.results_size() != request.specs_size()) {
    return absl::InternalError(absl::StrCat("SubmitJobs returned ", response.results_size(),
                                            " results for ", request.specs_size(), " specs"));
  }
  std::vector<v1::Job> jobs;
  jobs.reserve(response.results_size());
  for (v1::SubmitJobResponse& result : *response.mutable_results()) {
    jobs.push_back(std::move(*result.mutable_job()));
  }
  return jobs;
}

absl::StatusOr<v1::Job> Client::Get(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  KILN_ASSIGN_OR_RETURN(v1::GetJobResponse response,
                        stub_->Call(options_, "GetJob", &v1::JobService::Stub::GetJob, request));
  return std::move(*response.mutable_job());
}

absl::StatusOr<v1::ListJobsResponse> Client::List(const v1::ListJobsRequest& request) {
  return stub_->Call(options_, "ListJobs", &v1::JobService::Stub::ListJobs, request);
}

absl::StatusOr<v1::Job> Client::Cancel(const std::string& job_id, const std::string& reason) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  request.set_reason(reason);
  KILN_ASSIGN_OR_RETURN(
      v1::CancelJobResponse response,
      stub_->Call(options_, "CancelJob", &v1::JobService::Stub::CancelJob, request));
  return std::move(*response.mutable_job());
}

absl::StatusOr<std::vector<v1::WorkerInfo>> Client::ListWorkers() {
  KILN_ASSIGN_OR_RETURN(v1::ListWorkersResponse response,
                        stub_->Call(options_, "ListWorkers", &v1::JobService::Stub::ListWorkers,
                                    v1::ListWorkersRequest()));
  return std::vector<v1::WorkerInfo>(std::make_move_iterator(response.mutable_workers()->begin()),
                                     std::make_move_iterator(response.mutable_workers()->end()));
}

absl::StatusOr<v1::WorkerInfo> Client::DrainWorker(const std::string& worker_id, bool resume) {
  v1::DrainWorkerRequest request;
  request.set_worker_id(worker_id);
  request.set_resume(resume);
  KILN_ASSIGN_OR_RETURN(
      v1::DrainWorkerResponse response,
      stub_->Call(options_, "DrainWorker", &v1::JobService::Stub::DrainWorker, request));
  return std::move(*response.mutable_worker());
}

absl::StatusOr<v1::GetJobLogResponse> Client::GetJobLog(const v1::GetJobLogRequest& request) {
  const absl::Duration wait =
      absl::Seconds(request.wait().seconds()) + absl::Nanoseconds(request.wait().nanos());
  v1::GetJobLogResponse response;
  KILN_RETURN_IF_ERROR(RetryUnavailable(options_, [&]() {
    grpc::ClientContext context;
    PrepareContext(context, options_,
                   options_.default_deadline + std::max(wait, absl::ZeroDuration()));
    response.Clear();
    return FromGrpcStatus(stub_->service->GetJobLog(&context, request, &response), "GetJobLog",
                          options_.address);
  }));
  return response;
}

absl::StatusOr<std::string> Client::ReadBlob(const std::string& sha256, int64_t max_bytes) {
  std::string content;
  KILN_RETURN_IF_ERROR(RetryUnavailable(options_, [&]() -> absl::Status {
    grpc::ClientContext context;
    PrepareContext(context, options_, options_.transfer_deadline);
    v1::GetBlobRequest request;
    request.set_sha256(sha256);
    std::unique_ptr<grpc::ClientReader<v1::GetBlobResponse>> reader =
        stub_->service->GetBlob(&context, request);
    content.clear();
    int64_t size = -1;
    v1::GetBlobResponse chunk;
    while (reader->Read(&chunk)) {
      if (size < 0) size = chunk.size_bytes();
      if (size > max_bytes) {
        context.TryCancel();
        reader->Finish();
        return absl::OutOfRangeError(absl::StrCat("blob ", sha256, " has ", size,
                                                  " bytes, more than the ", max_bytes,
                                                  " this read allows"));
      }
      content += chunk.data();
    }
    KILN_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish(), "GetBlob", options_.address));
    if (static_cast<int64_t>(content.size()) != std::max<int64_t>(size, 0) ||
        Sha256Hex(content) != sha256) {
      return absl::DataLossError(absl::StrCat("blob ", sha256, " arrived short or corrupted"));
    }
    return absl::OkStatus();
  }));
  return content;
}

absl::StatusOr<v1::GetJobLogResponse> Client::ReadLog(
    const std::string& job_id, int attempt, bool follow,
    const std::function<void(absl::string_view)>& on_output, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  v1::GetJobLogRequest request;
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  int64_t offset = 0;  // Output delivered so far: [0, offset).
  while (true) {
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("attempt ", request.attempt(), " of job ",
                                                      job_id, " still running after ",
                                                      absl::FormatDuration(timeout)));
    }
    request.set_offset(offset);
    const absl::Duration wait = follow ? std::min(left, absl::Seconds(30)) : absl::ZeroDuration();
    request.mutable_wait()->set_seconds(absl::ToInt64Seconds(wait));
    request.mutable_wait()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(wait - absl::Seconds(absl::ToInt64Seconds(wait)))));
    absl::StatusOr<v1::GetJobLogResponse> answer = GetJobLog(request);
    if (follow && absl::IsFailedPrecondition(answer.status())) {
      // No attempt yet: a follower waits for the first one, unless the job is over.
      KILN_ASSIGN_OR_RETURN(v1::Job job, Get(job_id));
      if (IsTerminal(job.state())) return answer.status();
      absl::SleepFor(std::min(absl::Milliseconds(250), std::max(left, absl::ZeroDuration())));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(v1::GetJobLogResponse response, std::move(answer));
    // Stay on this attempt: a retry that starts meanwhile is another attempt's log.
    request.set_attempt(response.attempt());
    if (!response.data().empty()) {
      if (response.offset() > offset) {
        on_output(absl::StrCat("[kiln: ", response.offset() - offset,
                               " bytes of output not shown: no longer in the live tail]\n"));
      }
      on_output(response.data());
    }
    offset = std::max(offset, response.next_offset());
    if (response.ended()) {
      if (response.log().sha256().empty()) {
        if (offset > 0) return response;  // Shown live; the worker kept no copy.
        return absl::NotFoundError(
            absl::StrCat("attempt ", response.attempt(), " of job ", job_id, " ended (",
                         v1::ExitReason_Name(response.exit_reason()), ") without a log"));
      }
      KILN_ASSIGN_OR_RETURN(std::string blob, ReadBlob(response.log().sha256()));
      if (offset == 0) {
        on_output(blob);
        return response;
      }
      // Line the blob up with what the live tail showed already.
      const AttemptLogLayout layout = ParseAttemptLog(blob);
      const absl::string_view body = absl::string_view(blob).substr(layout.body_start);
      if (offset < layout.dropped) {
        on_output(absl::StrCat("[kiln: ", layout.dropped - offset,
                               " bytes of output not shown: cut from the log]\n"));
        on_output(body);
      } else if (offset - layout.dropped < static_cast<int64_t>(body.size())) {
        on_output(body.substr(static_cast<size_t>(offset - layout.dropped)));
      }
      return response;
    }
    if (!follow) return response;
  }
}

absl::Status Client::Watch(const std::string& job_id,
                           const std::function<bool(const v1::Job&)>& on_change,
                           absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;  // Infinite timeout: InfiniteFuture.
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  Backoff backoff(options_);
  int64_t last_revision = -1;
  int failures = 0;  // Consecutive broken streams that delivered nothing.
  const auto timed_out = [&] {
    return absl::DeadlineExceededError(
        absl::StrCat("job ", job_id, " not finished after ", absl::FormatDuration(timeout)));
  };
  while (true) {
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return timed_out();
    // When the caller's deadline comes before the per-stream one, this stream's deadline
    // is the caller's: gRPC may report it a little before absl::Now() reaches `end`, and
    // must not lead to a stream reopened for the last microseconds.
    const bool final_stream = left <= options_.watch_stream_deadline;
    grpc::ClientContext context;
    PrepareContext(context, options_, std::min(left, options_.watch_stream_deadline));
    std::unique_ptr<grpc::ClientReader<v1::WatchJobResponse>> reader =
        stub_->service->WatchJob(&context, request);
    v1::WatchJobResponse response;
    bool received = false;
    bool done = false;
    while (reader->Read(&response)) {
      const v1::Job& job = response.job();
      // A reopened stream starts with the current state, which the caller may have seen.
      const bool replay = !received && job.revision() <= last_revision;
      received = true;
      if (replay) continue;
      last_revision = job.revision();
      if (!on_change(job) || IsTerminal(job.state())) {
        done = true;
        context.TryCancel();
        break;
      }
    }
    const grpc::Status grpc_status = reader->Finish();
    if (done) return absl::OkStatus();
    absl::Status status = FromGrpcStatus(grpc_status, "WatchJob", options_.address);
    if (received) {
      failures = 0;
      backoff.Reset(options_);
    }
    switch (status.code()) {
      case absl::StatusCode::kDeadlineExceeded:
        if (final_stream) return timed_out();
        // Our own per-stream deadline: reopen.
        if (received || absl::Now() >= end) continue;
        break;
      case absl::StatusCode::kOk:           // Closed before a terminal state: reopen.
      case absl::StatusCode::kUnavailable:  // Scheduler restarting or unreachable.
        break;
      default:
        return status;
    }
    if (!received && ++failures > options_.max_watch_reconnects) {
      if (status.ok()) {
        status = absl::UnavailableError(
            absl::StrCat("WatchJob for ", job_id, " keeps closing before the job finishes"));
      }
      return status;
    }
    absl::SleepFor(std::min(backoff.Next(), std::max(end - absl::Now(), absl::ZeroDuration())));
  }
}

absl::StatusOr<v1::Job> Client::Wait(const std::string& job_id, absl::Duration timeout) {
  v1::Job last;
  KILN_RETURN_IF_ERROR(Watch(
      job_id,
      [&last](const v1::Job& job) {
        last = job;
        return true;
      },
      timeout));
  return last;
}

absl::StatusOr<v1::BlobRef> Client::UploadFile(const std::string& path, std::string name) {
  if (name.empty()) name = std::filesystem::path(path).filename().string();
  v1::BlobRef ref;
  KILN_RETURN_IF_ERROR(RetryUnavailable(options_, [&]() -> absl::Status {
    grpc::ClientContext context;
    PrepareContext(context, options_, options_.transfer_deadline);
    KILN_ASSIGN_OR_RETURN(ref,
                          UploadFileAsBlob(*stub_->service, context, options_.address, path, name));
    return absl::OkStatus();
  }));
  return ref;
}

absl::Status Client::DownloadBlob(const std::string& sha256, const std::string& path) {
  return RetryUnavailable(options_, [&]() {
    grpc::ClientContext context;
    PrepareContext(context, options_, options_.transfer_deadline);
    return DownloadBlobToFile(*stub_->service, context, options_.address, sha256, path);
  });
}

}  // namespace kiln
