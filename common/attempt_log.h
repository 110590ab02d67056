// The format of an attempt's log blob ("attempt-<n>.log"): what a task printed while the
// attempt ran, bounded. When the worker had to cut it, the blob starts with one notice
// line saying how many bytes of the attempt's output were dropped; the bytes after the
// notice are the output from that offset on. Workers write the notice, clients read it
// to line the blob up with the live tail's offsets. Pure functions; any thread.
#ifndef KILN_COMMON_ATTEMPT_LOG_H_
#define KILN_COMMON_ATTEMPT_LOG_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace kiln {

// Bytes of an attempt's output kept in its log blob (the last ones).
inline constexpr int64_t kMaxAttemptLogBytes = int64_t{4} << 20;

// The blob's name for attempt `attempt`: "attempt-3.log".
std::string AttemptLogName(int attempt);

// The first line of a cut log: "[kiln: output cut: the first 123 bytes were dropped,
// the last 4194304 bytes follow]\n".
std::string AttemptLogCutNotice(int64_t dropped_bytes, int64_t kept_bytes);

// Where a log blob's output starts. `dropped` is the offset (in the attempt's output)
// of the first byte after the notice, `body_start` the position of that byte in the blob.
struct AttemptLogLayout {
  int64_t dropped = 0;
  int64_t body_start = 0;
};
// Reads the notice at the start of `blob`, if any ({0, 0} without one).
AttemptLogLayout ParseAttemptLog(absl::string_view blob);

}  // namespace kiln

#endif  // KILN_COMMON_ATTEMPT_LOG_H_
