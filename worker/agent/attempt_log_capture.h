// AttemptLogCapture: the bytes one attempt added to its slot's log file. The slot's
// kiln-exec appends its stderr (and its stdout, which it points at stderr) to
// <work-dir>/slot-N.log and runs one task at a time, so what the file gained between the
// attempt's start and end is what the attempt printed. Offsets are positions in that
// output (0 = the first byte after the start), the same ones the live tail and
// GetJobLog use.
//
// Threads: Next() is called by one thread at a time (the live forwarder), WriteLog()
// after that thread stopped (the slot thread); the object is otherwise not shared.
#ifndef KILN_WORKER_AGENT_ATTEMPT_LOG_CAPTURE_H_
#define KILN_WORKER_AGENT_ATTEMPT_LOG_CAPTURE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::agent {

class AttemptLogCapture {
 public:
  // New output for the live tail: `bytes` found at `offset`.
  struct Chunk {
    int64_t offset = 0;
    std::string bytes;
  };

  // Starts at the file's current end (0 when it does not exist yet).
  explicit AttemptLogCapture(std::string log_path);

  // Bytes written since the previous Next() (from offset 0 the first time), at most
  // `max_bytes`. When more than `skip_after` bytes wait, it skips ahead and returns the
  // newest `max_bytes`: a live view keeps up with a task that prints faster than the
  // forwarding rate (the log blob keeps everything up to its own bound).
  Chunk Next(int64_t max_bytes, int64_t skip_after);

  // Bytes the attempt wrote so far.
  int64_t Size() const;

  // Writes the attempt's output to `out_path`: all of it, or when longer than
  // `max_bytes` the last `max_bytes` after a notice line saying how much was dropped
  // (common/attempt_log.h). Returns the attempt's output size.
  absl::StatusOr<int64_t> WriteLog(const std::string& out_path, int64_t max_bytes) const;

 private:
  // Size of the log file now (0 when missing).
  int64_t FileSize() const;

  const std::string log_path_;
  int64_t start_ = 0;  // Where the attempt began in the file.
  int64_t sent_ = 0;   // Output offset up to which Next() returned bytes.
};

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_ATTEMPT_LOG_CAPTURE_H_
