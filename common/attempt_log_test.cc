#include "common/attempt_log.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(AttemptLogTest, NamesTheBlobAfterTheAttempt) { EXPECT_EQ(AttemptLogName(3), "attempt-3.log"); }

TEST(AttemptLogTest, UncutLogHasNoNotice) {
  const AttemptLogLayout layout = ParseAttemptLog("line 1\nline 2\n");
  EXPECT_EQ(layout.dropped, 0);
  EXPECT_EQ(layout.body_start, 0);
}

TEST(AttemptLogTest, NoticeRoundTrips) {
  const std::string notice = AttemptLogCutNotice(123456, 4194304);
  EXPECT_EQ(notice,
            "[kiln: output cut: the first 123456 bytes were dropped, the last 4194304 bytes "
            "follow]\n");
  const std::string blob = notice + "tail\n";
  const AttemptLogLayout layout = ParseAttemptLog(blob);
  EXPECT_EQ(layout.dropped, 123456);
  EXPECT_EQ(layout.body_start, static_cast<int64_t>(notice.size()));
  EXPECT_EQ(blob.substr(layout.body_start), "tail\n");
}

TEST(AttemptLogTest, LookalikeFromTheTaskIsNotANotice) {
  EXPECT_EQ(ParseAttemptLog("[kiln: output cut: the first many bytes were dropped]\n").body_start,
            0);
  EXPECT_EQ(ParseAttemptLog("[kiln: output cut: the first 12").body_start, 0);
}

}  // namespace
}  // namespace kiln
