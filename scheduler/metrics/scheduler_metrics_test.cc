#include "scheduler/metrics/scheduler_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"

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

TEST(SchedulerMetricsTest, ExposesCountersOfTheScheduler) {
  kiln::testing::ScopedTempDir dir;
  auto store = store::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  store::GroupCommitter committer(store->get());
  core::SchedulerOptions options;
  options.run_ticker = false;
  auto scheduler = core::Scheduler::Create(options, store->get(), &committer);
  ASSERT_TRUE(scheduler.ok());
  auto metrics = SchedulerMetrics::Create("127.0.0.1:0", scheduler->get(), store->get());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_GT((*metrics)->port(), 0);

  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  google::protobuf::util::JsonStringToMessage(R"({"seconds":1})", spec.mutable_parameters());
  absl::Notification submitted;
  (*scheduler)->Submit({spec, spec}, true, [&](auto result) {
    EXPECT_TRUE(result.ok());
    submitted.Notify();
  });
  ASSERT_TRUE(submitted.WaitForNotificationWithTimeout(absl::Seconds(10)));

  const std::string page = HttpGet((*metrics)->port(), "/metrics");
  EXPECT_NE(page.find("200 OK"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_jobs_submitted_total 2"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_queue_depth 2"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_jobs_finished_total{state=\"succeeded\"} 0"), std::string::npos);
}

TEST(SchedulerMetricsTest, RefusesAnAddressItCannotBind) {
  kiln::testing::ScopedTempDir dir;
  auto store = store::Store::Open({.path = dir.Sub("db")});
  store::GroupCommitter committer(store->get());
  core::SchedulerOptions options;
  options.run_ticker = false;
  auto scheduler = core::Scheduler::Create(options, store->get(), &committer);
  auto first = SchedulerMetrics::Create("127.0.0.1:0", scheduler->get(), store->get());
  ASSERT_TRUE(first.ok());
  auto second = SchedulerMetrics::Create(absl::StrCat("127.0.0.1:", (*first)->port()),
                                         scheduler->get(), store->get());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kiln::metrics
