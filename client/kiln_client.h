// kiln::Client: the C++ SDK of Kiln. It speaks kiln.v1.JobService to one scheduler:
// submit jobs, follow them, cancel them, move blobs in and out, list workers, read
// what a job printed (ReadLog).
//
// Installed SDK: `cmake --install build --prefix PREFIX` puts the headers, the static
// libraries and a CMake package there; a project uses it with
//
//   find_package(kiln CONFIG REQUIRED)   # -DCMAKE_PREFIX_PATH=PREFIX; finds gRPC, protobuf, absl
//   target_link_libraries(my_tool PRIVATE kiln::client)
//
// and includes this header as "client/kiln_client.h" (the messages: "kiln/v1/job.pb.h").
// A whole program: client/examples/submit_wait_fetch.cc.
//
// Example:
//
//   #include "client/kiln_client.h"
//
//   kiln::ClientOptions options;
//   options.address = "127.0.0.1:7070";
//   absl::StatusOr<std::unique_ptr<kiln::Client>> client = kiln::Client::Create(options);
//   if (!client.ok()) return client.status();
//
//   kiln::v1::JobSpec spec;
//   spec.set_task("mesh.extract");
//   google::protobuf::util::JsonStringToMessage(
//       R"({"shape": {"type": "sphere", "radius": 1}, "resolution": 64})",
//       spec.mutable_parameters());
//   absl::StatusOr<kiln::v1::Job> job = (*client)->Submit(spec);
//   if (!job.ok()) return job.status();
//
//   job = (*client)->Wait(job->id(), absl::Minutes(10));
//   if (!job.ok()) return job.status();
//   if (job->state() == kiln::v1::JOB_STATE_SUCCEEDED) {
//     for (const kiln::v1::BlobRef& out : job->outputs()) {
//       absl::Status s = (*client)->DownloadBlob(out.sha256(), "/tmp/" + out.name());
//       if (!s.ok()) return s;
//     }
//   }
//
// Errors: every call returns absl::Status codes as the scheduler sent them (NOT_FOUND for
// an unknown job, INVALID_ARGUMENT for a spec it rejects, FAILED_PRECONDITION for e.g.
// cancelling a finished job); UNAVAILABLE means the scheduler could not be reached even
// after the retries below; DEADLINE_EXCEEDED means a call (or Wait) ran out of time.
//
// Retries: a call that fails with UNAVAILABLE is retried with exponential backoff, at most
// ClientOptions::max_retries times, and only when repeating it is harmless: reads, blob
// transfers (blobs are content-addressed), Cancel, and Submit/SubmitMany, which fill in
// JobSpec.client_request_id so that the scheduler folds a repeated submit into the first.
// Every RPC carries a deadline.
//
// Threading: a Client is thread-safe; any number of threads may call it at once. It owns
// its gRPC channel; blocking calls block only the calling thread.
#ifndef KILN_CLIENT_KILN_CLIENT_H_
#define KILN_CLIENT_KILN_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/job_service.pb.h"
#include "kiln/v1/worker.pb.h"

namespace kiln {

// How a Client reaches the scheduler and how patient it is.
struct ClientOptions {
  // Scheduler address, "host:port" (any gRPC target string works).
  std::string address;
  // Bearer token, sent as "authorization: Bearer <token>" metadata on every call when not
  // empty (printable ASCII only). A scheduler run with --auth-tokens requires one; it decides
  // the caller's tenant and role (docs/operations.md, Tokens and tenants).
  std::string token;
  // TLS to the scheduler (CA, client certificate for mutual TLS, server name); plaintext
  // when left empty. See client/tls_options.h.
  ClientTlsOptions tls;
  // Deadline of each unary RPC attempt.
  absl::Duration default_deadline = absl::Seconds(30);
  // Retries after the first attempt of an idempotent call that failed with UNAVAILABLE.
  int max_retries = 5;
  // Backoff before the first retry; it doubles (with jitter) up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Deadline of one blob upload or download (a whole stream).
  absl::Duration transfer_deadline = absl::Minutes(30);
  // Consecutive broken watch streams (UNAVAILABLE, nothing received) before Watch gives up;
  // with the backoff above, 10 spans about 25 s: enough for a scheduler restart.
  int max_watch_reconnects = 10;
  // A watch stream is re-opened after this long, so that a scheduler that vanished
  // without closing the connection is noticed; the reopen is invisible to the caller.
  absl::Duration watch_stream_deadline = absl::Minutes(1);
};

class Client {
 public:
  // Creates a client; it connects lazily, so this fails only on bad options.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Submits one job and returns it as stored. An empty client_request_id is replaced by a
  // random one, so a retry after a lost reply cannot create a second job.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec);
  // Submits jobs in one durable write (all or none); the jobs come back in spec order.
  // At most the scheduler's batch limit (1000 by default) per call.
  absl::StatusOr<std::vector<v1::Job>> SubmitMany(const std::vector<v1::JobSpec>& specs);

  absl::StatusOr<v1::Job> Get(const std::string& job_id);
  // One page of jobs; follow response.next_page_token for more.
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request);
  // Cancels an unfinished job and returns it after the cancel.
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id, const std::string& reason);

  // Calls on_change with the job's current state and then with every change, in order and
  // each revision once, until the job is terminal (returns OK), on_change returns false
  // (returns OK), `timeout` passes (DEADLINE_EXCEEDED) or the stream fails for good. A stream
  // that breaks with UNAVAILABLE is re-opened, up to max_watch_reconnects times in a row.
  absl::Status Watch(const std::string& job_id,
                     const std::function<bool(const v1::Job&)>& on_change,
                     absl::Duration timeout = absl::InfiniteDuration());
  // Blocks until the job is terminal and returns it; DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<v1::Job> Wait(const std::string& job_id, absl::Duration timeout);

  // Uploads a file in 1 MiB chunks and returns its reference, named `name` (the file's
  // base name when empty). Size and sha256 are computed before the upload starts, so the
  // scheduler rejects a file that changes while it is sent.
  absl::StatusOr<v1::BlobRef> UploadFile(const std::string& path, std::string name = "");
  // Downloads a blob to `path`: it streams into a temporary file next to it, checks the
  // size and sha256, then renames it into place; `path` never holds a partial blob.
  absl::Status DownloadBlob(const std::string& sha256, const std::string& path);

  absl::StatusOr<std::vector<v1::WorkerInfo>> ListWorkers();
  // Drains a worker (it finishes what it holds and is assigned nothing new), or with
  // `resume` ends the drain; returns the worker after the change. NOT_FOUND: no such worker.
  absl::StatusOr<v1::WorkerInfo> DrainWorker(const std::string& worker_id, bool resume = false);

  // One GetJobLog call: the live tail of a running attempt from request.offset (its
  // deadline covers request.wait), or an ended attempt's log blob reference.
  absl::StatusOr<v1::GetJobLogResponse> GetJobLog(const v1::GetJobLogRequest& request);
  // What attempt `attempt` (0: the latest) of a job printed, passed to on_output as it
  // arrives. An ended attempt: its log blob. A running one: the live tail so far, and
  // with `follow` everything it prints until it ends (then the rest from its blob); a
  // follower of a job with no attempt yet waits for its first one.
  // Returns the last GetJobLog answer (attempt number, ended, exit_reason, job_state).
  // NOT_FOUND: no such job, or the attempt ended without a log (lease lost, cancelled);
  // OUT_OF_RANGE: no such attempt; FAILED_PRECONDITION: no attempt yet;
  // DEADLINE_EXCEEDED: `timeout` passed while following.
  absl::StatusOr<v1::GetJobLogResponse> ReadLog(
      const std::string& job_id, int attempt, bool follow,
      const std::function<void(absl::string_view)>& on_output,
      absl::Duration timeout = absl::InfiniteDuration());
  // A blob's content in memory (for small blobs such as logs), size and sha256 checked;
  // OUT_OF_RANGE when it is larger than max_bytes.
  absl::StatusOr<std::string> ReadBlob(const std::string& sha256,
                                       int64_t max_bytes = int64_t{64} << 20);

  const ClientOptions& options() const { return options_; }

 private:
  struct Stub;
  Client(const ClientOptions& options, std::unique_ptr<Stub> stub);

  const ClientOptions options_;
  const std::unique_ptr<Stub> stub_;
};

}  // namespace kiln

#endif  // KILN_CLIENT_KILN_CLIENT_H_
