// Frame I/O for the private worker <-> executor protocol (kiln/v1/executor.proto): a frame
// is a 4-byte little-endian length followed by that many bytes of a serialized message.
// Shared by kiln-exec and the worker's ExecutorSupervisor. Stateless free functions; the
// caller owns the file descriptors, and one fd must be read (or written) by one thread at
// a time. Both functions block and retry on EINTR.
#ifndef KILN_WORKER_EXEC_FRAME_IO_H_
#define KILN_WORKER_EXEC_FRAME_IO_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace kiln::exec {

// Largest frame either side accepts; a larger length prefix means a corrupt stream.
inline constexpr size_t kMaxFrameBytes = size_t{64} << 20;

// Writes one frame. InvalidArgument when the message is larger than max_bytes,
// Unavailable when the peer closed the pipe (EPIPE; the caller must ignore SIGPIPE),
// Internal for other write errors.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message,
                        size_t max_bytes = kMaxFrameBytes);

// Reads one frame into *message.
//   OutOfRange: clean end of stream (EOF before the first byte of a frame);
//   DataLoss: EOF inside a frame (truncated), or bytes that do not parse;
//   ResourceExhausted: the length prefix exceeds max_bytes;
//   Internal: a read error.
absl::Status ReadFrame(int fd, google::protobuf::MessageLite* message,
                       size_t max_bytes = kMaxFrameBytes);

// True for ReadFrame's clean end-of-stream status.
inline bool IsEndOfStream(const absl::Status& status) { return absl::IsOutOfRange(status); }

}  // namespace kiln::exec

#endif  // KILN_WORKER_EXEC_FRAME_IO_H_
