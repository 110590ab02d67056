#include "client/kiln_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "kiln/v1/job_service.grpc.pb.h"

namespace kiln {
namespace {

constexpr int64_t kChunkBytes = 1 << 20;  // PutBlob's per-message limit.

// The one place in client/ where a grpc::Status becomes an absl::Status. gRPC and Abseil
// share the canonical code numbers (google.rpc.Code), so the code carries over as is.
// Transport failures get the RPC and address prepended: the scheduler's own messages are
// self-explanatory, "connection refused" is not.
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc,
                            absl::string_view address) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
    return absl::Status(
        code, absl::StrCat(rpc, " to scheduler at ", address, ": ", status.error_message()));
  }
  return absl::Status(code, status.error_message());
}

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

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
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
      SetDeadline(context, options.default_deadline);
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
  if (options.max_retries < 0 || options.max_watch_reconnects < 0) {
    return absl::InvalidArgumentError("max_retries and max_watch_reconnects must be >= 0");
  }
  grpc::ChannelArguments args;
  // A chunk is 1 MiB of data plus framing; leave room above it.
  args.SetMaxReceiveMessageSize(4 * kChunkBytes);
  // Calls fail fast while the channel waits to reconnect, so gRPC's own reconnect backoff
  // (1 s growing to 120 s) would outlast our retries after a scheduler restart; keep it on
  // the same schedule as the retries.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  auto stub = std::make_unique<Stub>();
  stub->channel =
      grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args);
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

absl::Status Client::Watch(const std::string& job_id,
                           const std::function<bool(const v1::Job&)>& on_change,
                           absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;  // Infinite timeout: InfiniteFuture.
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  Backoff backoff(options_);
  int64_t last_revision = -1;
  int failures = 0;  // Consecutive broken streams that delivered nothing.
  while (true) {
    if (absl::Now() >= end) {
      return absl::DeadlineExceededError(
          absl::StrCat("job ", job_id, " not finished after ", absl::FormatDuration(timeout)));
    }
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(std::min(end, absl::Now() + options_.watch_stream_deadline)));
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
        // Our own per-stream deadline (or the overall one, reported at the loop top).
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
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) {
    return absl::Status(absl::ErrnoToStatusCode(error.value()),
                        absl::StrCat("cannot upload ", path, ": ", error.message()));
  }
  KILN_ASSIGN_OR_RETURN(std::string sha256, Sha256OfFile(path));
  v1::BlobRef ref;
  ref.set_name(std::move(name));
  ref.set_sha256(std::move(sha256));
  ref.set_size_bytes(static_cast<int64_t>(size));
  v1::BlobRef result;
  KILN_RETURN_IF_ERROR(RetryUnavailable(options_, [&]() -> absl::Status {
    KILN_ASSIGN_OR_RETURN(result, UploadOnce(path, ref));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::BlobRef> Client::UploadOnce(const std::string& path, const v1::BlobRef& ref) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  grpc::ClientContext context;
  SetDeadline(context, options_.transfer_deadline);
  v1::PutBlobResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::PutBlobRequest>> writer =
      stub_->service->PutBlob(&context, &response);
  v1::PutBlobRequest request;
  request.mutable_header()->set_size_bytes(ref.size_bytes());
  request.mutable_header()->set_sha256(ref.sha256());
  std::string buffer(kChunkBytes, '\0');
  absl::Status local;  // A local read error; the stream is cancelled and this wins.
  int64_t sent = 0;
  do {
    const int64_t want = std::min(kChunkBytes, ref.size_bytes() - sent);
    file.read(buffer.data(), want);
    if (file.gcount() != want) {
      local = absl::DataLossError(absl::StrCat(path, " shrank while it was uploaded"));
      context.TryCancel();
      break;
    }
    request.set_data(buffer.data(), want);
    // A failed write means the stream broke; Finish() says why.
    if (!writer->Write(request)) break;
    request.clear_header();
    sent += want;
  } while (sent < ref.size_bytes());
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  KILN_RETURN_IF_ERROR(local);
  KILN_RETURN_IF_ERROR(FromGrpcStatus(status, "PutBlob", options_.address));
  if (response.sha256() != ref.sha256() || response.size_bytes() != ref.size_bytes()) {
    return absl::DataLossError(absl::StrCat("scheduler stored ", path, " as ", response.sha256(),
                                            " (", response.size_bytes(), " bytes), expected ",
                                            ref.sha256(), " (", ref.size_bytes(), " bytes)"));
  }
  return ref;
}

absl::Status Client::DownloadBlob(const std::string& sha256, const std::string& path) {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError(absl::StrCat("not a sha256 blob address: ", sha256));
  }
  return RetryUnavailable(options_, [&]() { return DownloadOnce(sha256, path); });
}

absl::Status Client::DownloadOnce(const std::string& sha256, const std::string& path) {
  // O_EXCL with a random name instead of mkstemp: mkstemp makes the file 0600, and fixing
  // the mode afterwards would need the process-wide umask.
  const std::string temp = absl::StrCat(path, ".kiln-tmp-", RandomId());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", temp));
  // The temp file goes away on every failure path; only a verified blob is renamed.
  bool keep = false;
  struct Cleanup {
    int fd;
    const std::string& temp;
    const bool& keep;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!keep) ::unlink(temp.c_str());
    }
  } cleanup{fd, temp, keep};

  grpc::ClientContext context;
  SetDeadline(context, options_.transfer_deadline);
  v1::GetBlobRequest request;
  request.set_sha256(sha256);
  std::unique_ptr<grpc::ClientReader<v1::GetBlobResponse>> reader =
      stub_->service->GetBlob(&context, request);
  Sha256 hasher;
  v1::GetBlobResponse response;
  int64_t expected_size = -1;
  int64_t received = 0;
  absl::Status local;
  while (reader->Read(&response)) {
    if (expected_size < 0) expected_size = response.size_bytes();
    hasher.Update(response.data());
    received += static_cast<int64_t>(response.data().size());
    local = WriteAll(fd, response.data());
    if (!local.ok()) {
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  KILN_RETURN_IF_ERROR(local);
  KILN_RETURN_IF_ERROR(FromGrpcStatus(status, "GetBlob", options_.address));
  if (expected_size >= 0 && received != expected_size) {
    return absl::DataLossError(
        absl::StrCat("blob ", sha256, ": received ", received, " bytes, expected ", expected_size));
  }
  const std::string actual = hasher.FinishHex();
  if (actual != sha256) {
    return absl::DataLossError(
        absl::StrCat("blob ", sha256, " arrived corrupted (its sha256 is ", actual, ")"));
  }
  if (::fsync(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", temp));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", temp, " to ", path));
  }
  keep = true;
  return absl::OkStatus();
}

}  // namespace kiln
