#include "common/log.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json_quote.h"

namespace kiln {
namespace {

constexpr char kFormatEnv[] = "KILN_LOG_FORMAT";
// -1: not decided yet (read KILN_LOG_FORMAT on first use).
std::atomic<int> g_format{-1};

void WriteAll(const std::string& text) {
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

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text, absl::string_view flag) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": \"", text.substr(0, 32), "\" is not a log format (text or json)"));
}

void SetLogFormat(LogFormat format) {
  g_format.store(static_cast<int>(format), std::memory_order_relaxed);
  ::setenv(kFormatEnv, format == LogFormat::kJson ? "json" : "text", /*overwrite=*/1);
}

LogFormat GetLogFormat() {
  int format = g_format.load(std::memory_order_relaxed);
  if (format < 0) {
    const char* env = std::getenv(kFormatEnv);
    format = static_cast<int>(env != nullptr && std::strcmp(env, "json") == 0 ? LogFormat::kJson
                                                                              : LogFormat::kText);
    g_format.store(format, std::memory_order_relaxed);
  }
  return static_cast<LogFormat>(format);
}

}  // namespace kiln

namespace kiln::log_internal {

LogLine::LogLine(Severity severity, const char* file, int line)
    : severity_(severity), file_(file), line_(line), json_(GetLogFormat() == LogFormat::kJson) {
  if (json_) return;  // The message is collected alone and wrapped at the end.
  const char letter = severity == Severity::kInfo      ? 'I'
                      : severity == Severity::kWarning ? 'W'
                                                       : 'E';
  const char* base = std::strrchr(file, '/');
  stream_ << letter << absl::FormatTime("%m%d %H:%M:%E6S", absl::Now(), absl::LocalTimeZone())
          << ' ' << static_cast<long>(syscall(SYS_gettid)) << ' ' << (base ? base + 1 : file) << ':'
          << line << "] ";
}

LogLine::~LogLine() {
  if (!json_) {
    stream_ << '\n';
    WriteAll(stream_.str());
    return;
  }
  const char* level = severity_ == Severity::kInfo      ? "INFO"
                      : severity_ == Severity::kWarning ? "WARNING"
                                                        : "ERROR";
  const char* base = std::strrchr(file_, '/');
  std::string message = stream_.str();
  while (!message.empty() && message.back() == '\n') message.pop_back();
  std::string out = absl::StrCat(
      "{\"ts\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", level, "\",\"process\":", JsonQuote(program_invocation_short_name),
      ",\"pid\":", static_cast<long>(::getpid()),
      ",\"tid\":", static_cast<long>(syscall(SYS_gettid)),
      ",\"src\":", JsonQuote(absl::StrCat(base ? base + 1 : file_, ":", line_)),
      ",\"msg\":", JsonQuote(message), "}\n");
  WriteAll(out);
}

}  // namespace kiln::log_internal
