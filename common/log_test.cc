#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace kiln {
namespace {

// Runs `log` with stderr redirected into a pipe and returns what it wrote.
template <typename Fn>
std::string CaptureStderr(Fn log) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  log();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;) out.append(buffer, n);
  ::close(fds[0]);
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  ~LogTest() override { SetLogFormat(LogFormat::kText); }
};

TEST_F(LogTest, JsonLinesAreOneParsableObjectEach) {
  SetLogFormat(LogFormat::kJson);
  const std::string out = CaptureStderr([] {
    KILN_LOG(WARNING) << "quote \" backslash \\ newline\n tab\t bell\a end";
    KILN_LOG(INFO) << "second";
  });
  const size_t first_end = out.find('\n');
  ASSERT_NE(first_end, std::string::npos) << out;
  ASSERT_EQ(out.back(), '\n');
  ASSERT_EQ(out.find('\n', first_end + 1), out.size() - 1) << "exactly two lines: " << out;

  google::protobuf::Struct line;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.substr(0, first_end), &line).ok())
      << out;
  const auto& fields = line.fields();
  EXPECT_EQ(fields.at("level").string_value(), "WARNING");
  EXPECT_EQ(fields.at("msg").string_value(), "quote \" backslash \\ newline\n tab\t bell\a end");
  EXPECT_EQ(fields.at("process").string_value(), program_invocation_short_name);
  EXPECT_EQ(fields.at("pid").number_value(), ::getpid());
  EXPECT_EQ(fields.at("src").string_value().rfind("log_test.cc:", 0), 0u);
  const std::string ts = fields.at("ts").string_value();
  EXPECT_EQ(ts.size(), std::string("2026-06-12T14:03:07.123456Z").size()) << ts;
  EXPECT_EQ(ts.back(), 'Z');
}

TEST_F(LogTest, TextIsTheGlogLikeLine) {
  SetLogFormat(LogFormat::kText);
  const std::string out = CaptureStderr([] { KILN_LOG(ERROR) << "plain"; });
  EXPECT_EQ(out.front(), 'E');
  EXPECT_NE(out.find(" log_test.cc:"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 8), "] plain\n");
}

TEST_F(LogTest, SetLogFormatExportsItForChildren) {
  SetLogFormat(LogFormat::kJson);
  ASSERT_NE(std::getenv("KILN_LOG_FORMAT"), nullptr);
  EXPECT_STREQ(std::getenv("KILN_LOG_FORMAT"), "json");
  SetLogFormat(LogFormat::kText);
  EXPECT_STREQ(std::getenv("KILN_LOG_FORMAT"), "text");
}

TEST_F(LogTest, ParseLogFormatNamesTheFlag) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  const auto bad = ParseLogFormat("yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--log-format"), absl::string_view::npos);
}

}  // namespace
}  // namespace kiln
