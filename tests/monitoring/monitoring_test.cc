// Monitoring end to end: the project's Prometheus configuration, alert rules and
// Grafana dashboards checked with the real promtool, what kiln-scheduler and
// kiln-worker expose checked by `promtool check metrics`, and a real Prometheus
// server scraping a real farm (separate processes on loopback) queried over its
// HTTP API. Every test skips with a message when promtool/prometheus are absent
// (scripts/setup-debian.sh installs Debian's `prometheus` package).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

std::string SourcePath(const std::string& relative) {
  return absl::StrCat(KILN_SOURCE_DIR, "/", relative);
}

std::optional<std::string> FindTool(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return std::nullopt;
}

#define REQUIRE_TOOL(var, name)                                                \
  const std::optional<std::string> var = FindTool(name);                       \
  if (!var.has_value()) {                                                      \
    GTEST_SKIP() << name << " is not installed (Debian package `prometheus`; " \
                 << "scripts/setup-debian.sh installs it)";                    \
  }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A free loopback port (bound, read, closed; the child binds it right after).
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A plain HTTP/1.0 GET over loopback (the server closes the connection, no chunking),
// bounded by a socket timeout. Returns the body of a 200 answer, nullopt otherwise.
std::optional<std::string> HttpGet(int port, const std::string& path_and_query) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        absl::StrCat("GET ", path_and_query, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[8192];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
    }
  }
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos || !absl::StartsWith(response, "HTTP/1.") ||
      response.substr(9, 3) != "200") {
    return std::nullopt;
  }
  return response.substr(body + 4);
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// --- Rules and dashboards -------------------------------------------------------

TEST(PrometheusConfigTest, AlertRulesPassPromtoolCheckRules) {
  REQUIRE_TOOL(promtool, "promtool");
  const CommandResult result = RunCommand(
      {*promtool, "check", "rules", SourcePath("deploy/prometheus/rules/kiln-alerts.yml")},
      absl::Seconds(60));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_TRUE(absl::StrContains(result.out, "SUCCESS: 7 rules found")) << result.out;
}

TEST(PrometheusConfigTest, AlertRuleUnitTestsPass) {
  REQUIRE_TOOL(promtool, "promtool");
  const CommandResult result = RunCommand(
      {*promtool, "test", "rules", SourcePath("deploy/prometheus/tests/kiln-alerts.test.yml")},
      absl::Seconds(120));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_TRUE(absl::StrContains(result.out + result.err, "SUCCESS")) << result.out << result.err;
}

TEST(PrometheusConfigTest, ScrapeConfigPassesPromtoolCheckConfig) {
  REQUIRE_TOOL(promtool, "promtool");
  const CommandResult result = RunCommand({*promtool, "check", "config", "--syntax-only",
                                           SourcePath("deploy/prometheus/prometheus.yml")},
                                          absl::Seconds(60));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

// Every "expr" anywhere in a dashboard (panel targets), with Grafana's variables
// given example values.
void CollectExprs(const google::protobuf::Value& value, std::vector<std::string>& out) {
  if (value.has_struct_value()) {
    for (const auto& [key, field] : value.struct_value().fields()) {
      if (key == "expr" && field.has_string_value()) {
        out.push_back(absl::StrReplaceAll(field.string_value(), {{"$instance", "w1:9471"}}));
      } else {
        CollectExprs(field, out);
      }
    }
  } else if (value.has_list_value()) {
    for (const auto& item : value.list_value().values()) CollectExprs(item, out);
  }
}

TEST(GrafanaDashboardsTest, EveryPromQlExpressionParses) {
  REQUIRE_TOOL(promtool, "promtool");
  ScopedTempDir dir;
  std::string rules = "groups:\n";
  std::set<std::string> uids;
  int dashboards = 0, exprs = 0;
  for (const auto& entry : fs::directory_iterator(SourcePath("deploy/grafana/dashboards"))) {
    if (entry.path().extension() != ".json") continue;
    ++dashboards;
    const std::string text = ReadFileOrEmpty(entry.path().string());
    google::protobuf::Value dashboard;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text, &dashboard).ok())
        << entry.path() << " is not valid JSON";
    const auto& fields = dashboard.struct_value().fields();
    ASSERT_TRUE(fields.contains("uid") && fields.contains("title") && fields.contains("panels"))
        << entry.path();
    EXPECT_TRUE(uids.insert(fields.at("uid").string_value()).second)
        << "duplicate uid in " << entry.path();
    std::vector<std::string> found;
    CollectExprs(dashboard, found);
    EXPECT_GE(found.size(), 5u) << entry.path();
    absl::StrAppend(&rules, "  - name: ", entry.path().stem().string(), "\n    rules:\n");
    for (const std::string& expr : found) {
      // A JSON string is a valid YAML double-quoted scalar.
      google::protobuf::Value quoted;
      quoted.set_string_value(expr);
      std::string json;
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(quoted, &json).ok());
      absl::StrAppend(&rules, "      - record: kiln:dashboard_expr_", exprs++,
                      "\n        expr: ", json, "\n");
    }
  }
  EXPECT_EQ(dashboards, 4) << "fleet, queue, failures, worker";
  const std::string path = dir.Sub("dashboard-exprs.yml");
  WriteFile(path, rules);
  const CommandResult result = RunCommand({*promtool, "check", "rules", path}, absl::Seconds(60));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err << rules;
  EXPECT_TRUE(absl::StrContains(result.out, absl::StrCat("SUCCESS: ", exprs, " rules found")))
      << result.out;
}

// --- A real farm ----------------------------------------------------------------

constexpr int kJobs = 4;

class MonitoredFarmTest : public ::testing::Test {
 protected:
  void StartFarm() {
    scheduler_metrics_port_ = FreeLoopbackPort();
    ASSERT_TRUE(
        farm_
            .StartScheduler({absl::StrCat("--metrics-listen=127.0.0.1:", scheduler_metrics_port_),
                             "--heartbeat-interval=500ms", "--log-format=json"})
            .ok())
        << farm_.Log("scheduler.log");
    worker_metrics_port_ = FreeLoopbackPort();
    ASSERT_TRUE(
        farm_
            .StartWorker(0, 1,
                         {absl::StrCat("--metrics-listen=127.0.0.1:", worker_metrics_port_),
                          "--fake-devices=sm_90:80GiB,sm_86:24GiB:nokernel", "--log-format=json"})
            .ok());
  }

  // Runs kJobs jobs (debug.sleep and one mesh.extract) to success.
  void RunJobs() {
    for (int i = 0; i < kJobs; ++i) {
      const CommandResult submit =
          i == 0 ? farm_.Kilnctl({"submit", "mesh.extract", "--params",
                                  R"({"shape":{"type":"sphere","radius":1},"resolution":16})",
                                  "--wait"})
                 : farm_.Kilnctl({"submit", "debug.sleep", "--param", "seconds=0.2", "--wait"});
      ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err << farm_.Log("worker-0.log");
    }
  }

  std::string Scrape(int port) {
    std::optional<std::string> page;
    WaitUntil([&] { return (page = HttpGet(port, "/metrics")).has_value(); }, absl::Seconds(20));
    EXPECT_TRUE(page.has_value()) << "no /metrics on port " << port;
    return page.value_or("");
  }

  LocalFarm farm_;
  int scheduler_metrics_port_ = 0;
  int worker_metrics_port_ = 0;
};

TEST_F(MonitoredFarmTest, ScrapesPassPromtoolCheckMetrics) {
  REQUIRE_TOOL(promtool, "promtool");
  StartFarm();
  RunJobs();
  ScopedTempDir dir;
  for (const auto& [name, port] : std::map<std::string, int>{{"scheduler", scheduler_metrics_port_},
                                                             {"worker", worker_metrics_port_}}) {
    const std::string page = Scrape(port);
    ASSERT_FALSE(page.empty()) << name;
    const std::string path = dir.Sub(name + ".prom");
    WriteFile(path, page);
    const CommandResult check = RunCommand(
        {"/bin/sh", "-c", absl::StrCat("exec '", *promtool, "' check metrics < '", path, "'")},
        absl::Seconds(60));
    EXPECT_EQ(check.exit_code, 0) << name << ": " << check.out << check.err;
    EXPECT_EQ(check.out + check.err, "") << name << " has lint problems";
  }
  const std::string scheduler_page = Scrape(scheduler_metrics_port_);
  EXPECT_TRUE(absl::StrContains(
      scheduler_page, absl::StrCat("kiln_jobs_finished_total{state=\"succeeded\"} ", kJobs)))
      << scheduler_page;
  // Every process logged JSON lines only, kiln-exec (inheriting the format from the
  // worker) included.
  for (const std::string& log : {farm_.Log("scheduler.log"), farm_.Log("worker-0.log"),
                                 ReadFileOrEmpty(farm_.dir() + "/worker-0/slot-0.log")}) {
    int lines = 0;
    for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
      google::protobuf::Struct parsed;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                      google::protobuf::StringPiece(line.data(), line.size()), &parsed)
                      .ok())
          << line;
      EXPECT_TRUE(parsed.fields().contains("msg")) << line;
      ++lines;
    }
    EXPECT_GT(lines, 0) << log;
  }
}

// Renders deploy/prometheus/prometheus.yml for this test: its paths moved under
// `dir`, 1 s scrape and evaluation intervals, file_sd targets with the test's ports.
std::string RenderPrometheusConfig(const std::string& dir, int scheduler_port, int worker_port) {
  std::string config = ReadFileOrEmpty(SourcePath("deploy/prometheus/prometheus.yml"));
  EXPECT_TRUE(absl::StrContains(config, "scrape_interval: 15s"));
  config = absl::StrReplaceAll(config, {{"/etc/prometheus/", dir + "/"},
                                        {"scrape_interval: 15s", "scrape_interval: 1s"},
                                        {"evaluation_interval: 15s", "evaluation_interval: 1s"},
                                        {"refresh_interval: 30s", "refresh_interval: 1s"}});
  fs::create_directories(dir + "/targets");
  fs::create_directories(dir + "/rules");
  fs::copy_file(SourcePath("deploy/prometheus/rules/kiln-alerts.yml"),
                dir + "/rules/kiln-alerts.yml");
  WriteFile(dir + "/targets/scheduler.json",
            absl::StrCat(R"([{"targets":["127.0.0.1:)", scheduler_port, R"("]}])"));
  WriteFile(dir + "/targets/workers.json", absl::StrCat(R"([{"targets":["127.0.0.1:)", worker_port,
                                                        R"("],"labels":{"pool":"test"}}])"));
  return config;
}

// The value of an instant query whose result is one sample; nullopt until it is.
std::optional<double> QueryOne(int port, const std::string& promql) {
  std::optional<std::string> body =
      HttpGet(port, absl::StrCat("/api/v1/query?query=", UrlEncode(promql)));
  if (!body.has_value()) return std::nullopt;
  google::protobuf::Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(*body, &answer).ok()) return std::nullopt;
  const auto& fields = answer.fields();
  if (!fields.contains("data")) return std::nullopt;
  const auto& data = fields.at("data").struct_value().fields();
  if (!data.contains("result")) return std::nullopt;
  const auto& result = data.at("result").list_value();
  if (result.values_size() != 1) return std::nullopt;
  const auto& value = result.values(0).struct_value().fields().at("value").list_value();
  double number = 0;
  if (value.values_size() != 2 || !absl::SimpleAtod(value.values(1).string_value(), &number)) {
    return std::nullopt;
  }
  return number;
}

TEST_F(MonitoredFarmTest, PrometheusServerScrapesTheFarmWithTheProjectConfig) {
  REQUIRE_TOOL(prometheus, "prometheus");
  StartFarm();
  ScopedTempDir dir;
  const std::string config =
      RenderPrometheusConfig(dir.path(), scheduler_metrics_port_, worker_metrics_port_);
  WriteFile(dir.Sub("prometheus.yml"), config);
  const int port = FreeLoopbackPort();
  auto server =
      Subprocess::Start({*prometheus, "--config.file=" + dir.Sub("prometheus.yml"),
                         "--storage.tsdb.path=" + dir.Sub("tsdb"),
                         absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"},
                        dir.Sub("prometheus.out"), dir.Sub("prometheus.err"));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(WaitUntil([&] { return HttpGet(port, "/-/ready").has_value(); }, absl::Seconds(60)))
      << ReadFileOrEmpty(dir.Sub("prometheus.err"));

  RunJobs();

  // Each expectation: a query and the value it must reach (bounded by one deadline).
  const std::vector<std::pair<std::string, double>> expectations = {
      {R"(up{job="kiln-scheduler"})", 1},
      {R"(up{job="kiln-worker",pool="test"})", 1},
      {"kiln_jobs_submitted_total", kJobs},
      {R"(kiln_jobs_finished_total{state="succeeded"})", kJobs},
      {R"(sum(kiln_job_end_to_end_seconds_count{state="succeeded"}))", kJobs},
      {R"(sum(kiln_job_wait_seconds_count))", kJobs},
      {R"(sum(kiln_attempts_total{reason="succeeded"}))", kJobs},
      {R"(sum(kiln_worker_attempts_total{reason="succeeded"}))", kJobs},
      {R"(sum(kiln_job_end_to_end_seconds_count{task="mesh.extract"}))", 1},
      {R"(kiln_devices{arch="sm_90",runnable="true",reason="none"})", 1},
      {R"(kiln_devices{arch="sm_86",runnable="false",reason="no_kernel_image"})", 1},
      {R"(kiln_devices{arch="cpu",runnable="true"})", 1},
      {R"(kiln_workers{state="alive"})", 1},
      {R"(kiln_worker_device_runnable{device="cuda:1",reason="no_kernel_image"})", 0},
      {R"(sum(kiln_worker_slots))", 3},
      {"kiln_queue_depth", 0},
      {R"(count(ALERTS{alertname="KilnScrapeDown"}) or vector(0))", 0},
  };
  std::string last;
  const bool reached = WaitUntil(
      [&] {
        for (const auto& [query, want] : expectations) {
          const std::optional<double> got = QueryOne(port, query);
          if (!got.has_value() || *got != want) {
            last = absl::StrCat(query, " = ",
                                got.has_value() ? absl::StrCat(*got) : "(no single sample)",
                                ", want ", want);
            return false;
          }
        }
        return true;
      },
      absl::Seconds(60));
  EXPECT_TRUE(reached) << last << "\n" << ReadFileOrEmpty(dir.Sub("prometheus.err"));

  // The project's alert rules were loaded from the rendered configuration.
  const std::optional<std::string> rules = HttpGet(port, "/api/v1/rules?type=alert");
  ASSERT_TRUE(rules.has_value());
  for (const char* alert :
       {"KilnNoRunnableWorkerForQueuedJobs", "KilnJobWaitingTooLong", "KilnLeaseLapsesSpiking",
        "KilnExecutorRestartLoop", "KilnStoreNearDiskLimit", "KilnScrapeDown"}) {
    EXPECT_TRUE(absl::StrContains(*rules, alert)) << alert << " not loaded: " << *rules;
  }
  (*server)->Signal(SIGTERM);
  EXPECT_TRUE((*server)->Wait(absl::Seconds(30)).ok());
}

}  // namespace
}  // namespace kiln::testing
