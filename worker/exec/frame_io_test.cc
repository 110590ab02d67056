#include "worker/exec/frame_io.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::exec {
namespace {

using kiln::v1::ExecEvent;

class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    CloseWrite();
    ::close(read_fd);
  }
  void CloseWrite() {
    if (write_fd >= 0) ::close(write_fd);
    write_fd = -1;
  }
  void WriteRaw(const std::string& bytes) {
    ASSERT_EQ(::write(write_fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  int read_fd = -1;
  int write_fd = -1;
};

std::string LittleEndian(uint32_t n) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

TEST(FrameIoTest, RoundTripsSeveralFramesThenReportsEndOfStream) {
  Pipe pipe;
  ExecEvent ready;
  ready.mutable_ready()->add_tasks("mesh.extract");
  ready.mutable_ready()->set_pid(42);
  ExecEvent progress;
  progress.mutable_progress()->set_fraction(0.5);
  progress.mutable_progress()->set_message("half");
  ExecEvent empty;  // Zero-length frame.
  ASSERT_TRUE(WriteFrame(pipe.write_fd, ready).ok());
  ASSERT_TRUE(WriteFrame(pipe.write_fd, progress).ok());
  ASSERT_TRUE(WriteFrame(pipe.write_fd, empty).ok());
  pipe.CloseWrite();

  ExecEvent got;
  ASSERT_TRUE(ReadFrame(pipe.read_fd, &got).ok());
  EXPECT_EQ(got.ready().pid(), 42);
  ASSERT_EQ(got.ready().tasks_size(), 1);
  EXPECT_EQ(got.ready().tasks(0), "mesh.extract");
  ASSERT_TRUE(ReadFrame(pipe.read_fd, &got).ok());
  EXPECT_EQ(got.progress().message(), "half");
  EXPECT_DOUBLE_EQ(got.progress().fraction(), 0.5);
  ASSERT_TRUE(ReadFrame(pipe.read_fd, &got).ok());
  EXPECT_EQ(got.event_case(), ExecEvent::EVENT_NOT_SET);

  const absl::Status eof = ReadFrame(pipe.read_fd, &got);
  EXPECT_TRUE(IsEndOfStream(eof)) << eof;
}

TEST(FrameIoTest, LengthPrefixIsFourBytesLittleEndian) {
  Pipe pipe;
  ExecEvent event;
  event.mutable_progress()->set_message(std::string(300, 'x'));
  ASSERT_TRUE(WriteFrame(pipe.write_fd, event).ok());
  unsigned char prefix[4];
  ASSERT_EQ(::read(pipe.read_fd, prefix, 4), 4);
  const uint32_t size = prefix[0] | prefix[1] << 8 | prefix[2] << 16 | uint32_t{prefix[3]} << 24;
  EXPECT_EQ(size, event.ByteSizeLong());
}

TEST(FrameIoTest, WriteRejectsMessageOverMaxSize) {
  Pipe pipe;
  ExecEvent event;
  event.mutable_progress()->set_message(std::string(1000, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(WriteFrame(pipe.write_fd, event, /*max_bytes=*/100)));
}

TEST(FrameIoTest, ReadRejectsLengthOverMaxSizeWithoutReadingBody) {
  Pipe pipe;
  pipe.WriteRaw(LittleEndian(static_cast<uint32_t>(kMaxFrameBytes + 1)));
  ExecEvent got;
  EXPECT_TRUE(absl::IsResourceExhausted(ReadFrame(pipe.read_fd, &got)));

  Pipe small;
  small.WriteRaw(LittleEndian(101) + std::string(101, 'x'));
  EXPECT_TRUE(absl::IsResourceExhausted(ReadFrame(small.read_fd, &got, /*max_bytes=*/100)));
}

TEST(FrameIoTest, TruncatedLengthPrefixIsDataLoss) {
  Pipe pipe;
  pipe.WriteRaw(std::string("\x05\x00", 2));
  pipe.CloseWrite();
  ExecEvent got;
  const absl::Status status = ReadFrame(pipe.read_fd, &got);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_FALSE(IsEndOfStream(status));
}

TEST(FrameIoTest, TruncatedBodyIsDataLoss) {
  Pipe pipe;
  ExecEvent event;
  event.mutable_progress()->set_message("complete message");
  const std::string body = event.SerializeAsString();
  pipe.WriteRaw(LittleEndian(static_cast<uint32_t>(body.size())) + body.substr(0, body.size() / 2));
  pipe.CloseWrite();
  ExecEvent got;
  const absl::Status status = ReadFrame(pipe.read_fd, &got);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
}

TEST(FrameIoTest, UnparsableBodyIsDataLoss) {
  Pipe pipe;
  pipe.WriteRaw(LittleEndian(3) + std::string("\xff\xff\xff", 3));
  ExecEvent got;
  EXPECT_TRUE(absl::IsDataLoss(ReadFrame(pipe.read_fd, &got)));
}

TEST(FrameIoTest, WriteToClosedPipeIsUnavailable) {
  ::signal(SIGPIPE, SIG_IGN);
  Pipe pipe;
  ::close(pipe.read_fd);
  pipe.read_fd = ::open("/dev/null", O_RDONLY);  // Keep the destructor's close harmless.
  ExecEvent event;
  event.mutable_progress()->set_message("nobody listens");
  EXPECT_TRUE(absl::IsUnavailable(WriteFrame(pipe.write_fd, event)));
}

}  // namespace
}  // namespace kiln::exec
