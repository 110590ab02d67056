#include "scheduler/core/log_tails.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::core {
namespace {

using kiln::v1::GetJobLogResponse;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

class LogTailsTest : public ::testing::Test {
 protected:
  // Parks a read, recording its answer in `answers_`.
  uint64_t Park(LogTails& tails, int64_t offset, absl::Duration wait) {
    uint64_t id = 0;
    GetJobLogResponse base;
    base.set_attempt(1);
    auto read = tails.ReadOrPark(
        "j-1", 1, offset, base, kNow, kNow + wait,
        [this](absl::StatusOr<GetJobLogResponse> r) { answers_.push_back(std::move(r)); }, &id);
    EXPECT_TRUE(read.ok() && !read->has_value());
    return id;
  }
  std::optional<GetJobLogResponse> ReadNow(LogTails& tails, int64_t offset) {
    uint64_t id = 0;
    auto read = tails.ReadOrPark("j-1", 1, offset, GetJobLogResponse(), kNow, kNow, nullptr, &id);
    EXPECT_TRUE(read.ok());
    EXPECT_EQ(id, 0u);
    return read.ok() ? *read : std::nullopt;
  }
  static void Deliver(std::vector<LogTails::Answer> answers) {
    for (auto& [done, value] : answers) done(std::move(value));
  }

  std::vector<absl::StatusOr<GetJobLogResponse>> answers_;
};

TEST_F(LogTailsTest, ReadsFromAnOffsetAndSkipsOverlap) {
  LogTails tails;
  Deliver(tails.Append("j-1", 1, 0, "hello "));
  Deliver(tails.Append("j-1", 1, 6, "world\n"));
  Deliver(tails.Append("j-1", 1, 3, "lo world\nmore"));  // A retried, longer chunk.
  auto read = ReadNow(tails, 0);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->data(), "hello world\nmore");
  EXPECT_EQ(read->offset(), 0);
  EXPECT_EQ(read->next_offset(), 16);
  read = ReadNow(tails, 12);
  EXPECT_EQ(read->data(), "more");
  read = ReadNow(tails, 16);  // Nothing new, no wait: empty, same offset.
  EXPECT_EQ(read->data(), "");
  EXPECT_EQ(read->next_offset(), 16);
  EXPECT_EQ(tails.total_bytes(), 16);
}

TEST_F(LogTailsTest, KeepsOnlyTheNewestBytes) {
  LogTailsOptions options;
  options.max_bytes_per_attempt = 10;
  LogTails tails(options);
  Deliver(tails.Append("j-1", 1, 0, "0123456789"));
  Deliver(tails.Append("j-1", 1, 10, "abcdef"));
  auto read = ReadNow(tails, 0);
  EXPECT_EQ(read->offset(), 6);  // The first 6 bytes are gone; the answer says so.
  EXPECT_EQ(read->data(), "6789abcdef");
  EXPECT_EQ(read->next_offset(), 16);
  EXPECT_EQ(tails.total_bytes(), 10);
}

TEST_F(LogTailsTest, TotalBoundTrimsTheAttemptBeingAppended) {
  LogTailsOptions options;
  options.max_total_bytes = 12;
  LogTails tails(options);
  Deliver(tails.Append("j-2", 1, 0, "12345678"));
  Deliver(tails.Append("j-1", 1, 0, "abcd"));
  EXPECT_EQ(tails.total_bytes(), 12);
  Deliver(tails.Append("j-1", 1, 4, "efgh"));  // Over by 4: j-1 gives up its oldest 4.
  EXPECT_EQ(tails.total_bytes(), 12);
  EXPECT_EQ(ReadNow(tails, 0)->data(), "efgh");
  // The newest chunk is always kept, even past the total bound.
  Deliver(tails.Append("j-1", 1, 8, "ijklmnop"));
  EXPECT_EQ(ReadNow(tails, 0)->data(), "ijklmnop");
  EXPECT_EQ(tails.total_bytes(), 16);
}

TEST_F(LogTailsTest, GapRestartsTheTail) {
  LogTails tails;
  Deliver(tails.Append("j-1", 1, 0, "abc"));
  Deliver(tails.Append("j-1", 1, 100, "xyz"));
  auto read = ReadNow(tails, 3);
  EXPECT_EQ(read->offset(), 100);
  EXPECT_EQ(read->data(), "xyz");
  EXPECT_EQ(tails.total_bytes(), 3);
}

TEST_F(LogTailsTest, ParkedReadIsAnsweredByNewBytes) {
  LogTails tails;
  Deliver(tails.Append("j-1", 1, 0, "old\n"));
  Park(tails, 4, absl::Seconds(10));
  Deliver(tails.Append("j-2", 1, 0, "other job\n"));
  EXPECT_TRUE(answers_.empty());
  Deliver(tails.Append("j-1", 1, 4, "new\n"));
  ASSERT_EQ(answers_.size(), 1u);
  ASSERT_TRUE(answers_[0].ok());
  EXPECT_EQ(answers_[0]->attempt(), 1);
  EXPECT_EQ(answers_[0]->data(), "new\n");
  EXPECT_EQ(answers_[0]->offset(), 4);
  EXPECT_EQ(answers_[0]->next_offset(), 8);
  EXPECT_EQ(tails.parked(), 0u);
}

TEST_F(LogTailsTest, ParkedReadTimesOutOnlyAtItsDeadline) {
  LogTails tails;
  Park(tails, 0, absl::Seconds(5));  // No bytes yet at all.
  Deliver(tails.TakeDue(kNow + absl::Seconds(4)));
  EXPECT_TRUE(answers_.empty());
  Deliver(tails.TakeDue(kNow + absl::Seconds(5)));
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0]->data(), "");
  EXPECT_EQ(answers_[0]->next_offset(), 0);
  EXPECT_FALSE(answers_[0]->ended());
  EXPECT_EQ(tails.parked(), 0u);
}

TEST_F(LogTailsTest, EndAnswersParkedReadsWithTheEndAndDropsTheTail) {
  LogTails tails;
  Deliver(tails.Append("j-1", 1, 0, "abc"));
  Park(tails, 3, absl::Seconds(30));
  GetJobLogResponse ended;
  ended.set_attempt(1);
  ended.set_ended(true);
  ended.mutable_log()->set_sha256("ab");
  tails.End("j-1", 1, ended);
  EXPECT_EQ(tails.total_bytes(), 0);
  EXPECT_TRUE(answers_.empty());  // Answered from TakeDue, outside the scheduler's lock.
  Deliver(tails.TakeDue(kNow));
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_TRUE(answers_[0]->ended());
  EXPECT_EQ(answers_[0]->log().sha256(), "ab");
  EXPECT_EQ(answers_[0]->next_offset(), 3);
}

TEST_F(LogTailsTest, CancelAndShutdownAnswerParkedReads) {
  LogTails tails;
  const uint64_t id = Park(tails, 0, absl::Seconds(30));
  Park(tails, 0, absl::Seconds(30));
  Deliver(tails.Cancel(id));
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].status().code(), absl::StatusCode::kCancelled);
  Deliver(tails.Cancel(id));  // Twice: nothing more.
  EXPECT_EQ(answers_.size(), 1u);
  Deliver(tails.Shutdown());
  ASSERT_EQ(answers_.size(), 2u);
  EXPECT_EQ(answers_[1].status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(LogTailsTest, RefusesTooManyParkedReads) {
  LogTailsOptions options;
  options.max_waiters = 1;
  LogTails tails(options);
  Park(tails, 0, absl::Seconds(30));
  uint64_t id = 0;
  auto read = tails.ReadOrPark(
      "j-1", 1, 0, GetJobLogResponse(), kNow, kNow + absl::Seconds(1), [](auto) {}, &id);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace kiln::core
