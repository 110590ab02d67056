// The scheduler's gRPC surface in-process: a real server on 127.0.0.1:0 with a
// real store in a temp dir, driven through the generated stubs.
#include "scheduler/rpc/scheduler_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "kiln/v1/worker_service.grpc.pb.h"

namespace kiln::rpc {
namespace {

class SchedulerServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.path();
    options.jobs.max_blob_bytes = 1 << 20;
    auto server = SchedulerServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    jobs_ = kiln::v1::JobService::NewStub(channel_);
    workers_ = kiln::v1::WorkerService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  grpc::Status Upload(const std::string& content, int64_t announced,
                      kiln::v1::PutBlobResponse* response) {
    auto context = Context();
    auto writer = jobs_->PutBlob(context.get(), response);
    kiln::v1::PutBlobRequest request;
    request.mutable_header()->set_size_bytes(announced);
    writer->Write(request);
    for (size_t at = 0; at < content.size(); at += 256 << 10) {
      kiln::v1::PutBlobRequest chunk;
      chunk.set_data(content.substr(at, 256 << 10));
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // A worker with one CPU slot that runs debug.sleep.
  void RegisterCpuWorker(const std::string& id) {
    kiln::v1::RegisterWorkerRequest reg;
    reg.set_worker_id(id);
    auto* device = reg.mutable_capabilities()->add_devices();
    device->set_id("cpu");
    device->set_runnable(true);
    auto* slot = reg.mutable_capabilities()->add_slots();
    slot->set_device_id("cpu");
    slot->add_tasks("debug.sleep");
    kiln::v1::RegisterWorkerResponse response;
    ASSERT_TRUE(workers_->RegisterWorker(Context().get(), reg, &response).ok());
  }

  kiln::v1::JobSpec SleepSpec() {
    kiln::v1::JobSpec spec;
    spec.set_task("debug.sleep");
    google::protobuf::util::JsonStringToMessage(R"({"seconds":0})", spec.mutable_parameters());
    return spec;
  }

  kiln::testing::ScopedTempDir dir_;
  std::unique_ptr<SchedulerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kiln::v1::JobService::Stub> jobs_;
  std::unique_ptr<kiln::v1::WorkerService::Stub> workers_;
};

TEST_F(SchedulerServerTest, BlobsRoundTripAndLimitsAreEnforced) {
  std::string content(700 << 10, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  kiln::v1::PutBlobResponse put;
  ASSERT_TRUE(Upload(content, static_cast<int64_t>(content.size()), &put).ok());
  EXPECT_EQ(put.sha256(), Sha256Hex(content));

  auto context = Context();
  kiln::v1::GetBlobRequest get;
  get.set_sha256(put.sha256());
  auto reader = jobs_->GetBlob(context.get(), get);
  std::string received;
  kiln::v1::GetBlobResponse chunk;
  while (reader->Read(&chunk)) received += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(received, content);

  kiln::v1::PutBlobResponse too_big;
  grpc::Status status = Upload(std::string(2 << 20, 'x'), 2 << 20, &too_big);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("header.size_bytes"), std::string::npos);

  kiln::v1::PutBlobResponse short_upload;
  status = Upload("abc", 10, &short_upload);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto missing_context = Context();
  get.set_sha256(std::string(64, 'b'));
  auto missing = jobs_->GetBlob(missing_context.get(), get);
  while (missing->Read(&chunk)) {
  }
  EXPECT_EQ(missing->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SchedulerServerTest, WatchStreamsEveryStateUntilTerminal) {
  RegisterCpuWorker("w1");

  kiln::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SleepSpec();
  kiln::v1::SubmitJobResponse submitted;
  ASSERT_TRUE(jobs_->SubmitJob(Context().get(), submit, &submitted).ok());
  const std::string id = submitted.job().id();

  auto watch_context = Context();
  kiln::v1::WatchJobRequest watch;
  watch.set_job_id(id);
  auto stream = jobs_->WatchJob(watch_context.get(), watch);
  kiln::v1::WatchJobResponse update;
  ASSERT_TRUE(stream->Read(&update));
  EXPECT_EQ(update.job().state(), kiln::v1::JOB_STATE_QUEUED);

  kiln::v1::AcquireJobRequest acquire;
  acquire.set_worker_id("w1");
  kiln::v1::AcquireJobResponse acquired;
  ASSERT_TRUE(workers_->AcquireJob(Context().get(), acquire, &acquired).ok());
  ASSERT_EQ(acquired.assignment().job().id(), id);
  kiln::v1::ReportProgressRequest progress;
  progress.set_worker_id("w1");
  progress.set_job_id(id);
  progress.set_attempt(1);
  progress.set_progress(0.25);
  kiln::v1::ReportProgressResponse progress_response;
  ASSERT_TRUE(workers_->ReportProgress(Context().get(), progress, &progress_response).ok());
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(id);
  complete.set_attempt(1);
  kiln::v1::CompleteJobResponse complete_response;
  ASSERT_TRUE(workers_->CompleteJob(Context().get(), complete, &complete_response).ok());

  std::vector<kiln::v1::JobState> states;
  while (stream->Read(&update)) states.push_back(update.job().state());
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_NE(std::find(states.begin(), states.end(), kiln::v1::JOB_STATE_RUNNING), states.end());

  // A stale report through the wire: FAILED_PRECONDITION naming the attempt.
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(id);
  fail.set_attempt(1);
  fail.set_reason(kiln::v1::EXIT_REASON_TASK_ERROR);
  kiln::v1::FailJobResponse fail_response;
  grpc::Status stale = workers_->FailJob(Context().get(), fail, &fail_response);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(stale.error_message().substr(0, 8), "attempt:");
  kiln::v1::GetJobRequest get;
  get.set_job_id(id);
  kiln::v1::GetJobResponse got;
  ASSERT_TRUE(jobs_->GetJob(Context().get(), get, &got).ok());
  EXPECT_EQ(got.job().state(), kiln::v1::JOB_STATE_SUCCEEDED);
}

// A CompleteJob that waits for the slot's next job (next_wait) and whose client gives up
// first: the completion stands and the abandoned wait is taken out of the scheduler, so
// the next job is not handed to a call nobody reads.
TEST_F(SchedulerServerTest, AWaitingCompletionThatTheClientAbandonsLeavesTheCompletion) {
  RegisterCpuWorker("w1");
  kiln::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SleepSpec();
  kiln::v1::SubmitJobResponse first;
  ASSERT_TRUE(jobs_->SubmitJob(Context().get(), submit, &first).ok());
  kiln::v1::AcquireJobRequest acquire;
  acquire.set_worker_id("w1");
  kiln::v1::AcquireJobResponse acquired;
  ASSERT_TRUE(workers_->AcquireJob(Context().get(), acquire, &acquired).ok());
  ASSERT_EQ(acquired.assignment().job().id(), first.job().id());

  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(first.job().id());
  complete.set_attempt(1);
  complete.set_acquire_next(true);
  complete.mutable_next_wait()->set_seconds(30);
  grpc::ClientContext short_call;
  short_call.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  kiln::v1::CompleteJobResponse completed;
  EXPECT_EQ(workers_->CompleteJob(&short_call, complete, &completed).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server sees the cancellation on its own time; bounded wait for it.
  for (int i = 0; i < 500 && server_->scheduler().Stats().parked_acquires > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->scheduler().Stats().parked_acquires, 0u);

  kiln::v1::GetJobRequest get;
  get.set_job_id(first.job().id());
  kiln::v1::GetJobResponse got;
  ASSERT_TRUE(jobs_->GetJob(Context().get(), get, &got).ok());
  EXPECT_EQ(got.job().state(), kiln::v1::JOB_STATE_SUCCEEDED);
  kiln::v1::SubmitJobResponse second;
  ASSERT_TRUE(jobs_->SubmitJob(Context().get(), submit, &second).ok());
  ASSERT_TRUE(workers_->AcquireJob(Context().get(), acquire, &acquired).ok());
  EXPECT_EQ(acquired.assignment().job().id(), second.job().id());
  // Repeating the completion (its answer was lost) is answered OK.
  complete.clear_next_wait();
  EXPECT_TRUE(workers_->CompleteJob(Context().get(), complete, &completed).ok());
}

TEST_F(SchedulerServerTest, BadRequestsGetStatusesNamingTheField) {
  kiln::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SleepSpec();
  submit.mutable_spec()->set_task("render.everything");
  kiln::v1::SubmitJobResponse response;
  grpc::Status status = jobs_->SubmitJob(Context().get(), submit, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().substr(0, 10), "spec.task:");

  kiln::v1::GetJobRequest get;
  get.set_job_id("j-00000000000000ff");
  kiln::v1::GetJobResponse got;
  EXPECT_EQ(jobs_->GetJob(Context().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  kiln::v1::AcquireJobRequest acquire;
  acquire.set_worker_id("never-registered");
  kiln::v1::AcquireJobResponse acquired;
  status = workers_->AcquireJob(Context().get(), acquire, &acquired);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message().substr(0, 10), "worker_id:");
}

// Issue 8's input limits over the wire: each refusal is a status whose message names the
// limit (parameter size and depth: job_validation_test; blob size: above; queued jobs per
// tenant: core's scheduler_test).
TEST_F(SchedulerServerTest, LimitsAreRefusedWithStatusesNamingThem) {
  // Jobs per batch.
  kiln::v1::SubmitJobsRequest batch;
  for (int i = 0; i < 1001; ++i) *batch.add_specs() = SleepSpec();
  kiln::v1::SubmitJobsResponse batch_response;
  grpc::Status status = jobs_->SubmitJobs(Context().get(), batch, &batch_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("batch limit of 1000"), std::string::npos)
      << status.error_message();

  // Labels per job, and inputs per job.
  kiln::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SleepSpec();
  for (int i = 0; i < 33; ++i)
    (*submit.mutable_spec()->mutable_labels())[absl::StrCat("k", i)] = "v";
  kiln::v1::SubmitJobResponse response;
  status = jobs_->SubmitJob(Context().get(), submit, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("spec.labels: more than the limit of 32"),
            std::string::npos)
      << status.error_message();
  *submit.mutable_spec() = SleepSpec();
  for (int i = 0; i < 65; ++i) {
    auto* input = submit.mutable_spec()->add_inputs();
    input->set_name(absl::StrCat("in", i));
    input->set_sha256(std::string(64, 'a'));
  }
  status = jobs_->SubmitJob(Context().get(), submit, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("spec.inputs: more than the limit of 64"),
            std::string::npos)
      << status.error_message();

  // Message size: a request over max_request_bytes (3 MiB) is refused by gRPC itself, with
  // both sizes in the message.
  *submit.mutable_spec() = SleepSpec();
  (*submit.mutable_spec()->mutable_parameters()->mutable_fields())["big"].set_string_value(
      std::string(4 << 20, 'x'));
  status = jobs_->SubmitJob(Context().get(), submit, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("larger than max"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find(absl::StrCat(3 << 20)), std::string::npos)
      << status.error_message();
}

// Calls grpc.health.v1.Health/Check for the whole server; sets `serving` when the
// answer is SERVING.
grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel, bool* serving) {
  // grpc.health.v1.HealthCheckRequest with an empty service name is empty bytes.
  grpc::Slice empty("");
  grpc::ByteBuffer request_buffer(&empty, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call =
      generic.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request_buffer, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return grpc::Status(grpc::StatusCode::INTERNAL, "queue shut down");
  *serving = false;
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    if (response_buffer.Dump(&slices).ok()) {
      std::string bytes;
      for (const auto& s : slices) bytes += std::string(s.begin(), s.end());
      *serving = bytes == std::string("\x08\x01", 2);  // status: SERVING
    }
  }
  return status;
}

TEST_F(SchedulerServerTest, HealthServiceAnswers) {
  bool serving = false;
  grpc::Status status = CheckHealth(channel_, &serving);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(serving);
  EXPECT_EQ(server_->health_port(), 0);  // not asked for
}

TEST(SchedulerServerHealthPortTest, ServesOnlyHealthAndStopsFirst) {
  kiln::testing::ScopedTempDir dir;
  SchedulerServerOptions options;
  options.listen = "127.0.0.1:0";
  options.health_listen = "127.0.0.1:0";
  options.data_dir = dir.path();
  auto server = SchedulerServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->health_port(), 0);
  ASSERT_NE((*server)->health_port(), (*server)->port());
  auto health_channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->health_port()),
                                            grpc::InsecureChannelCredentials());
  bool serving = false;
  grpc::Status status = CheckHealth(health_channel, &serving);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(serving);

  // The health port carries nothing else: no jobs, no workers.
  auto jobs = kiln::v1::JobService::NewStub(health_channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  kiln::v1::ListJobsResponse listed;
  EXPECT_EQ(jobs->ListJobs(&context, kiln::v1::ListJobsRequest(), &listed).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  (*server)->Shutdown();
  status = CheckHealth(health_channel, &serving);
  EXPECT_FALSE(status.ok() && serving) << "the health port still answers SERVING after Shutdown";
}

TEST(SchedulerServerHealthPortTest, BadHealthAddressIsRefusedNamingTheField) {
  kiln::testing::ScopedTempDir dir;
  SchedulerServerOptions options;
  options.listen = "127.0.0.1:0";
  options.health_listen = "256.0.0.1:1";
  options.data_dir = dir.path();
  auto server = SchedulerServer::Create(options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("health_listen"), std::string::npos) << server.status();
}

TEST_F(SchedulerServerTest, ReflectionListsTheServices) {
  // grpc.reflection.v1alpha.ServerReflectionRequest{list_services: ""}, hand-encoded
  // (Debian ships no reflection protos): field 7, wire type 2, length 0.
  const std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  call->Write(request_buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  grpc::ByteBuffer response_buffer;
  call->Read(&response_buffer, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response_buffer.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes += std::string(s.begin(), s.end());
  EXPECT_NE(bytes.find("kiln.v1.JobService"), std::string::npos);
  EXPECT_NE(bytes.find("kiln.v1.WorkerService"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
}

}  // namespace
}  // namespace kiln::rpc
