#include "client/kilnctl_logs.h"

#include "gtest/gtest.h"

namespace kiln::kilnctl {
namespace {

absl::StatusOr<LogsArgs> Parse(const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(LogsFlags(), argv);
  if (!parsed.ok()) return parsed.status();
  return ParseLogsArgs(*parsed);
}

TEST(KilnctlLogsTest, DefaultsToTheLatestAttemptWithoutFollowing) {
  absl::StatusOr<LogsArgs> args = Parse({"j-0000000000000001"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->job_id, "j-0000000000000001");
  EXPECT_EQ(args->attempt, 0);
  EXPECT_FALSE(args->follow);
}

TEST(KilnctlLogsTest, AttemptAndFollow) {
  absl::StatusOr<LogsArgs> args = Parse({"--attempt", "2", "j-1", "-f"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->job_id, "j-1");
  EXPECT_EQ(args->attempt, 2);
  EXPECT_TRUE(args->follow);
  args = Parse({"j-1", "--attempt=3", "--follow"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->attempt, 3);
  EXPECT_TRUE(args->follow);
}

TEST(KilnctlLogsTest, BadArguments) {
  EXPECT_EQ(Parse({}).status().message(), "missing JOB_ID");
  EXPECT_EQ(Parse({"j-1", "j-2"}).status().message(), "unexpected argument \"j-2\"");
  EXPECT_EQ(Parse({"j-1", "--attempt", "0"}).status().message(),
            "--attempt \"0\": expected an attempt number, 1 or more");
  EXPECT_EQ(Parse({"j-1", "--attempt", "two"}).status().message(),
            "--attempt \"two\": expected an attempt number, 1 or more");
  EXPECT_EQ(Parse({"j-1", "--attempt"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"j-1", "--tail"}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::kilnctl
