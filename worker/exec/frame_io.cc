#include "worker/exec/frame_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace kiln::exec {
namespace {

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) return absl::UnavailableError("frame write: peer closed the pipe");
      return absl::InternalError(absl::StrCat("frame write: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes; returns how many were read before EOF (< size on EOF).
absl::StatusOr<size_t> ReadAll(int fd, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("frame read: ", std::strerror(errno)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message, size_t max_bytes) {
  const size_t size = message.ByteSizeLong();
  if (size > max_bytes || size > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", size, " bytes exceeds the limit of ", max_bytes));
  }
  // One buffer and (usually) one write, so a frame is never interleaved with another.
  std::string buffer(4 + size, '\0');
  const uint32_t n = static_cast<uint32_t>(size);
  for (int i = 0; i < 4; ++i) buffer[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  if (!message.SerializeToArray(buffer.data() + 4, static_cast<int>(size))) {
    return absl::InternalError("frame write: message did not serialize");
  }
  return WriteAll(fd, buffer.data(), buffer.size());
}

absl::Status ReadFrame(int fd, google::protobuf::MessageLite* message, size_t max_bytes) {
  unsigned char prefix[4];
  auto got = ReadAll(fd, reinterpret_cast<char*>(prefix), sizeof(prefix));
  if (!got.ok()) return got.status();
  if (*got == 0) return absl::OutOfRangeError("end of stream");
  if (*got < sizeof(prefix)) {
    return absl::DataLossError(absl::StrCat("truncated frame: ", *got, " of 4 length bytes"));
  }
  const uint32_t size = uint32_t{prefix[0]} | uint32_t{prefix[1]} << 8 | uint32_t{prefix[2]} << 16 |
                        uint32_t{prefix[3]} << 24;
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("frame of ", size, " bytes exceeds the limit of ", max_bytes));
  }
  std::string body(size, '\0');
  got = ReadAll(fd, body.data(), size);
  if (!got.ok()) return got.status();
  if (*got < size) {
    return absl::DataLossError(absl::StrCat("truncated frame: ", *got, " of ", size, " bytes"));
  }
  if (!message->ParseFromString(body)) {
    return absl::DataLossError(
        absl::StrCat("frame of ", size, " bytes does not parse as ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace kiln::exec
