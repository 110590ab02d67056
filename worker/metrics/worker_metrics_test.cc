#include "worker/metrics/worker_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "worker/metrics/nvml.h"

namespace kiln::worker_metrics {
namespace {

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

// An agent with two simulated GPUs (one whose kernels do not cover it) and one CPU
// slot. It never contacts the scheduler: Run() is not called.
class WorkerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerMetricsOptions metrics_options;
    metrics_options.listen = "127.0.0.1:0";
    metrics_options.worker_id = "w-test";
    metrics_options.version = "0.1.0";
    metrics_options.nvml_library = "";  // whatever the host has: the test expects none
    auto metrics = WorkerMetrics::Create(metrics_options);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);
    agent::WorkerAgentOptions options;
    options.scheduler_address = "127.0.0.1:1";
    options.work_dir = dir_.path();
    options.worker_id = "w-test";
    options.exec_path = KILN_EXEC_PATH;
    options.fake_devices = "sm_90:80GiB,sm_86:24GiB:nokernel";
    options.slots = 1;
    options.observer = metrics_->observer();
    auto agent = agent::WorkerAgent::Create(options);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    metrics_->Attach(agent_.get());
  }

  void TearDown() override {
    if (metrics_ != nullptr) metrics_->StopServing();
    agent_.reset();
  }

  std::string Scrape() {
    const std::string page = HttpGet(metrics_->port(), "/metrics");
    EXPECT_NE(page.find("200 OK"), std::string::npos) << page;
    return page;
  }

  kiln::testing::ScopedTempDir dir_;
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<agent::WorkerAgent> agent_;
};

TEST_F(WorkerMetricsTest, ExportsSlotsDevicesAndExecutors) {
  const std::string page = Scrape();
  EXPECT_NE(page.find("kiln_worker_info{hostname="), std::string::npos) << page;
  EXPECT_NE(page.find("worker=\"w-test\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_worker_slots{state=\"idle\"} 3"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_worker_slots{state=\"busy\"} 0"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_worker_executor_restarts_total{device=\"cuda:0\",slot=\"0\"} 0"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_worker_device_runnable{arch=\"sm_90\",device=\"cuda:0\","
                      "reason=\"none\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_worker_device_runnable{arch=\"sm_86\",device=\"cuda:1\","
                      "reason=\"no_kernel_image\"} 0"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_worker_device_memory_total_bytes{arch=\"sm_90\",device=\"cuda:0\"} "
                      "85899345920"),
            std::string::npos)
      << page;
  // No NVML asked for: no GPU utilization series at all.
  EXPECT_EQ(page.find("kiln_worker_gpu_"), std::string::npos) << page;
}

TEST_F(WorkerMetricsTest, AttemptsAndModelCacheFromTheSummary) {
  google::protobuf::Struct hit;
  (*hit.mutable_fields())["cache_hit"].set_bool_value(true);
  google::protobuf::Struct load;
  (*load.mutable_fields())["cache_hit"].set_bool_value(false);
  (*load.mutable_fields())["load_seconds"].set_number_value(2.0);
  agent::AttemptReport report;
  report.task = "model.run";
  report.model = "triposr@1";
  report.device_id = "cuda:0";
  report.reason = kiln::v1::EXIT_REASON_SUCCEEDED;
  report.duration = absl::Seconds(3);
  report.summary = &load;
  metrics_->observer()->AttemptEnded(report);
  report.summary = &hit;
  metrics_->observer()->AttemptEnded(report);
  report.summary = nullptr;
  report.reason = kiln::v1::EXIT_REASON_DEVICE_CANNOT_RUN;
  metrics_->observer()->AttemptEnded(report);
  report.reason = kiln::v1::EXIT_REASON_UNSPECIFIED;
  metrics_->observer()->AttemptEnded(report);

  const std::string page = Scrape();
  EXPECT_NE(page.find("kiln_worker_attempts_total{reason=\"succeeded\",task=\"model.run\"} 2"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_worker_attempts_total{reason=\"device_cannot_run\",task=\"model.run\"} "
                      "1"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_worker_attempts_total{reason=\"dropped\",task=\"model.run\"} 1"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_worker_model_cache_hits_total{model=\"triposr@1\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_worker_model_loads_total{model=\"triposr@1\"} 1"), std::string::npos);
  EXPECT_NE(page.find("kiln_worker_model_load_seconds_sum{model=\"triposr@1\"} 2"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_worker_attempt_seconds_count{arch=\"sm_90\",model=\"triposr@1\","
                      "task=\"model.run\"} 4"),
            std::string::npos)
      << page;
}

TEST(NvmlTest, AMissingLibraryIsNotFound) {
  auto nvml = Nvml::Load("libkiln-no-such-nvml.so.1");
  ASSERT_FALSE(nvml.ok());
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(nvml.status().message().find("libkiln-no-such-nvml.so.1"), absl::string_view::npos);
}

TEST(NvmlTest, ALibraryWithoutNvmlSymbolsIsRefused) {
  auto nvml = Nvml::Load("libc.so.6");
  ASSERT_FALSE(nvml.ok());
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(nvml.status().message().find("nvmlInit_v2"), absl::string_view::npos);
}

// On a host with an NVIDIA driver: real samples (label gpu in CTest is not needed: it
// skips cleanly elsewhere).
TEST(NvmlTest, SamplesTheDriversGpus) {
  auto nvml = Nvml::Load();
  if (!nvml.ok()) GTEST_SKIP() << "no NVIDIA driver here: " << nvml.status();
  const std::vector<GpuSample> gpus = (*nvml)->Sample();
  ASSERT_FALSE(gpus.empty());
  for (const GpuSample& gpu : gpus) {
    EXPECT_EQ(gpu.uuid.rfind("GPU-", 0), 0u) << gpu.uuid;
    ASSERT_TRUE(gpu.utilization_ratio.has_value());
    EXPECT_GE(*gpu.utilization_ratio, 0.0);
    EXPECT_LE(*gpu.utilization_ratio, 1.0);
    ASSERT_TRUE(gpu.temperature_celsius.has_value());
    EXPECT_GT(*gpu.temperature_celsius, 0.0);
    EXPECT_LT(*gpu.temperature_celsius, 120.0);
    ASSERT_TRUE(gpu.memory_total_bytes.has_value() && gpu.memory_free_bytes.has_value());
    EXPECT_LE(*gpu.memory_free_bytes, *gpu.memory_total_bytes);
    std::printf("gpu %d %s %s: util %.2f, %.0f C, %llu of %llu bytes free\n", gpu.index,
                gpu.uuid.c_str(), gpu.name.c_str(), *gpu.utilization_ratio,
                *gpu.temperature_celsius, static_cast<unsigned long long>(*gpu.memory_free_bytes),
                static_cast<unsigned long long>(*gpu.memory_total_bytes));
  }
}

}  // namespace
}  // namespace kiln::worker_metrics
