#include "worker/agent/attempt_log_capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/attempt_log.h"

namespace kiln::agent {
namespace {

// Reads up to `length` bytes at `position` of `path`; fewer when the file is shorter.
std::string ReadRange(const std::string& path, int64_t position, int64_t length) {
  std::string out;
  if (length <= 0) return out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  out.resize(static_cast<size_t>(length));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got,
                              static_cast<off_t>(position + static_cast<int64_t>(got)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace

AttemptLogCapture::AttemptLogCapture(std::string log_path) : log_path_(std::move(log_path)) {
  start_ = FileSize();
}

int64_t AttemptLogCapture::FileSize() const {
  struct stat st {};
  if (log_path_.empty() || ::stat(log_path_.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_size);
}

int64_t AttemptLogCapture::Size() const {
  // A file that shrank (someone truncated it) has nothing of this attempt left.
  return std::max<int64_t>(0, FileSize() - start_);
}

AttemptLogCapture::Chunk AttemptLogCapture::Next(int64_t max_bytes, int64_t skip_after) {
  Chunk chunk;
  const int64_t size = Size();
  if (size - sent_ > skip_after) sent_ = std::max(sent_, size - max_bytes);
  chunk.offset = sent_;
  chunk.bytes = ReadRange(log_path_, start_ + sent_, std::min(max_bytes, size - sent_));
  sent_ += static_cast<int64_t>(chunk.bytes.size());
  return chunk;
}

absl::StatusOr<int64_t> AttemptLogCapture::WriteLog(const std::string& out_path,
                                                    int64_t max_bytes) const {
  const int64_t size = Size();
  const int64_t kept = std::min(size, max_bytes);
  std::string content;
  if (kept < size) content = AttemptLogCutNotice(size - kept, kept);
  content += ReadRange(log_path_, start_ + size - kept, kept);
  const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", out_path, ": ", strerror(errno)));
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = strerror(errno);
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("cannot write ", out_path, ": ", why));
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  return size;
}

}  // namespace kiln::agent
