// KILN_LOG(INFO|WARNING|ERROR) << ...: a minimal line logger for Kiln's processes
// executor (Debian's Abseil 20220623 has no absl/log). Each line goes to stderr with one
// write(2), so lines from concurrent threads never interleave. Any thread may log.
// Format (glog-like): "I0612 14:03:07.123456 4711 worker_agent.cc:88] message".
#ifndef KILN_COMMON_LOG_H_
#define KILN_COMMON_LOG_H_

#include <sstream>

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
  std::ostringstream stream_;
};

}  // namespace kiln::log_internal

#define KILN_LOG(severity) \
  ::kiln::log_internal::LogLine(::kiln::log_internal::kLog##severity, __FILE__, __LINE__).stream()

#endif  // KILN_COMMON_LOG_H_
