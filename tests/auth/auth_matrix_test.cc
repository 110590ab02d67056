// The authorization matrix of issue 8: every RPC of JobService and WorkerService, called
// by every kind of caller (no token, a wrong token, a malformed header, users of two
// tenants, an admin, worker tokens bound to worker ids), against a real SchedulerServer
// on 127.0.0.1:0 with a token file. Every forbidden call must be refused with
// UNAUTHENTICATED, PERMISSION_DENIED or, for another tenant's job or blob, NOT_FOUND
// (the answer a missing one gets); every allowed call must succeed.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "kiln/v1/job_service.grpc.pb.h"
#include "kiln/v1/worker_service.grpc.pb.h"
#include "scheduler/rpc/scheduler_server.h"

namespace kiln {
namespace {

using grpc::StatusCode;

// Callers of the matrix: the token each presents ("" none; kMalformed a non-Bearer header).
constexpr char kNone[] = "none";
constexpr char kWrong[] = "wrong";
constexpr char kMalformed[] = "malformed";
constexpr char kAlice[] = "alice";  // user of tenant acme
constexpr char kBob[] = "bob";      // user of tenant beta
constexpr char kRoot[] = "root";    // admin (tenant ops)
constexpr char kPool[] = "pool";    // worker token bound to worker id w-1
constexpr char kPool2[] = "pool2";  // worker token bound to worker id w-2
const char* const kCallers[] = {kNone, kWrong, kMalformed, kAlice, kBob, kRoot, kPool, kPool2};

std::string TokenOf(const std::string& caller) { return "secret-token-of-" + caller; }

std::string TokenFile() {
  auto entry = [](const std::string& name, const std::string& tenant, const std::string& role,
                  const std::string& extra = "") {
    return absl::StrCat(R"({"name": ")", name, R"(", "sha256": ")", Sha256Hex(TokenOf(name)),
                        R"(", "tenant": ")", tenant, R"(", "role": ")", role, "\"", extra, "}");
  };
  return absl::StrCat(R"({"tokens": [)", entry(kAlice, "acme", "user"), ",",
                      entry(kBob, "beta", "user"), ",", entry(kRoot, "ops", "admin"), ",",
                      entry(kPool, "ops", "worker", R"(, "worker_ids": ["w-1"])"), ",",
                      entry(kPool2, "ops", "worker", R"(, "worker_ids": ["w-2"])"), "]}");
}

class AuthMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rpc::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.Sub("data");
    options.auth_tokens_file = dir_.WriteFile("tokens.json", TokenFile());
    // Priority orders jobs only within a tenant, and the fair share picks the tenant: alice's
    // tenant weighs so much ((running + 1/2) / 1000 stays below every other tenant's 1/2)
    // that its priority-1000 job (LeasedToW1) is the next lease, whatever others queued.
    auto sharing = core::SharingPolicy::Parse(
        R"({"tenants": [{"tenant": "acme", "weight": 1000}]})", "test policy");
    ASSERT_TRUE(sharing.ok()) << sharing.status();
    options.scheduler.sharing = *std::move(sharing);
    auto server = rpc::SchedulerServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->auth_enabled());
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                       grpc::InsecureChannelCredentials());
    jobs_ = v1::JobService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);

    // w-1 and w-2 register with many slots, so each lease below gets a slot of its own.
    for (const auto& [caller, id] : {std::pair{kPool, "w-1"}, std::pair{kPool2, "w-2"}}) {
      ASSERT_EQ(Register(caller, id).error_code(), StatusCode::OK);
    }
    alice_blob_ = Upload(kAlice, "alice's input");
    bob_blob_ = Upload(kBob, "bob's input");
    ASSERT_FALSE(alice_blob_.empty());
    ASSERT_FALSE(bob_blob_.empty());
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& caller) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (caller == kWrong) {
      context->AddMetadata("authorization", "Bearer not-a-known-token");
    } else if (caller == kMalformed) {
      context->AddMetadata("authorization", "Basic " + TokenOf(kAlice));
    } else if (caller != kNone) {
      context->AddMetadata("authorization", "Bearer " + TokenOf(caller));
    }
    return context;
  }

  grpc::Status Register(const std::string& caller, const std::string& worker_id) {
    v1::RegisterWorkerRequest request;
    request.set_worker_id(worker_id);
    auto* device = request.mutable_capabilities()->add_devices();
    device->set_id("cpu");
    device->set_runnable(true);
    for (int i = 0; i < 128; ++i) {
      auto* slot = request.mutable_capabilities()->add_slots();
      slot->set_index(i);
      slot->set_device_id("cpu");
      slot->add_tasks("debug.sleep");
    }
    v1::RegisterWorkerResponse response;
    return workers_->RegisterWorker(Context(caller).get(), request, &response);
  }

  grpc::Status UploadAs(const std::string& caller, const std::string& content,
                        v1::PutBlobResponse* response) {
    auto context = Context(caller);
    auto writer = jobs_->PutBlob(context.get(), response);
    v1::PutBlobRequest request;
    request.mutable_header()->set_size_bytes(static_cast<int64_t>(content.size()));
    request.set_data(content);
    writer->Write(request);
    writer->WritesDone();
    return writer->Finish();
  }

  // The sha256 of `content` uploaded by `caller`; empty on failure.
  std::string Upload(const std::string& caller, const std::string& content) {
    v1::PutBlobResponse response;
    const grpc::Status status = UploadAs(caller, content, &response);
    EXPECT_TRUE(status.ok()) << caller << ": " << status.error_message();
    return status.ok() ? response.sha256() : "";
  }

  grpc::Status Download(const std::string& caller, const std::string& sha256,
                        std::string* content = nullptr) {
    auto context = Context(caller);
    v1::GetBlobRequest request;
    request.set_sha256(sha256);
    auto reader = jobs_->GetBlob(context.get(), request);
    v1::GetBlobResponse chunk;
    while (reader->Read(&chunk)) {
      if (content != nullptr) content->append(chunk.data());
    }
    return reader->Finish();
  }

  v1::JobSpec SleepSpec(const std::string& input_sha = "", int priority = 0) {
    v1::JobSpec spec;
    spec.set_task("debug.sleep");
    spec.set_priority(priority);
    google::protobuf::util::JsonStringToMessage(R"({"seconds":0})", spec.mutable_parameters());
    if (!input_sha.empty()) {
      auto* input = spec.add_inputs();
      input->set_name("input.bin");
      input->set_sha256(input_sha);
    }
    return spec;
  }

  grpc::Status SubmitAs(const std::string& caller, const v1::JobSpec& spec, v1::Job* job) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    grpc::Status status = jobs_->SubmitJob(Context(caller).get(), request, &response);
    if (job != nullptr) *job = response.job();
    return status;
  }

  // A fresh queued job of alice's (tenant acme), with her blob as input.
  std::string AliceJob(int priority = 0) {
    v1::Job job;
    EXPECT_TRUE(SubmitAs(kAlice, SleepSpec(alice_blob_, priority), &job).ok());
    return job.id();
  }

  // A fresh job of alice's leased to w-1 (through the pool token): its assignment.
  v1::Assignment LeasedToW1() {
    const std::string id = AliceJob(/*priority=*/1000);  // ahead of the jobs left queued
    v1::AcquireJobRequest request;
    request.set_worker_id("w-1");
    request.set_slot(next_slot_++);
    v1::AcquireJobResponse response;
    EXPECT_TRUE(workers_->AcquireJob(Context(kPool).get(), request, &response).ok());
    EXPECT_EQ(response.assignment().job().id(), id);
    return response.assignment();
  }

  v1::Job GetAsRoot(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::GetJobResponse response;
    EXPECT_TRUE(jobs_->GetJob(Context(kRoot).get(), request, &response).ok());
    return response.job();
  }

  // Runs `call` for every caller and checks each answer. Callers without a valid token
  // are UNAUTHENTICATED for every RPC; `expected` names the answer of every other one.
  void Check(const std::string& rpc, const std::function<grpc::Status(const std::string&)>& call,
             std::map<std::string, StatusCode> expected) {
    expected.emplace(kNone, StatusCode::UNAUTHENTICATED);
    expected.emplace(kWrong, StatusCode::UNAUTHENTICATED);
    expected.emplace(kMalformed, StatusCode::UNAUTHENTICATED);
    for (const char* caller : kCallers) {
      ASSERT_TRUE(expected.contains(caller)) << rpc << ": no expectation for " << caller;
      const grpc::Status status = call(caller);
      EXPECT_EQ(status.error_code(), expected[caller])
          << rpc << " as " << caller << ": " << status.error_message();
      ++checked_;
    }
  }

  kiln::testing::ScopedTempDir dir_;
  std::unique_ptr<rpc::SchedulerServer> server_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::string alice_blob_;
  std::string bob_blob_;
  int next_slot_ = 0;
  int checked_ = 0;
};

constexpr StatusCode OK = StatusCode::OK;
constexpr StatusCode DENIED = StatusCode::PERMISSION_DENIED;
constexpr StatusCode NOT_FOUND = StatusCode::NOT_FOUND;

TEST_F(AuthMatrixTest, EveryJobServiceRpc) {
  Check("SubmitJob", [&](const std::string& c) { return SubmitAs(c, SleepSpec(), nullptr); },
        {{kAlice, OK}, {kBob, OK}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("SubmitJobs",
        [&](const std::string& c) {
          v1::SubmitJobsRequest request;
          *request.add_specs() = SleepSpec();
          v1::SubmitJobsResponse response;
          return jobs_->SubmitJobs(Context(c).get(), request, &response);
        },
        {{kAlice, OK}, {kBob, OK}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  const std::string alice_job = AliceJob();
  Check("GetJob",
        [&](const std::string& c) {
          v1::GetJobRequest request;
          request.set_job_id(alice_job);
          v1::GetJobResponse response;
          return jobs_->GetJob(Context(c).get(), request, &response);
        },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("ListJobs",
        [&](const std::string& c) {
          v1::ListJobsRequest request;
          v1::ListJobsResponse response;
          return jobs_->ListJobs(Context(c).get(), request, &response);
        },
        {{kAlice, OK}, {kBob, OK}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});
  Check("ListJobs of tenant acme",
        [&](const std::string& c) {
          v1::ListJobsRequest request;
          request.set_tenant("acme");
          v1::ListJobsResponse response;
          return jobs_->ListJobs(Context(c).get(), request, &response);
        },
        {{kAlice, OK}, {kBob, DENIED}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("CancelJob",
        [&](const std::string& c) {
          v1::CancelJobRequest request;
          request.set_job_id(AliceJob());
          v1::CancelJobResponse response;
          grpc::Status status = jobs_->CancelJob(Context(c).get(), request, &response);
          // A refused cancel leaves the job as it was.
          if (!status.ok()) EXPECT_EQ(GetAsRoot(request.job_id()).state(), v1::JOB_STATE_QUEUED);
          return status;
        },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("WatchJob",
        [&](const std::string& c) {
          auto context = Context(c);
          v1::WatchJobRequest request;
          request.set_job_id(alice_job);
          auto stream = jobs_->WatchJob(context.get(), request);
          v1::WatchJobResponse update;
          if (stream->Read(&update)) {
            EXPECT_EQ(update.job().id(), alice_job);
            context->TryCancel();  // the job stays queued: stop watching
            while (stream->Read(&update)) {
            }
            stream->Finish().IgnoreError();
            return grpc::Status::OK;
          }
          return stream->Finish();
        },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("PutBlob",
        [&](const std::string& c) {
          v1::PutBlobResponse response;
          return UploadAs(c, "uploaded by " + std::string(c), &response);
        },
        {{kAlice, OK}, {kBob, OK}, {kRoot, OK}, {kPool, OK}, {kPool2, OK}});

  // Workers read the inputs of jobs leased to them, and nothing else of the tenants'.
  Check("GetBlob of alice's upload", [&](const std::string& c) { return Download(c, alice_blob_); },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, NOT_FOUND}, {kPool2, NOT_FOUND}});
  const v1::Assignment leased = LeasedToW1();
  Check("GetBlob of an input leased to w-1",
        [&](const std::string& c) { return Download(c, alice_blob_); },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, OK}, {kPool2, NOT_FOUND}});
  const std::string pool_blob = Upload(kPool, "a worker's output");
  Check("GetBlob of a worker's upload",
        [&](const std::string& c) { return Download(c, pool_blob); },
        {{kAlice, NOT_FOUND}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, OK}, {kPool2, NOT_FOUND}});

  Check("ListWorkers",
        [&](const std::string& c) {
          v1::ListWorkersRequest request;
          v1::ListWorkersResponse response;
          grpc::Status status = jobs_->ListWorkers(Context(c).get(), request, &response);
          if (status.ok()) {
            // Users see the fleet, not which of another tenant's jobs a worker holds.
            bool sees_leased = false;
            for (const auto& worker : response.workers()) {
              for (const auto& id : worker.job_ids()) sees_leased |= id == leased.job().id();
            }
            EXPECT_EQ(response.workers_size(), 2) << c;
            EXPECT_EQ(sees_leased, c != std::string(kBob)) << c;
          }
          return status;
        },
        {{kAlice, OK}, {kBob, OK}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("GetJobLog",
        [&](const std::string& c) {
          v1::GetJobLogRequest request;
          request.set_job_id(leased.job().id());
          v1::GetJobLogResponse response;
          return jobs_->GetJobLog(Context(c).get(), request, &response);
        },
        {{kAlice, OK}, {kBob, NOT_FOUND}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});

  Check("DrainWorker",
        [&](const std::string& c) {
          v1::DrainWorkerRequest request;
          request.set_worker_id("w-2");
          request.set_resume(true);
          v1::DrainWorkerResponse response;
          return jobs_->DrainWorker(Context(c).get(), request, &response);
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, OK}, {kPool, DENIED}, {kPool2, DENIED}});
  EXPECT_EQ(checked_, 14 * 8);
}

TEST_F(AuthMatrixTest, UsersSeeOnlyTheirTenantsJobs) {
  v1::Job alice_job, bob_job, root_job;
  ASSERT_TRUE(SubmitAs(kAlice, SleepSpec(), &alice_job).ok());
  ASSERT_TRUE(SubmitAs(kBob, SleepSpec(), &bob_job).ok());
  ASSERT_TRUE(SubmitAs(kRoot, SleepSpec(bob_blob_), &root_job).ok());
  // The tenant comes from the token.
  EXPECT_EQ(alice_job.tenant(), "acme");
  EXPECT_EQ(bob_job.tenant(), "beta");
  EXPECT_EQ(root_job.tenant(), "ops");

  auto list = [&](const std::string& caller, const std::string& tenant) {
    v1::ListJobsRequest request;
    request.set_tenant(tenant);
    v1::ListJobsResponse response;
    EXPECT_TRUE(jobs_->ListJobs(Context(caller).get(), request, &response).ok());
    std::vector<std::string> ids;
    for (const auto& job : response.jobs()) ids.push_back(job.id());
    return ids;
  };
  EXPECT_EQ(list(kAlice, ""), std::vector<std::string>{alice_job.id()});
  EXPECT_EQ(list(kBob, ""), std::vector<std::string>{bob_job.id()});
  EXPECT_EQ(list(kRoot, "").size(), 3u);
  EXPECT_EQ(list(kRoot, "beta"), std::vector<std::string>{bob_job.id()});

  // A user cannot name another tenant's blob as an input: it answers as a missing blob.
  v1::Job refused;
  const grpc::Status status = SubmitAs(kAlice, SleepSpec(bob_blob_), &refused);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("not found"), std::string::npos);
  // Once alice uploads the same bytes, the blob is hers too.
  EXPECT_EQ(Upload(kAlice, "bob's input"), bob_blob_);
  EXPECT_TRUE(SubmitAs(kAlice, SleepSpec(bob_blob_), &refused).ok());
  EXPECT_TRUE(Download(kAlice, bob_blob_).ok());
}

TEST_F(AuthMatrixTest, EveryWorkerServiceRpc) {
  Check("RegisterWorker as w-1", [&](const std::string& c) { return Register(c, "w-1"); },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});

  Check("AcquireJob as w-1",
        [&](const std::string& c) {
          v1::AcquireJobRequest request;
          request.set_worker_id("w-1");
          request.set_slot(100);
          v1::AcquireJobResponse response;  // no job queued: an empty answer at once
          return workers_->AcquireJob(Context(c).get(), request, &response);
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});

  const v1::Assignment leased = LeasedToW1();
  Check("Heartbeat as w-1",
        [&](const std::string& c) {
          v1::HeartbeatRequest request;
          request.set_worker_id("w-1");
          auto* lease = request.add_leases();
          lease->set_job_id(leased.job().id());
          lease->set_attempt(leased.attempt());
          v1::HeartbeatResponse response;
          grpc::Status status = workers_->Heartbeat(Context(c).get(), request, &response);
          if (status.ok()) EXPECT_TRUE(response.abandon().empty());
          return status;
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});

  auto progress = [&](const std::string& c, const std::string& worker_id) {
    v1::ReportProgressRequest request;
    request.set_worker_id(worker_id);
    request.set_job_id(leased.job().id());
    request.set_attempt(leased.attempt());
    request.set_progress(0.5);
    v1::ReportProgressResponse response;
    return workers_->ReportProgress(Context(c).get(), request, &response);
  };
  Check("ReportProgress as w-1", [&](const std::string& c) { return progress(c, "w-1"); },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});
  // pool2 as itself: the job is not leased to w-2, and fencing says so.
  EXPECT_EQ(progress(kPool2, "w-2").error_code(), StatusCode::FAILED_PRECONDITION);

  const std::string output = Upload(kPool, "mesh bytes");
  const std::string other_output = Upload(kPool2, "pool2's bytes");
  auto complete = [&](const std::string& c, const std::string& worker_id,
                      const v1::Assignment& assignment, const std::string& output_sha) {
    v1::CompleteJobRequest request;
    request.set_worker_id(worker_id);
    request.set_job_id(assignment.job().id());
    request.set_attempt(assignment.attempt());
    auto* out = request.add_outputs();
    out->set_name("mesh.ply");
    out->set_sha256(output_sha);
    v1::CompleteJobResponse response;
    return workers_->CompleteJob(Context(c).get(), request, &response);
  };
  Check("CompleteJob as w-1",
        [&](const std::string& c) {
          // Each allowed completion needs a job of its own.
          const v1::Assignment assignment = c == std::string(kPool) ? LeasedToW1() : leased;
          return complete(c, "w-1", assignment, output);
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});
  // A worker names only blobs it uploaded (or the job's tenant's): not another worker's, not
  // another tenant's.
  EXPECT_EQ(complete(kPool, "w-1", leased, other_output).error_code(), DENIED);
  EXPECT_EQ(complete(kPool, "w-1", leased, bob_blob_).error_code(), DENIED);
  EXPECT_EQ(GetAsRoot(leased.job().id()).state(), v1::JOB_STATE_RUNNING);

  Check("FailJob as w-1",
        [&](const std::string& c) {
          const v1::Assignment assignment = c == std::string(kPool) ? LeasedToW1() : leased;
          v1::FailJobRequest request;
          request.set_worker_id("w-1");
          request.set_job_id(assignment.job().id());
          request.set_attempt(assignment.attempt());
          request.set_reason(v1::EXIT_REASON_TASK_ERROR);
          request.set_permanent(true);
          v1::FailJobResponse response;
          return workers_->FailJob(Context(c).get(), request, &response);
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});

  // Fan-out: only the worker holding the parent's lease; children are the parent's tenant's.
  const v1::Assignment parent = LeasedToW1();
  std::string child_id;
  Check("SubmitChildJobs as w-1",
        [&](const std::string& c) {
          v1::SubmitChildJobsRequest request;
          request.set_worker_id("w-1");
          request.set_job_id(parent.job().id());
          request.set_attempt(parent.attempt());
          request.set_call_id("children");
          *request.add_specs() = SleepSpec();
          v1::SubmitChildJobsResponse response;
          grpc::Status status = workers_->SubmitChildJobs(Context(c).get(), request, &response);
          if (status.ok() && response.results_size() == 1)
            child_id = response.results(0).job().id();
          return status;
        },
        {{kAlice, DENIED}, {kBob, DENIED}, {kRoot, DENIED}, {kPool, OK}, {kPool2, DENIED}});
  EXPECT_EQ(checked_, 7 * 8);
  ASSERT_FALSE(child_id.empty());
  EXPECT_EQ(GetAsRoot(child_id).tenant(), GetAsRoot(parent.job().id()).tenant());
  EXPECT_EQ(GetAsRoot(child_id).parent_job_id(), parent.job().id());
  // Done with the parent: its lease must not let the worker read alice's input below.
  ASSERT_TRUE(complete(kPool, "w-1", parent, output).ok());

  // The completed job's output is now its tenant's (acme): alice reads it, bob does not.
  ASSERT_TRUE(complete(kPool, "w-1", leased, output).ok());
  EXPECT_TRUE(Download(kAlice, output).ok());
  EXPECT_EQ(Download(kBob, output).error_code(), NOT_FOUND);
  // After the job ended, the worker no longer reads its input through the lease.
  EXPECT_EQ(Download(kPool, alice_blob_).error_code(), NOT_FOUND);
}

TEST_F(AuthMatrixTest, TokenFileReloadSwapsTheTable) {
  v1::Job job;
  ASSERT_TRUE(SubmitAs(kAlice, SleepSpec(), &job).ok());
  // A new file without alice: her token stops working, and a broken file changes nothing.
  dir_.WriteFile("tokens.json", absl::StrCat(R"({"tokens": [{"name": "carol", "sha256": ")",
                                             Sha256Hex(TokenOf("carol")),
                                             R"(", "tenant": "acme", "role": "user"}]})"));
  ASSERT_TRUE(server_->ReloadAuthTokens().ok());
  EXPECT_EQ(SubmitAs(kAlice, SleepSpec(), &job).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(SubmitAs("carol", SleepSpec(), &job).ok());
  dir_.WriteFile("tokens.json", "{broken");
  EXPECT_FALSE(server_->ReloadAuthTokens().ok());
  EXPECT_TRUE(SubmitAs("carol", SleepSpec(), &job).ok());
}

}  // namespace
}  // namespace kiln
