// KILN_LOG(INFO|WARNING|ERROR) << ...: a minimal line logger for Kiln's processes
// executor (Debian's Abseil 20220623 has no absl/log). Each line goes to stderr with one
// write(2), so lines from concurrent threads never interleave. Any thread may log.
//
// Two formats, chosen per process (SetLogFormat, or the KILN_LOG_FORMAT environment
// variable, which SetLogFormat also sets so that child processes such as kiln-exec
// inherit the choice):
//   text (default, glog-like): "I0612 14:03:07.123456 4711 worker_agent.cc:88] message"
//   json (one object per line, for log shippers):
//     {"ts":"2026-06-12T14:03:07.123456Z","level":"INFO","process":"kiln-worker",
//      "pid":4700,"tid":4711,"src":"worker_agent.cc:88","msg":"message"}
#ifndef KILN_COMMON_LOG_H_
#define KILN_COMMON_LOG_H_

#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

enum class LogFormat { kText, kJson };

// "text" or "json"; InvalidArgument naming `flag` otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text,
                                         absl::string_view flag = "--log-format");
// Sets this process's format and exports KILN_LOG_FORMAT for the children started
// afterwards. Call early in main (it is not synchronized with concurrent setenv).
void SetLogFormat(LogFormat format);
// The current format: as set, else from KILN_LOG_FORMAT, else text.
LogFormat GetLogFormat();

}  // namespace kiln

namespace kiln::log_internal {

enum class Severity { kInfo, kWarning, kError };
inline constexpr Severity kLogINFO = Severity::kInfo;
inline constexpr Severity kLogWARNING = Severity::kWarning;
inline constexpr Severity kLogERROR = Severity::kError;

// One log line; written when destroyed (at the end of the full expression).
class LogLine {
 public:
  LogLine(Severity severity, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  Severity severity_;
  const char* file_;
  int line_;
  bool json_;
  std::ostringstream stream_;
};

}  // namespace kiln::log_internal

#define KILN_LOG(severity) \
  ::kiln::log_internal::LogLine(::kiln::log_internal::kLog##severity, __FILE__, __LINE__).stream()

#endif  // KILN_COMMON_LOG_H_
