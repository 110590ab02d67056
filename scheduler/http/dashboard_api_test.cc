// The dashboard's HTTP API against a real scheduler core (RocksDB in a temp dir) and a
// real HttpServer on 127.0.0.1 port 0, called over HTTP with civetweb's client.
#include <civetweb.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/struct.pb.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/scheduler_test_util.h"
#include "scheduler/http/http_server.h"
#include "scheduler/store/blob_store.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"

namespace kiln::http {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  Struct json() const { return kiln::testing::JsonStruct(body); }
};

// One request on a fresh connection.
Reply Fetch(int port, const std::string& method, const std::string& target,
            const std::map<std::string, std::string>& headers = {}) {
  Reply reply;
  char error[256] = {};
  mg_connection* connection = mg_connect_client("127.0.0.1", port, 0, error, sizeof(error));
  if (connection == nullptr) {
    ADD_FAILURE() << "connect: " << error;
    return reply;
  }
  std::string request = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                     "Connection: close\r\nContent-Length: 0\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
  request += "\r\n";
  mg_write(connection, request.data(), request.size());
  if (mg_get_response(connection, error, sizeof(error), 30000) < 0) {
    ADD_FAILURE() << "response: " << error;
    mg_close_connection(connection);
    return reply;
  }
  const mg_response_info* info = mg_get_response_info(connection);
  reply.status = info->status_code;
  for (int i = 0; i < info->num_headers; ++i) {
    reply.headers[absl::AsciiStrToLower(info->http_headers[i].name)] = info->http_headers[i].value;
  }
  char buffer[8192];
  int n;
  while ((n = mg_read(connection, buffer, sizeof(buffer))) > 0) reply.body.append(buffer, n);
  mg_close_connection(connection);
  return reply;
}

const Value& Field(const Struct& s, const std::string& name) {
  static const Value* const kNull = new Value();
  auto it = s.fields().find(name);
  return it == s.fields().end() ? *kNull : it->second;
}

std::string ErrorParameter(const Reply& reply) {
  return Field(Field(reply.json(), "error").struct_value(), "parameter").string_value();
}

template <typename T>
absl::StatusOr<T> Await(const std::function<void(core::Scheduler::Callback<T>)>& call) {
  auto result = std::make_shared<std::optional<absl::StatusOr<T>>>();
  auto done = std::make_shared<absl::Notification>();
  call([result, done](absl::StatusOr<T> value) {
    *result = std::move(value);
    done->Notify();
  });
  if (!done->WaitForNotificationWithTimeout(absl::Seconds(30))) {
    return absl::DeadlineExceededError("no answer");
  }
  return **result;
}

class DashboardApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blobs_ = *store::BlobStore::Create(dir_.Sub("blobs"));
    core::SchedulerOptions options;
    options.run_ticker = false;
    core::testing::OpenOnDisk({.path = dir_.Sub("db")}, options, store_, committer_, scheduler_);
  }
  void TearDown() override {
    http_.reset();
    scheduler_.reset();
    committer_.reset();
  }

  void Serve(DashboardApiOptions api = {}) {
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.num_threads = 4;
    options.api = std::move(api);
    auto server = HttpServer::Create(options, scheduler_.get(), blobs_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    http_ = *std::move(server);
    ASSERT_GT(http_->port(), 0);
  }
  Reply Get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return Fetch(http_->port(), "GET", target, headers);
  }
  Reply Post(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return Fetch(http_->port(), "POST", target, headers);
  }

  kiln::v1::Job Submit(const std::string& model, std::map<std::string, std::string> labels = {}) {
    kiln::v1::JobSpec spec;
    spec.set_task("debug.sleep");
    spec.set_model(model);
    *spec.mutable_parameters() = kiln::testing::JsonStruct(R"({"seconds":1})");
    for (const auto& [k, v] : labels) (*spec.mutable_labels())[k] = v;
    auto result = Await<std::vector<kiln::v1::SubmitJobResponse>>(
        [&](auto done) { scheduler_->Submit({spec}, false, std::move(done)); });
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->front().job() : kiln::v1::Job();
  }

  void Register(const std::string& worker, int compute_capability, bool runnable = true) {
    kiln::v1::RegisterWorkerRequest request;
    request.set_worker_id(worker);
    auto* device = request.mutable_capabilities()->add_devices();
    device->set_id(compute_capability ? "cuda:0" : "cpu");
    device->set_compute_capability(compute_capability);
    device->set_total_memory_bytes(int64_t{16} << 30);
    device->set_runnable(runnable);
    if (!runnable) device->set_unrunnable_reason("no kernel image for sm_90: built for sm_120");
    auto* slot = request.mutable_capabilities()->add_slots();
    slot->set_index(0);
    slot->set_device_id(device->id());
    slot->add_tasks("debug.sleep");
    auto result = Await<kiln::v1::RegisterWorkerResponse>(
        [&](auto done) { scheduler_->RegisterWorker(request, std::move(done)); });
    ASSERT_TRUE(result.ok()) << result.status();
  }

  kiln::testing::ScopedTempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<core::Scheduler> scheduler_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(DashboardApiTest, JobsPageThroughTokensNewestFirstWithFilters) {
  Serve();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Submit(i % 2 == 0 ? "m-even@1" : "m-odd", {{"batch", i < 3 ? "a" : "b"}}).id());
  }
  Reply first = Get("/api/v1/jobs?page_size=2");
  ASSERT_EQ(first.status, 200) << first.body;
  const Struct page = first.json();
  ASSERT_EQ(Field(page, "jobs").list_value().values_size(), 2);
  EXPECT_EQ(Field(Field(page, "jobs").list_value().values(0).struct_value(), "id").string_value(),
            ids[4]);
  const std::string token = Field(page, "next_page_token").string_value();
  ASSERT_FALSE(token.empty());
  Reply second = Get("/api/v1/jobs?page_size=2&page_token=" + token);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Field(Field(second.json(), "jobs").list_value().values(0).struct_value(), "id")
                .string_value(),
            ids[2]);

  // model matches name and name@version; labels and state combine.
  Reply even = Get("/api/v1/jobs?model=m-even");
  EXPECT_EQ(Field(even.json(), "jobs").list_value().values_size(), 3) << even.body;
  Reply odd_b = Get("/api/v1/jobs?model=m-odd&label=batch%3Db&state=queued");
  ASSERT_EQ(Field(odd_b.json(), "jobs").list_value().values_size(), 1) << odd_b.body;
  EXPECT_EQ(
      Field(Field(odd_b.json(), "jobs").list_value().values(0).struct_value(), "id").string_value(),
      ids[3]);
  EXPECT_EQ(Field(Get("/api/v1/jobs?state=running").json(), "jobs").list_value().values_size(), 0);
}

TEST_F(DashboardApiTest, BadParametersAre400NamingTheParameter) {
  Serve();
  Submit("m");
  struct Case {
    std::string target;
    std::string parameter;
  };
  for (const Case& c : std::vector<Case>{{"/api/v1/jobs?state=sleeping", "state"},
                                         {"/api/v1/jobs?page_size=0", "page_size"},
                                         {"/api/v1/jobs?page_size=abc", "page_size"},
                                         {"/api/v1/jobs?page_token=nonsense", "page_token"},
                                         {"/api/v1/jobs?label=nokey", "label"},
                                         {"/api/v1/jobs?colour=red", "colour"},
                                         {"/api/v1/fleet?x=1", "x"}}) {
    Reply reply = Get(c.target);
    EXPECT_EQ(reply.status, 400) << c.target << ": " << reply.body;
    EXPECT_EQ(ErrorParameter(reply), c.parameter) << c.target << ": " << reply.body;
    EXPECT_EQ(reply.headers["content-type"], "application/json");
  }
  const std::string id = Submit("m").id();
  Reply log = Get("/api/v1/jobs/" + id + "/log?offset=-1");
  EXPECT_EQ(log.status, 400) << log.body;
  EXPECT_EQ(ErrorParameter(log), "offset");
  Reply bad_id = Get("/api/v1/jobs/not-a-job");
  EXPECT_EQ(bad_id.status, 400) << bad_id.body;
  EXPECT_EQ(ErrorParameter(bad_id), "job_id");
  EXPECT_EQ(Get("/api/v1/jobs/j-00000000000000ff").status, 404);
  EXPECT_EQ(Get("/api/v1/nothing").status, 404);
  Reply wrong_method = Get("/api/v1/jobs/" + id + "/cancel");
  EXPECT_EQ(wrong_method.status, 400);
  EXPECT_EQ(ErrorParameter(wrong_method), "method");
  // Nothing stored changed.
  EXPECT_EQ(scheduler_->GetJob(id)->state(), kiln::v1::JOB_STATE_QUEUED);
}

TEST_F(DashboardApiTest, JobHasAnETagAndUnchangedPollsAre304) {
  Serve();
  const std::string id = Submit("m").id();
  Reply job = Get("/api/v1/jobs/" + id);
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(Field(job.json(), "state").string_value(), "JOB_STATE_QUEUED");
  const std::string etag = job.headers["etag"];
  ASSERT_FALSE(etag.empty());
  Reply same = Get("/api/v1/jobs/" + id, {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  ASSERT_EQ(Post("/api/v1/jobs/" + id + "/cancel").status, 200);
  Reply changed = Get("/api/v1/jobs/" + id, {{"If-None-Match", etag}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(Field(changed.json(), "state").string_value(), "JOB_STATE_CANCELLED");
}

TEST_F(DashboardApiTest, FleetGroupsDevicesByArchitectureWithReasons) {
  Serve();
  Register("gpu-a", 90);
  Register("gpu-b", 90, /*runnable=*/false);
  Register("cpu-a", 0);
  Reply fleet = Get("/api/v1/fleet");
  ASSERT_EQ(fleet.status, 200) << fleet.body;
  const Struct body = fleet.json();
  const auto& groups = Field(body, "architectures").list_value();
  ASSERT_EQ(groups.values_size(), 2) << fleet.body;
  const Struct& sm90 = groups.values(0).struct_value();
  EXPECT_EQ(Field(sm90, "architecture").string_value(), "sm_90");
  EXPECT_EQ(Field(sm90, "devices").number_value(), 2);
  EXPECT_EQ(Field(sm90, "runnable").number_value(), 1);
  EXPECT_EQ(Field(groups.values(1).struct_value(), "architecture").string_value(), "cpu");
  EXPECT_TRUE(absl::StrContains(fleet.body, "no kernel image for sm_90")) << fleet.body;
  EXPECT_EQ(Field(body, "workers").list_value().values_size(), 3);
}

TEST_F(DashboardApiTest, QueueShowsClassesDepthAndWhyTheyWait) {
  Serve();
  Submit("m");
  Submit("m");
  scheduler_->Tick();  // judges pending reasons
  Reply queue = Get("/api/v1/queue");
  ASSERT_EQ(queue.status, 200) << queue.body;
  const Struct q = queue.json();
  EXPECT_EQ(Field(q, "queued").number_value(), 2);
  const auto& classes = Field(q, "classes").list_value();
  ASSERT_EQ(classes.values_size(), 1) << queue.body;
  const Struct& c = classes.values(0).struct_value();
  EXPECT_EQ(Field(c, "task").string_value(), "debug.sleep");
  EXPECT_EQ(Field(c, "jobs").number_value(), 2);
  EXPECT_EQ(Field(c, "tenant").string_value(), "default");  // classes are per tenant
  EXPECT_EQ(Field(c, "placement").string_value(), "NO_WORKER_ALIVE") << queue.body;
  EXPECT_FALSE(Field(c, "reason").string_value().empty()) << queue.body;
}

TEST_F(DashboardApiTest, CancelAndRetry) {
  Serve();
  const std::string id = Submit("m", {{"who", "me"}}).id();
  // Another site's page may not make a browser act here.
  Reply cross_site = Post("/api/v1/jobs/" + id + "/cancel", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(cross_site.status, 403) << cross_site.body;
  EXPECT_EQ(ErrorParameter(cross_site), "origin");
  EXPECT_EQ(scheduler_->GetJob(id)->state(), kiln::v1::JOB_STATE_QUEUED);
  Reply retry_early = Post("/api/v1/jobs/" + id + "/retry");
  EXPECT_EQ(retry_early.status, 409) << retry_early.body;
  Reply cancel = Post("/api/v1/jobs/" + id + "/cancel");
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(Field(cancel.json(), "state").string_value(), "JOB_STATE_CANCELLED");
  EXPECT_EQ(scheduler_->GetJob(id)->state(), kiln::v1::JOB_STATE_CANCELLED);
  Reply retry = Post("/api/v1/jobs/" + id + "/retry");
  ASSERT_EQ(retry.status, 201) << retry.body;
  const std::string new_id = Field(Field(retry.json(), "job").struct_value(), "id").string_value();
  ASSERT_FALSE(new_id.empty());
  EXPECT_NE(new_id, id);
  absl::StatusOr<kiln::v1::Job> again = scheduler_->GetJob(new_id);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(again->spec().labels().at("kiln.retry-of"), id);
  EXPECT_EQ(again->spec().labels().at("who"), "me");
}

TEST_F(DashboardApiTest, OutputFilesDownloadOnlyThroughTheirJob) {
  Serve();
  Register("w", 0);
  // No model: the worker's slot lists none.
  const std::string id = Submit("").id();
  const std::string other = Submit("").id();
  // The worker's path: upload the output's bytes, record the blob, complete with it.
  const std::string bytes = "\x89PNG fake image bytes";
  auto writer = blobs_->NewWriter(1 << 20);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(bytes).ok());
  absl::StatusOr<kiln::v1::StoredBlob> blob = (*writer)->Finish(bytes.size(), "");
  ASSERT_TRUE(blob.ok()) << blob.status();
  absl::Notification put;
  scheduler_->PutBlob(*blob, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    put.Notify();
  });
  ASSERT_TRUE(put.WaitForNotificationWithTimeout(absl::Seconds(30)));
  kiln::v1::AcquireJobRequest acquire;
  acquire.set_worker_id("w");
  auto assignment = Await<kiln::v1::AcquireJobResponse>(
      [&](auto done) { scheduler_->AcquireJob(acquire, std::move(done)); });
  ASSERT_TRUE(assignment.ok() && assignment->has_assignment());
  ASSERT_EQ(assignment->assignment().job().id(), id);
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w");
  complete.set_job_id(id);
  complete.set_attempt(assignment->assignment().attempt());
  auto* out = complete.add_outputs();
  out->set_name("preview.png");
  out->set_sha256(blob->sha256());
  out->set_size_bytes(blob->size_bytes());
  absl::Notification completed;
  scheduler_->CompleteJob(complete, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    completed.Notify();
  });
  ASSERT_TRUE(completed.WaitForNotificationWithTimeout(absl::Seconds(30)));

  Reply file = Get(absl::StrCat("/api/v1/jobs/", id, "/files/", blob->sha256()));
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(file.body, bytes);
  EXPECT_EQ(file.headers["content-type"], "image/png");
  EXPECT_EQ(file.headers["content-disposition"], "inline; filename=\"preview.png\"");
  Reply attachment =
      Get(absl::StrCat("/api/v1/jobs/", id, "/files/", blob->sha256(), "?download=1"));
  EXPECT_EQ(attachment.headers["content-disposition"], "attachment; filename=\"preview.png\"");
  // The same blob through a job that does not name it: not found.
  EXPECT_EQ(Get(absl::StrCat("/api/v1/jobs/", other, "/files/", blob->sha256())).status, 404);
  Reply bad = Get(absl::StrCat("/api/v1/jobs/", id, "/files/XYZ"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorParameter(bad), "sha256");
}

TEST_F(DashboardApiTest, TokensGoToTheHookAndTenantsSeeOnlyTheirJobs) {
  DashboardApiOptions api;
  api.authenticate = [](absl::string_view token) -> absl::StatusOr<HttpCaller> {
    if (token == "root") return HttpCaller{.tenant = "", .is_admin = true};
    if (token == "alice" || token == "bob") return HttpCaller{.tenant = std::string(token)};
    if (token == "worker") return absl::PermissionDeniedError("token: a worker token");
    return absl::UnauthenticatedError("token: unknown or missing");
  };
  // Until jobs carry a tenant field, this test's jobs say it in a label.
  api.job_tenant = [](const kiln::v1::Job& job) {
    auto it = job.spec().labels().find("tenant");
    return it == job.spec().labels().end() ? std::string() : it->second;
  };
  Serve(api);
  const std::string alices = Submit("m", {{"tenant", "alice"}}).id();
  const std::string bobs = Submit("m", {{"tenant", "bob"}}).id();
  const std::map<std::string, std::string> alice = {{"Authorization", "Bearer alice"}};

  EXPECT_EQ(Get("/api/v1/jobs").status, 401);
  EXPECT_EQ(Get("/api/v1/jobs", {{"Authorization", "Basic YWxpY2U6"}}).status, 401);
  EXPECT_EQ(Get("/api/v1/fleet", {{"Authorization", "Bearer worker"}}).status, 403);
  // The app itself loads without a token (it shows the sign-in box).
  EXPECT_EQ(Get("/").status, 200);

  Reply mine = Get("/api/v1/jobs", alice);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const Struct mine_json = mine.json();
  const auto& jobs = Field(mine_json, "jobs").list_value();
  ASSERT_EQ(jobs.values_size(), 1) << mine.body;
  EXPECT_EQ(Field(jobs.values(0).struct_value(), "id").string_value(), alices);
  EXPECT_EQ(Get("/api/v1/jobs/" + alices, alice).status, 200);
  EXPECT_EQ(Get("/api/v1/jobs/" + bobs, alice).status, 404);
  Reply other_tenant = Get("/api/v1/jobs?tenant=bob", alice);
  EXPECT_EQ(other_tenant.status, 403);
  EXPECT_EQ(ErrorParameter(other_tenant), "tenant");
  EXPECT_EQ(Post("/api/v1/jobs/" + bobs + "/cancel", alice).status, 404);
  EXPECT_EQ(scheduler_->GetJob(bobs)->state(), kiln::v1::JOB_STATE_QUEUED);
  Reply whoami = Get("/api/v1/whoami", alice);
  EXPECT_EQ(Field(whoami.json(), "tenant").string_value(), "alice");
  EXPECT_FALSE(Field(whoami.json(), "admin").bool_value());

  const std::map<std::string, std::string> root = {{"Authorization", "Bearer root"}};
  EXPECT_EQ(Field(Get("/api/v1/jobs", root).json(), "jobs").list_value().values_size(), 2);
  EXPECT_EQ(Field(Get("/api/v1/jobs?tenant=bob", root).json(), "jobs").list_value().values_size(),
            1);
  EXPECT_EQ(Post("/api/v1/jobs/" + bobs + "/cancel", root).status, 200);
}

TEST_F(DashboardApiTest, UsersSeeOtherTenantsQueueClassesWithoutTheirNames) {
  DashboardApiOptions api;
  api.authenticate = [](absl::string_view token) -> absl::StatusOr<HttpCaller> {
    if (token == "root") return HttpCaller{.tenant = "", .is_admin = true};
    return HttpCaller{.tenant = std::string(token)};
  };
  Serve(api);
  for (const std::string tenant : {"alice", "bob"}) {
    kiln::v1::JobSpec spec;
    spec.set_task("debug.sleep");
    *spec.mutable_parameters() = kiln::testing::JsonStruct(R"({"seconds":1})");
    auto result = Await<std::vector<kiln::v1::SubmitJobResponse>>([&](auto done) {
      scheduler_->Submit({spec}, false, core::SubmitOrigin{.tenant = tenant}, std::move(done));
    });
    ASSERT_TRUE(result.ok()) << result.status();
  }
  scheduler_->Tick();  // judges pending reasons
  // Tenant -> reason of each class, as `token` sees the queue.
  auto classes = [&](const std::string& token) {
    Reply queue = Get("/api/v1/queue", {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(queue.status, 200) << queue.body;
    std::multimap<std::string, std::string> seen;
    const Struct json = queue.json();
    for (const auto& c : Field(json, "classes").list_value().values()) {
      seen.emplace(Field(c.struct_value(), "tenant").string_value(),
                   Field(c.struct_value(), "reason").string_value());
    }
    return seen;
  };
  const auto as_alice = classes("alice");
  ASSERT_EQ(as_alice.size(), 2u);
  EXPECT_EQ(as_alice.count("alice"), 1u);
  EXPECT_EQ(as_alice.count("bob"), 0u);
  ASSERT_EQ(as_alice.count(""), 1u);
  EXPECT_EQ(as_alice.find("")->second, "");
  EXPECT_FALSE(as_alice.find("alice")->second.empty());
  const auto as_root = classes("root");
  EXPECT_EQ(as_root.count("alice"), 1u);
  EXPECT_EQ(as_root.count("bob"), 1u);
}

TEST_F(DashboardApiTest, ServesTheEmbeddedAppAndThreeJs) {
  Serve();
  Reply index = Get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(index.body, "importmap")) << index.body;
  Reply three = Get("/vendor/three/build/three.module.min.js");
  ASSERT_EQ(three.status, 200);
  EXPECT_GT(three.body.size(), 100000u);
  EXPECT_EQ(Get("/vendor/three/examples/jsm/loaders/GLTFLoader.js").status, 200);
  Reply app = Get("/app.js");
  ASSERT_EQ(app.status, 200);
  EXPECT_EQ(Get("/app.js", {{"If-None-Match", app.headers["etag"]}}).status, 304);
  EXPECT_EQ(Get("/pages/job.js").status, 200);
  EXPECT_EQ(Get("/../../etc/passwd").status, 404);
  EXPECT_EQ(Get("/missing.js").status, 404);
}

TEST(HttpServerTest, MalformedListenAddressNamesTheFlag) {
  HttpServerOptions options;
  options.listen = "localhost";
  auto server = HttpServer::Create(options, nullptr, nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "http_listen:"));
}

}  // namespace
}  // namespace kiln::http
