#include "scheduler/store/blob_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace kiln::store {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::UnavailableError(message);
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoError("open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync", dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBlobHeader(const kiln::v1::BlobHeader& header, int64_t max_blob_bytes) {
  if (header.size_bytes() < 0) {
    return absl::InvalidArgumentError("header.size_bytes: must not be negative");
  }
  if (header.size_bytes() > max_blob_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("header.size_bytes: ", header.size_bytes(),
                                                     " exceeds the blob size limit of ",
                                                     max_blob_bytes, " bytes"));
  }
  if (!header.sha256().empty() && !IsSha256Hex(header.sha256())) {
    return absl::InvalidArgumentError("header.sha256: must be 64 lower-case hex digits");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Create(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(fs::path(dir) / "tmp", ec);  // Uploads a crash interrupted.
  fs::create_directories(fs::path(dir) / "tmp", ec);
  if (ec) return absl::UnavailableError(absl::StrCat("create ", dir, ": ", ec.message()));
  return std::unique_ptr<BlobStore>(new BlobStore(dir));
}

std::string BlobStore::PathFor(absl::string_view sha256) const {
  return absl::StrCat(dir_, "/", sha256.substr(0, 2), "/", sha256);
}

absl::StatusOr<std::unique_ptr<BlobStore::Writer>> BlobStore::NewWriter(int64_t max_bytes) const {
  static std::atomic<uint64_t> counter{0};
  std::string path = absl::StrCat(dir_, "/tmp/upload-", ::getpid(), "-", counter.fetch_add(1));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create", path);
  return std::unique_ptr<Writer>(new Writer(this, std::move(path), fd, max_bytes));
}

BlobStore::Writer::Writer(const BlobStore* owner, std::string temp_path, int fd, int64_t max_bytes)
    : owner_(owner), temp_path_(std::move(temp_path)), fd_(fd), max_bytes_(max_bytes) {}

BlobStore::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(temp_path_.c_str());
}

absl::Status BlobStore::Writer::Append(absl::string_view data) {
  if (written_ + static_cast<int64_t>(data.size()) > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("blob exceeds the size limit of ", max_bytes_, " bytes"));
  }
  hasher_.Update(data);
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", temp_path_);
    }
    data.remove_prefix(static_cast<size_t>(n));
    written_ += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<kiln::v1::StoredBlob> BlobStore::Writer::Finish(int64_t expected_size,
                                                               absl::string_view expected_sha256) {
  if (expected_size >= 0 && expected_size != written_) {
    return absl::InvalidArgumentError(absl::StrCat("header.size_bytes: announced ", expected_size,
                                                   " bytes but received ", written_));
  }
  std::string sha = hasher_.FinishHex();
  if (!expected_sha256.empty() && expected_sha256 != sha) {
    return absl::InvalidArgumentError(
        absl::StrCat("header.sha256: announced ", expected_sha256, " but content hashes to ", sha));
  }
  if (::fsync(fd_) != 0) return ErrnoError("fsync", temp_path_);
  ::close(fd_);
  fd_ = -1;
  std::string final_path = owner_->PathFor(sha);
  std::string dir = final_path.substr(0, final_path.rfind('/'));
  std::error_code ec;
  const bool new_dir = fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("create ", dir, ": ", ec.message()));
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
    return ErrnoError("rename", final_path);
  }
  finished_ = true;
  KILN_RETURN_IF_ERROR(SyncDir(dir));
  // A new prefix directory must itself be durable, or a crash could lose it.
  if (new_dir) KILN_RETURN_IF_ERROR(SyncDir(owner_->dir_));
  kiln::v1::StoredBlob blob;
  blob.set_sha256(sha);
  blob.set_size_bytes(written_);
  *blob.mutable_created_at() = ToProtoTime(Clock::Real()->Now());
  return blob;
}

}  // namespace kiln::store
