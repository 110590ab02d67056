#include "worker/agent/attempt_log_capture.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/attempt_log.h"
#include "common/testing/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "worker/agent/live_log_forwarder.h"

namespace kiln::agent {
namespace {

void Append(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << bytes;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class AttemptLogCaptureTest : public ::testing::Test {
 protected:
  kiln::testing::ScopedTempDir temp_;
  const std::string log_ = temp_.Sub("slot-0.log");
};

TEST_F(AttemptLogCaptureTest, OffsetsStartAtTheAttemptsFirstByte) {
  Append(log_, "executor start-up line\nprevious attempt\n");
  AttemptLogCapture capture(log_);
  EXPECT_EQ(capture.Size(), 0);
  EXPECT_EQ(capture.Next(64, 1024).bytes, "");
  Append(log_, "line 1\n");
  AttemptLogCapture::Chunk chunk = capture.Next(64, 1024);
  EXPECT_EQ(chunk.offset, 0);
  EXPECT_EQ(chunk.bytes, "line 1\n");
  Append(log_, "line 2\nline 3\n");
  chunk = capture.Next(10, 1024);  // At most 10 bytes a chunk.
  EXPECT_EQ(chunk.offset, 7);
  EXPECT_EQ(chunk.bytes, "line 2\nlin");
  chunk = capture.Next(10, 1024);
  EXPECT_EQ(chunk.offset, 17);
  EXPECT_EQ(chunk.bytes, "e 3\n");
  EXPECT_EQ(capture.Size(), 21);

  ASSERT_TRUE(capture.WriteLog(temp_.Sub("attempt-1.log"), 1 << 20).ok());
  EXPECT_EQ(Read(temp_.Sub("attempt-1.log")), "line 1\nline 2\nline 3\n");
}

TEST_F(AttemptLogCaptureTest, MissingFileStartsAtZero) {
  AttemptLogCapture capture(log_);
  Append(log_, "first\n");
  EXPECT_EQ(capture.Next(64, 1024).bytes, "first\n");
}

TEST_F(AttemptLogCaptureTest, SkipsAheadWhenFarBehind) {
  AttemptLogCapture capture(log_);
  Append(log_, std::string(100, 'a') + "0123456789");
  const AttemptLogCapture::Chunk chunk = capture.Next(10, 50);
  EXPECT_EQ(chunk.offset, 100);  // The newest 10 bytes, at their true offset.
  EXPECT_EQ(chunk.bytes, "0123456789");
}

TEST_F(AttemptLogCaptureTest, LogKeepsTheLastBytesAndSaysItWasCut) {
  Append(log_, "before the attempt\n");
  AttemptLogCapture capture(log_);
  std::string output;
  for (int i = 0; i < 1000; ++i) output += "line " + std::to_string(i) + "\n";
  Append(log_, output);
  const std::string path = temp_.Sub("attempt-2.log");
  absl::StatusOr<int64_t> size = capture.WriteLog(path, 100);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, static_cast<int64_t>(output.size()));
  const std::string blob = Read(path);
  const std::string notice = AttemptLogCutNotice(output.size() - 100, 100);
  ASSERT_EQ(blob.substr(0, notice.size()), notice);
  EXPECT_EQ(blob.substr(notice.size()), output.substr(output.size() - 100));
  const AttemptLogLayout layout = ParseAttemptLog(blob);
  EXPECT_EQ(layout.dropped, static_cast<int64_t>(output.size()) - 100);
  EXPECT_EQ(layout.body_start, static_cast<int64_t>(notice.size()));
}

TEST_F(AttemptLogCaptureTest, FourMebibyteCapOfTheWorker) {
  AttemptLogCapture capture(log_);
  const std::string block(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) Append(log_, block);
  Append(log_, "the end\n");
  const std::string path = temp_.Sub("attempt-1.log");
  ASSERT_TRUE(capture.WriteLog(path, kMaxAttemptLogBytes).ok());
  const std::string blob = Read(path);
  const AttemptLogLayout layout = ParseAttemptLog(blob);
  EXPECT_EQ(layout.dropped, (int64_t{1} << 20) + 8);
  EXPECT_EQ(static_cast<int64_t>(blob.size()) - layout.body_start, kMaxAttemptLogBytes);
  EXPECT_EQ(blob.substr(blob.size() - 8), "the end\n");
}

TEST_F(AttemptLogCaptureTest, ForwarderSendsNewBytesInOrderAndStops) {
  AttemptLogCapture capture(log_);
  absl::Mutex mu;
  std::vector<AttemptLogCapture::Chunk> sent;
  LiveLogForwarderOptions options;
  options.interval = absl::Milliseconds(10);
  options.max_chunk_bytes = 4;
  LiveLogForwarder forwarder(options, &capture, [&](const AttemptLogCapture::Chunk& chunk) {
    absl::MutexLock lock(&mu);
    sent.push_back(chunk);
  });
  Append(log_, "abcdefghij");
  std::string joined;
  {
    absl::MutexLock lock(&mu);
    const auto all_sent = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      joined.clear();
      for (const auto& chunk : sent) joined += chunk.bytes;
      return joined.size() == 10;
    };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_sent), absl::Seconds(10)));
  }
  forwarder.Stop();
  EXPECT_EQ(joined, "abcdefghij");
  absl::MutexLock lock(&mu);
  ASSERT_EQ(sent.size(), 3u);  // 4 + 4 + 2 bytes, one chunk per interval.
  EXPECT_EQ(sent[1].offset, 4);
  EXPECT_EQ(sent[2].offset, 8);
}

}  // namespace
}  // namespace kiln::agent
