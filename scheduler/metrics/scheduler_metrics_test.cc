#include "scheduler/metrics/scheduler_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/core/scheduler_test_util.h"

namespace kiln::metrics {
namespace {

// A plain HTTP/1.0 GET over loopback, bounded by a socket timeout.
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
    }
  }
  ::close(fd);
  return response;
}

// Runs a callback-style scheduler call to completion.
template <typename T>
T Wait(const std::function<void(std::function<void(T)>)>& call) {
  absl::Notification done;
  std::optional<T> value;
  call([&](T v) {
    value.emplace(std::move(v));
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  return *std::move(value);
}

kiln::v1::JobSpec SleepSpec() {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  google::protobuf::util::JsonStringToMessage(R"({"seconds":1})", spec.mutable_parameters());
  return spec;
}

class SchedulerMetricsTest : public ::testing::Test {
 protected:
  // With `observe`, the metrics' hooks are installed as kiln-scheduler does it.
  void Start(bool observe) {
    SchedulerMetricsOptions metrics_options;
    metrics_options.listen = "127.0.0.1:0";
    metrics_options.data_dir = dir_.path();
    metrics_options.clock = &clock_;
    auto metrics = SchedulerMetrics::Create(metrics_options);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);
    store::GroupCommitterOptions committer_options;
    if (observe) committer_options.on_write = metrics_->store_write_observer();
    core::SchedulerOptions options;
    options.run_ticker = false;
    options.clock = &clock_;
    if (observe) options.observer = metrics_->observer();
    core::testing::OpenOnDisk({.path = dir_.Sub("db")}, options, store_, committer_, scheduler_,
                              committer_options);
    metrics_->Attach(scheduler_.get(), store_.get());
  }

  void TearDown() override {
    if (metrics_ != nullptr) metrics_->StopServing();
    scheduler_.reset();
    committer_.reset();
  }

  void RegisterGpuWorker(const std::string& id, int compute_capability) {
    kiln::v1::RegisterWorkerRequest request;
    request.set_worker_id(id);
    auto* device = request.mutable_capabilities()->add_devices();
    device->set_id("cuda:0");
    device->set_compute_capability(compute_capability);
    device->set_total_memory_bytes(int64_t{80} << 30);
    device->set_runnable(true);
    auto* broken = request.mutable_capabilities()->add_devices();
    broken->set_id("cuda:1");
    broken->set_compute_capability(120);
    broken->set_runnable(false);
    broken->set_unrunnable_reason("no kernel image for sm_120: built for sm_90");
    for (const char* device_id : {"cuda:0", "cuda:1"}) {
      auto* slot = request.mutable_capabilities()->add_slots();
      slot->set_index(request.capabilities().slots_size() - 1);
      slot->set_device_id(device_id);
      slot->add_tasks("debug.sleep");
    }
    auto response = Wait<absl::StatusOr<kiln::v1::RegisterWorkerResponse>>(
        [&](auto done) { scheduler_->RegisterWorker(request, done); });
    ASSERT_TRUE(response.ok()) << response.status();
  }

  std::vector<std::string> Submit(int count) {
    std::vector<kiln::v1::JobSpec> specs(count, SleepSpec());
    auto result = Wait<absl::StatusOr<std::vector<kiln::v1::SubmitJobResponse>>>(
        [&](auto done) { scheduler_->Submit(specs, true, done); });
    EXPECT_TRUE(result.ok()) << result.status();
    std::vector<std::string> ids;
    for (const auto& response : *result) ids.push_back(response.job().id());
    return ids;
  }

  kiln::v1::Assignment Acquire(const std::string& worker) {
    kiln::v1::AcquireJobRequest request;
    request.set_worker_id(worker);
    request.set_slot(0);
    auto result = Wait<absl::StatusOr<kiln::v1::AcquireJobResponse>>(
        [&](auto done) { scheduler_->AcquireJob(request, done); });
    EXPECT_TRUE(result.ok() && result->has_assignment());
    return result.ok() ? result->assignment() : kiln::v1::Assignment();
  }

  void Start(const std::string& worker, const kiln::v1::Assignment& assignment) {
    kiln::v1::ReportProgressRequest request;
    request.set_worker_id(worker);
    request.set_job_id(assignment.job().id());
    request.set_attempt(assignment.attempt());
    EXPECT_TRUE(
        Wait<absl::Status>([&](auto done) { scheduler_->ReportProgress(request, done); }).ok());
  }

  std::string Scrape() {
    const std::string page = HttpGet(metrics_->port(), "/metrics");
    EXPECT_NE(page.find("200 OK"), std::string::npos) << page;
    return page;
  }

  kiln::testing::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<core::Scheduler> scheduler_;
};

TEST_F(SchedulerMetricsTest, ExposesCountersOfTheScheduler) {
  Start(/*observe=*/false);
  ASSERT_GT(metrics_->port(), 0);
  Submit(2);
  const std::string page = Scrape();
  EXPECT_NE(page.find("kiln_jobs_submitted_total 2"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_queue_depth 2"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_jobs_finished_total{state=\"succeeded\"} 0"), std::string::npos);
  EXPECT_NE(page.find("kiln_preemptions_total 0"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_assignments_with_completion_total 0"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_assignments_undelivered_total 0"), std::string::npos) << page;
  // Not judged yet: the pending-reason refresh runs on Tick.
  EXPECT_NE(page.find("kiln_queue_jobs{accelerator=\"any\",memory=\"none\",min_cc=\"none\","
                      "placement=\"unknown\",task=\"debug.sleep\"} 2"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_store_filesystem_free_bytes "), std::string::npos);
  EXPECT_NE(page.find("kiln_store_size_bytes "), std::string::npos);
}

TEST_F(SchedulerMetricsTest, RunningJobsPerTenant) {
  Start(/*observe=*/false);
  RegisterGpuWorker("w1", 90);
  Submit(2);  // the default tenant's
  EXPECT_EQ(Scrape().find("kiln_tenant_running_jobs{"), std::string::npos);
  Acquire("w1");
  const std::string page = Scrape();
  EXPECT_NE(page.find("kiln_tenant_running_jobs{tenant=\"default\"} 1"), std::string::npos) << page;
}

TEST_F(SchedulerMetricsTest, QueueWaitsAndPlacementFailuresByClass) {
  Start(/*observe=*/true);
  Submit(3);
  clock_.Advance(absl::Seconds(42));
  scheduler_->Tick();  // no worker at all
  std::string page = Scrape();
  EXPECT_NE(page.find("kiln_queue_oldest_wait_seconds{accelerator=\"any\",memory=\"none\","
                      "min_cc=\"none\",task=\"debug.sleep\"} 42"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("placement=\"no_worker_alive\",task=\"debug.sleep\"} 3"), std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_placement_failures_total{reason=\"no_worker_alive\"} 1"),
            std::string::npos)
      << page;
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();  // the same reason again is not a new failure
  page = Scrape();
  EXPECT_NE(page.find("kiln_placement_failures_total{reason=\"no_worker_alive\"} 1"),
            std::string::npos)
      << page;
  RegisterGpuWorker("w1", 90);
  page = Scrape();
  EXPECT_NE(page.find("kiln_workers{state=\"alive\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_devices{arch=\"sm_90\",reason=\"none\",runnable=\"true\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_devices{arch=\"sm_120\",reason=\"no_kernel_image\","
                      "runnable=\"false\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_slots{arch=\"sm_90\"} 1"), std::string::npos) << page;
}

TEST_F(SchedulerMetricsTest, LatencyHistogramsAndFailuresByArchitecture) {
  Start(/*observe=*/true);
  RegisterGpuWorker("w1", 90);
  const std::vector<std::string> ids = Submit(2);
  clock_.Advance(absl::Seconds(3));
  const kiln::v1::Assignment first = Acquire("w1");
  Start("w1", first);
  clock_.Advance(absl::Seconds(5));
  kiln::v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_job_id(first.job().id());
  complete.set_attempt(first.attempt());
  ASSERT_TRUE(Wait<absl::Status>([&](auto done) { scheduler_->CompleteJob(complete, done); }).ok());

  const kiln::v1::Assignment second = Acquire("w1");
  kiln::v1::FailJobRequest fail;
  fail.set_worker_id("w1");
  fail.set_job_id(second.job().id());
  fail.set_attempt(second.attempt());
  fail.set_reason(kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN);
  fail.set_message("no kernel image is available for execution on the device");
  ASSERT_TRUE(Wait<absl::StatusOr<kiln::v1::FailJobResponse>>([&](auto done) {
                scheduler_->FailJob(fail, done);
              }).ok());

  const std::string page = Scrape();
  const std::string series = "{arch=\"sm_90\",model=\"none\",task=\"debug.sleep\"";
  // The first job waited 3 s for the slot, the second 8 s (behind the first, which ran 5 s).
  EXPECT_NE(page.find("kiln_job_wait_seconds_count" + series + "} 2"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_job_wait_seconds_sum" + series + "} 11"), std::string::npos);
  EXPECT_NE(page.find("kiln_job_wait_seconds_bucket" + series + ",le=\"1\"} 0"), std::string::npos);
  EXPECT_NE(page.find("kiln_job_wait_seconds_bucket" + series + ",le=\"5\"} 1"), std::string::npos);
  EXPECT_NE(page.find("kiln_job_wait_seconds_bucket" + series + ",le=\"10\"} 2"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_job_run_seconds_sum" + series + "} 5"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_job_end_to_end_seconds_sum{arch=\"sm_90\",model=\"none\","
                      "state=\"succeeded\",task=\"debug.sleep\"} 8"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_attempts_total{reason=\"succeeded\"} 1"), std::string::npos);
  EXPECT_NE(page.find("kiln_attempts_total{reason=\"device_cannot_run\"} 1"), std::string::npos);
  EXPECT_NE(page.find("kiln_device_cannot_run_failures_total{arch=\"sm_90\"} 1"), std::string::npos)
      << page;
  // Submit, register, assignments, start, completion, failure: every one a synced write.
  EXPECT_NE(page.find("kiln_store_write_seconds_count "), std::string::npos) << page;
  EXPECT_EQ(page.find("kiln_store_write_seconds_count 0"), std::string::npos) << page;
}

TEST_F(SchedulerMetricsTest, RefusesAnAddressItCannotBind) {
  SchedulerMetricsOptions options;
  options.listen = "127.0.0.1:0";
  auto first = SchedulerMetrics::Create(options);
  ASSERT_TRUE(first.ok());
  options.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = SchedulerMetrics::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("metrics_listen"), absl::string_view::npos);
}

}  // namespace
}  // namespace kiln::metrics
