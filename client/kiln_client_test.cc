// Tests kiln::Client against an in-process fake JobService on 127.0.0.1 (port 0): retries,
// idempotent submits, status translation, blob transfers and watch reconnects.
#include "client/kiln_client.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kiln/v1/job_service.grpc.pb.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Job MakeJob(int64_t revision, v1::JobState state) {
  v1::Job job;
  job.set_id("j-1");
  job.set_revision(revision);
  job.set_state(state);
  return job;
}

// One scripted WatchJob stream: the jobs it sends, then how it ends.
struct WatchScript {
  std::vector<v1::Job> jobs;
  grpc::Status end = grpc::Status::OK;
  bool hang = false;  // After the jobs, wait until the client goes away.
};

// A JobService whose answers the tests script. Thread-safe (gRPC calls it on its threads).
class FakeJobService final : public v1::JobService::Service {
 public:
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override {
    absl::MutexLock lock(&mu_);
    submit_request_ids_.push_back(request->spec().client_request_id());
    if (submit_failures_ > 0) {
      --submit_failures_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler restarting");
    }
    response->mutable_job()->set_id("j-1");
    *response->mutable_job()->mutable_spec() = request->spec();
    return grpc::Status::OK;
  }

  grpc::Status SubmitJobs(grpc::ServerContext*, const v1::SubmitJobsRequest* request,
                          v1::SubmitJobsResponse* response) override {
    for (int i = 0; i < request->specs_size(); ++i) {
      v1::Job* job = response->add_results()->mutable_job();
      job->set_id("j-" + std::to_string(i));
      *job->mutable_spec() = request->specs(i);
    }
    return grpc::Status::OK;
  }

  // Records the caller's authorization metadata; "w1" is the only worker.
  grpc::Status DrainWorker(grpc::ServerContext* context, const v1::DrainWorkerRequest* request,
                           v1::DrainWorkerResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto auth = context->client_metadata().find("authorization");
    authorization_ = auth == context->client_metadata().end()
                         ? "<none>"
                         : std::string(auth->second.data(), auth->second.size());
    if (request->worker_id() != "w1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "worker " + request->worker_id());
    }
    response->mutable_worker()->set_id("w1");
    response->mutable_worker()->set_draining(!request->resume());
    return grpc::Status::OK;
  }

  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++get_calls_;
    if (get_always_unavailable_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
    if (request->job_id() != "j-1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "job " + request->job_id() + " not found");
    }
    response->mutable_job()->set_id("j-1");
    return grpc::Status::OK;
  }

  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                         v1::CancelJobResponse*) override {
    absl::MutexLock lock(&mu_);
    ++cancel_calls_;
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job already finished");
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::WatchJobResponse>* writer) override {
    WatchScript script;
    {
      absl::MutexLock lock(&mu_);
      if (watch_scripts_.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, "no script");
      script = watch_scripts_.front();
      watch_scripts_.erase(watch_scripts_.begin());
      ++watch_streams_;
    }
    for (const v1::Job& job : script.jobs) {
      v1::WatchJobResponse response;
      *response.mutable_job() = job;
      if (!writer->Write(response)) return grpc::Status::CANCELLED;
    }
    if (script.hang) {
      // Bounded: the client's deadline or cancel ends this well within the limit.
      const absl::Time limit = absl::Now() + absl::Seconds(20);
      while (!context->IsCancelled() && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(2));
    }
    return script.end;
  }

  grpc::Status PutBlob(grpc::ServerContext*, grpc::ServerReader<v1::PutBlobRequest>* reader,
                       v1::PutBlobResponse* response) override {
    v1::PutBlobRequest request;
    std::string data;
    v1::BlobHeader header;
    int messages = 0;
    while (reader->Read(&request)) {
      if (messages++ == 0) header = request.header();
      if (request.data().size() > (1u << 20)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "chunk too large");
      }
      data += request.data();
    }
    if (static_cast<int64_t>(data.size()) != header.size_bytes() ||
        Sha256Hex(data) != header.sha256()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "size or sha256 mismatch");
    }
    absl::MutexLock lock(&mu_);
    put_messages_ = messages;
    blobs_[header.sha256()] = data;
    response->set_sha256(header.sha256());
    response->set_size_bytes(static_cast<int64_t>(data.size()));
    return grpc::Status::OK;
  }

  grpc::Status GetBlob(grpc::ServerContext*, const v1::GetBlobRequest* request,
                       grpc::ServerWriter<v1::GetBlobResponse>* writer) override {
    std::string data;
    {
      absl::MutexLock lock(&mu_);
      auto it = blobs_.find(request->sha256());
      if (it == blobs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such blob");
      data = it->second;
      if (corrupt_downloads_) data[0] ^= 1;
    }
    v1::GetBlobResponse response;
    response.set_size_bytes(static_cast<int64_t>(data.size()));
    for (size_t offset = 0; offset < data.size(); offset += 1 << 20) {
      response.set_data(data.substr(offset, 1 << 20));
      writer->Write(response);
      response.clear_size_bytes();
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  int submit_failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> submit_request_ids_ ABSL_GUARDED_BY(mu_);
  int get_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool get_always_unavailable_ ABSL_GUARDED_BY(mu_) = false;
  int cancel_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<WatchScript> watch_scripts_ ABSL_GUARDED_BY(mu_);
  int watch_streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
  int put_messages_ ABSL_GUARDED_BY(mu_) = 0;
  bool corrupt_downloads_ ABSL_GUARDED_BY(mu_) = false;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    options_.address = "127.0.0.1:" + std::to_string(port);
    options_.initial_backoff = absl::Milliseconds(1);
    options_.max_backoff = absl::Milliseconds(4);
    options_.default_deadline = absl::Seconds(10);
    client_ = *Client::Create(options_);

    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("kiln_client_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    std::filesystem::remove_all(dir_);
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }
  static std::string ReadFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream contents;
    contents << file.rdbuf();
    return contents.str();
  }
  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  FakeJobService service_;
  std::unique_ptr<grpc::Server> server_;
  ClientOptions options_;
  std::unique_ptr<Client> client_;
  std::filesystem::path dir_;
};

TEST(ClientCreateTest, RejectsBadOptions) {
  EXPECT_EQ(Client::Create(ClientOptions{}).status().code(), absl::StatusCode::kInvalidArgument);
  ClientOptions options;
  options.address = "127.0.0.1:1";
  options.default_deadline = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientCreateTest, RejectsATokenThatCannotBeMetadata) {
  ClientOptions options;
  options.address = "127.0.0.1:1";
  options.token = "line\nbreak";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.status().message().substr(0, 6), "token:");
}

TEST_F(ClientTest, SendsTheTokenAsBearerMetadataAndDrains) {
  absl::StatusOr<v1::WorkerInfo> plain = client_->DrainWorker("w1");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->draining());
  {
    absl::MutexLock lock(&service_.mu_);
    EXPECT_EQ(service_.authorization_, "<none>");
  }
  ClientOptions with_token = options_;
  with_token.token = "s3cret";
  std::unique_ptr<Client> client = *Client::Create(with_token);
  absl::StatusOr<v1::WorkerInfo> resumed = client->DrainWorker("w1", /*resume=*/true);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_FALSE(resumed->draining());
  {
    absl::MutexLock lock(&service_.mu_);
    EXPECT_EQ(service_.authorization_, "Bearer s3cret");
  }
  EXPECT_EQ(client->DrainWorker("w2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, SubmitRetriesUnavailableWithTheSameRequestId) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.submit_failures_ = 2;
  }
  v1::JobSpec spec;
  spec.set_task("mesh.extract");
  absl::StatusOr<v1::Job> job = client_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::MutexLock lock(&service_.mu_);
  ASSERT_EQ(service_.submit_request_ids_.size(), 3u);
  EXPECT_FALSE(service_.submit_request_ids_[0].empty());
  EXPECT_EQ(service_.submit_request_ids_[1], service_.submit_request_ids_[0]);
  EXPECT_EQ(service_.submit_request_ids_[2], service_.submit_request_ids_[0]);
  EXPECT_EQ(job->spec().client_request_id(), service_.submit_request_ids_[0]);
}

TEST_F(ClientTest, SubmitKeepsTheCallersRequestId) {
  v1::JobSpec spec;
  spec.set_task("t");
  spec.set_client_request_id("mine");
  ASSERT_TRUE(client_->Submit(spec).ok());
  absl::MutexLock lock(&service_.mu_);
  EXPECT_THAT(service_.submit_request_ids_, ElementsAre("mine"));
}

TEST_F(ClientTest, SubmitManyGivesEachSpecItsOwnRequestId) {
  std::vector<v1::JobSpec> specs(3);
  specs[1].set_client_request_id("keep");
  absl::StatusOr<std::vector<v1::Job>> jobs = client_->SubmitMany(specs);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[1].spec().client_request_id(), "keep");
  EXPECT_FALSE((*jobs)[0].spec().client_request_id().empty());
  EXPECT_NE((*jobs)[0].spec().client_request_id(), (*jobs)[2].spec().client_request_id());
}

TEST_F(ClientTest, OtherErrorsAreTranslatedAndNotRetried) {
  absl::StatusOr<v1::Job> missing = client_->Get("j-nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "job j-nope not found");
  absl::StatusOr<v1::Job> cancelled = client_->Cancel("j-1", "why");
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::MutexLock lock(&service_.mu_);
  EXPECT_EQ(service_.get_calls_, 1);
  EXPECT_EQ(service_.cancel_calls_, 1);
}

TEST_F(ClientTest, GivesUpAfterMaxRetries) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.get_always_unavailable_ = true;
  }
  options_.max_retries = 2;
  std::unique_ptr<Client> client = *Client::Create(options_);
  absl::StatusOr<v1::Job> job = client->Get("j-1");
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(job.status().message(), HasSubstr("GetJob to scheduler at " + options_.address));
  absl::MutexLock lock(&service_.mu_);
  EXPECT_EQ(service_.get_calls_, 3);
}

TEST_F(ClientTest, UnreachableSchedulerIsUnavailable) {
  ClientOptions options = options_;
  server_->Shutdown(absl::ToChronoTime(absl::Now()));  // Nothing listens on the port now.
  options.max_retries = 1;
  std::unique_ptr<Client> client = *Client::Create(options);
  EXPECT_EQ(client->ListWorkers().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTest, UploadAndDownloadRoundTrip) {
  std::string contents((5 << 19) + 123, '\0');  // 2.5 MiB and a bit: three chunks.
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>(i * 7 + i / 991);
  const std::string path = WriteFile("volume.npy", contents);

  absl::StatusOr<v1::BlobRef> ref = client_->UploadFile(path);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name(), "volume.npy");
  EXPECT_EQ(ref->sha256(), Sha256Hex(contents));
  EXPECT_EQ(ref->size_bytes(), static_cast<int64_t>(contents.size()));
  {
    absl::MutexLock lock(&service_.mu_);
    EXPECT_EQ(service_.put_messages_, 3);
  }

  const std::string out = (dir_ / "copy.npy").string();
  ASSERT_TRUE(client_->DownloadBlob(ref->sha256(), out).ok());
  EXPECT_EQ(ReadFile(out), contents);
  EXPECT_THAT(DirEntries(), ElementsAre("copy.npy", "volume.npy"));  // No temp files left.
}

TEST_F(ClientTest, UploadsAnEmptyFileUnderItsGivenName) {
  const std::string path = WriteFile("empty", "");
  absl::StatusOr<v1::BlobRef> ref = client_->UploadFile(path, "input.txt");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name(), "input.txt");
  EXPECT_EQ(ref->size_bytes(), 0);
  EXPECT_EQ(client_->UploadFile((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, DownloadRejectsACorruptBlobAndLeavesNothing) {
  const std::string path = WriteFile("in.bin", "some bytes");
  absl::StatusOr<v1::BlobRef> ref = client_->UploadFile(path);
  ASSERT_TRUE(ref.ok()) << ref.status();
  {
    absl::MutexLock lock(&service_.mu_);
    service_.corrupt_downloads_ = true;
  }
  absl::Status status = client_->DownloadBlob(ref->sha256(), (dir_ / "out.bin").string());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(DirEntries(), ElementsAre("in.bin"));

  EXPECT_EQ(client_->DownloadBlob(std::string(64, 'f'), (dir_ / "x").string()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->DownloadBlob("not-a-sha", (dir_ / "x").string()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(DirEntries(), ElementsAre("in.bin"));
}

TEST_F(ClientTest, WatchReconnectsAndDeliversEachRevisionOnce) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {
        {{MakeJob(1, v1::JOB_STATE_QUEUED), MakeJob(2, v1::JOB_STATE_RUNNING)},
         grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler restarting")},
        {{}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "still restarting")},
        // A reopened stream starts with the current state, already seen.
        {{MakeJob(2, v1::JOB_STATE_RUNNING), MakeJob(3, v1::JOB_STATE_RUNNING),
          MakeJob(4, v1::JOB_STATE_SUCCEEDED)}},
    };
  }
  std::vector<int64_t> revisions;
  absl::Status status = client_->Watch("j-1", [&](const v1::Job& job) {
    revisions.push_back(job.revision());
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(revisions, ElementsAre(1, 2, 3, 4));
  absl::MutexLock lock(&service_.mu_);
  EXPECT_EQ(service_.watch_streams_, 3);
}

TEST_F(ClientTest, WatchStopsWhenTheCallbackSaysSo) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {
        {{MakeJob(1, v1::JOB_STATE_QUEUED), MakeJob(2, v1::JOB_STATE_RUNNING)}, {}, true}};
  }
  int calls = 0;
  EXPECT_TRUE(client_->Watch("j-1", [&](const v1::Job&) { return ++calls < 2; }).ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(ClientTest, WatchGivesUpAfterRepeatedEmptyFailures) {
  options_.max_watch_reconnects = 2;
  std::unique_ptr<Client> client = *Client::Create(options_);
  {
    absl::MutexLock lock(&service_.mu_);
    for (int i = 0; i < 5; ++i) {
      service_.watch_scripts_.push_back({{}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")});
    }
  }
  absl::Status status = client->Watch("j-1", [](const v1::Job&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  absl::MutexLock lock(&service_.mu_);
  EXPECT_EQ(service_.watch_streams_, 3);
}

TEST_F(ClientTest, WatchReportsOtherErrorsAtOnce) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {{{}, grpc::Status(grpc::StatusCode::NOT_FOUND, "no job j-9")}};
  }
  EXPECT_EQ(client_->Watch("j-9", [](const v1::Job&) { return true; }).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, WaitReturnsTheTerminalJob) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {
        {{MakeJob(1, v1::JOB_STATE_RUNNING), MakeJob(2, v1::JOB_STATE_FAILED)}}};
  }
  absl::StatusOr<v1::Job> job = client_->Wait("j-1", absl::Seconds(10));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->revision(), 2);
}

TEST_F(ClientTest, WaitTimesOutWithDeadlineExceeded) {
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {{{MakeJob(1, v1::JOB_STATE_QUEUED)}, {}, true}};
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Job> job = client_->Wait("j-1", absl::Milliseconds(300));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(ClientTest, WatchReopensWhenItsStreamDeadlinePasses) {
  options_.watch_stream_deadline = absl::Milliseconds(200);
  std::unique_ptr<Client> client = *Client::Create(options_);
  {
    absl::MutexLock lock(&service_.mu_);
    service_.watch_scripts_ = {
        {{MakeJob(1, v1::JOB_STATE_QUEUED)}, {}, true},
        {{MakeJob(1, v1::JOB_STATE_QUEUED), MakeJob(2, v1::JOB_STATE_SUCCEEDED)}}};
  }
  std::vector<int64_t> revisions;
  ASSERT_TRUE(client
                  ->Watch("j-1",
                          [&](const v1::Job& job) {
                            revisions.push_back(job.revision());
                            return true;
                          })
                  .ok());
  EXPECT_THAT(revisions, ElementsAre(1, 2));
}

}  // namespace
}  // namespace kiln
