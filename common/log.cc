#include "common/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kiln::log_internal {

LogLine::LogLine(Severity severity, const char* file, int line) {
  const char letter = severity == Severity::kInfo      ? 'I'
                      : severity == Severity::kWarning ? 'W'
                                                       : 'E';
  const char* base = std::strrchr(file, '/');
  stream_ << letter << absl::FormatTime("%m%d %H:%M:%E6S", absl::Now(), absl::LocalTimeZone())
          << ' ' << static_cast<long>(syscall(SYS_gettid)) << ' ' << (base ? base + 1 : file) << ':'
          << line << "] ";
}

LogLine::~LogLine() {
  stream_ << '\n';
  const std::string text = stream_.str();
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // Nowhere to report a broken stderr.
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace kiln::log_internal
