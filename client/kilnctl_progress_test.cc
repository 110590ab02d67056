#include "client/kilnctl_progress.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::kilnctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kCreated = absl::FromUnixSeconds(1'700'000'000);

v1::Job RunningJob(double progress, const std::string& message) {
  v1::Job job;
  job.set_id("j-0000000000000001");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.set_progress(progress);
  job.set_progress_message(message);
  *job.mutable_created_at() = ToProtoTime(kCreated);
  return job;
}

// Columns of a line of ASCII and two-column CJK only (what these tests use).
int Columns(const std::string& line) {
  int columns = 0;
  for (size_t i = 0; i < line.size();) {
    const unsigned char c = line[i];
    const size_t length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    columns += length == 3 ? 2 : 1;
    i += length;
  }
  return columns;
}

TEST(FormatWatchProgressTest, ShowsBarPercentStateElapsedAndMessage) {
  const std::string line =
      FormatWatchProgress(RunningJob(0.42, "meshing"), kCreated + absl::Seconds(65), 80);
  EXPECT_EQ(line, "[########------------]   42%  running  1m05s  meshing");
}

TEST(FormatWatchProgressTest, BarIsAQuarterOfTheWidthWithinTenToThirtyCells) {
  EXPECT_EQ(ProgressBarCells(80), 20);
  EXPECT_EQ(ProgressBarCells(20), 10);
  EXPECT_EQ(ProgressBarCells(0), 10);
  EXPECT_EQ(ProgressBarCells(400), 30);
  for (int width : {20, 60, 100, 300}) {
    const std::string line = FormatWatchProgress(RunningJob(0.5, ""), kCreated, width);
    const size_t close = line.find(']');
    ASSERT_NE(close, std::string::npos) << width;
    EXPECT_EQ(static_cast<int>(close) - 1, ProgressBarCells(width)) << line;
  }
}

TEST(FormatWatchProgressTest, EmptyAtZeroAndFullAtOneHundredPercent) {
  EXPECT_THAT(FormatWatchProgress(RunningJob(0.0, ""), kCreated, 80),
              StartsWith("[--------------------]    0%  running"));
  EXPECT_THAT(FormatWatchProgress(RunningJob(1.0, ""), kCreated, 80),
              StartsWith("[####################]  100%  running"));
  // Out-of-range progress is clamped, never a bar longer than its frame.
  EXPECT_THAT(FormatWatchProgress(RunningJob(7.5, ""), kCreated, 80),
              StartsWith("[####################]  100%"));
  EXPECT_THAT(FormatWatchProgress(RunningJob(-1, ""), kCreated, 80),
              StartsWith("[--------------------]    0%"));

  v1::Job done = RunningJob(0.9, "almost");
  done.set_state(v1::JOB_STATE_SUCCEEDED);
  *done.mutable_finished_at() = ToProtoTime(kCreated + absl::Seconds(12));
  done.set_status_message("succeeded");  // Not repeated after the state.
  // A finished job's elapsed stops at its end, whatever `now` is.
  EXPECT_EQ(FormatWatchProgress(done, kCreated + absl::Hours(5), 80),
            "[####################]  100%  succeeded  12s");

  v1::Job queued;
  queued.set_state(v1::JOB_STATE_QUEUED);
  queued.set_status_message("waiting for a slot");
  EXPECT_EQ(FormatWatchProgress(queued, kCreated, 80),
            "[--------------------]     -  queued  0s  waiting for a slot");
}

TEST(FormatWatchProgressTest, LongMessagesAreCutToTheWidth) {
  const std::string message(500, 'm');
  for (int width : {10, 40, 79, 120}) {
    const std::string line = FormatWatchProgress(RunningJob(0.3, message), kCreated, width);
    EXPECT_EQ(static_cast<int>(line.size()), width) << line;
  }
  // No width (not a terminal): nothing is cut.
  EXPECT_THAT(FormatWatchProgress(RunningJob(0.3, message), kCreated, 0), HasSubstr(message));
}

TEST(FormatWatchProgressTest, CutsBetweenUtf8SequencesAndCountsWideCharacters) {
  // "é" is two bytes, one column; "网" three bytes, two columns. From 120 columns up the
  // bar keeps 30 cells, so every cut line is a prefix of the whole one.
  std::string message;
  for (int i = 0; i < 40; ++i) message += "é网";
  const std::string full = FormatWatchProgress(RunningJob(0.5, message), kCreated, 100000);
  ASSERT_GT(Columns(full), 150);
  for (int width = 120; width <= Columns(full); ++width) {
    const std::string line = FormatWatchProgress(RunningJob(0.5, message), kCreated, width);
    EXPECT_LE(Columns(line), width);
    EXPECT_GE(Columns(line), width - 1);  // Only a wide character may leave one column.
    EXPECT_TRUE(absl::StartsWith(full, line)) << "cut inside a UTF-8 sequence at " << width;
  }
}

TEST(FitToColumnsTest, NeutralisesControlCharactersAndMalformedBytes) {
  EXPECT_EQ(FitToColumns("a\rb\nc\033[2Jd", 100), "a b c [2Jd");
  EXPECT_EQ(FitToColumns("ok\xC3", 100), "ok?");            // A sequence cut short.
  EXPECT_EQ(FitToColumns("\x80x\xC0\xAFy", 100), "?x??y");  // Stray and overlong bytes.
  EXPECT_EQ(FitToColumns("网网", 3), "网");
  EXPECT_EQ(FitToColumns("abc", 0), "");
}

TEST(FormatElapsedTest, PicksTwoUnits) {
  EXPECT_EQ(FormatElapsed(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(-3)), "0s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(59)), "59s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(61)), "1m01s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(3 * 3600 + 4 * 60 + 5)), "3h04m");
  EXPECT_EQ(FormatElapsed(absl::Hours(50)), "2d02h");
}

}  // namespace
}  // namespace kiln::kilnctl
