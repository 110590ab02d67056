#include "client/blob_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/grpc_status.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "grpcpp/support/sync_stream.h"

namespace kiln {
namespace {

// Owns a file descriptor.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  const int fd_;
};

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads `want` bytes; fewer only at the end of the file.
absl::StatusOr<int64_t> ReadUpTo(int fd, char* buffer, int64_t want, const std::string& path) {
  int64_t got = 0;
  while (got < want) {
    const ssize_t n = ::read(fd, buffer + got, static_cast<size_t>(want - got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    got += n;
  }
  return got;
}

}  // namespace

absl::Status DownloadBlobToFile(v1::JobService::StubInterface& stub, grpc::ClientContext& context,
                                absl::string_view address, const std::string& sha256,
                                const std::string& path) {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError(absl::StrCat("not a sha256 blob address: \"", sha256, "\""));
  }
  // O_EXCL with a random name instead of mkstemp: mkstemp makes the file 0600, and fixing
  // the mode afterwards would need the process-wide umask.
  absl::BitGen gen;
  const std::string temp = absl::StrFormat("%s.kiln-tmp-%016x", path, absl::Uniform<uint64_t>(gen));
  const ScopedFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", temp));
  // Only a verified blob is renamed into place; on every other path the temp file goes.
  absl::Cleanup remove_temp = [&temp] { ::unlink(temp.c_str()); };

  v1::GetBlobRequest request;
  request.set_sha256(sha256);
  std::unique_ptr<grpc::ClientReaderInterface<v1::GetBlobResponse>> reader =
      stub.GetBlob(&context, request);
  Sha256 hasher;
  v1::GetBlobResponse response;
  int64_t expected_size = -1;  // The first message carries the blob's size.
  int64_t received = 0;
  absl::Status local;  // A local write error; the stream is cancelled and this wins.
  while (reader->Read(&response)) {
    if (expected_size < 0) expected_size = response.size_bytes();
    hasher.Update(response.data());
    received += static_cast<int64_t>(response.data().size());
    local = WriteAll(fd.get(), response.data(), temp);
    if (!local.ok()) {
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  KILN_RETURN_IF_ERROR(local);
  KILN_RETURN_IF_ERROR(FromGrpcStatus(status, "GetBlob", address));
  if (expected_size >= 0 && received != expected_size) {
    return absl::DataLossError(
        absl::StrCat("blob ", sha256, ": received ", received, " bytes, expected ", expected_size));
  }
  const std::string actual = hasher.FinishHex();
  if (actual != sha256) {
    return absl::DataLossError(
        absl::StrCat("blob ", sha256, " arrived corrupted (its sha256 is ", actual, ")"));
  }
  if (::fsync(fd.get()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", temp));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", temp, " to ", path));
  }
  std::move(remove_temp).Cancel();
  return absl::OkStatus();
}

absl::StatusOr<v1::BlobRef> UploadFileAsBlob(v1::JobService::StubInterface& stub,
                                             grpc::ClientContext& context,
                                             absl::string_view address, const std::string& path,
                                             const std::string& name) {
  const ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot upload ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot upload ", path, ": not a regular file"));
  }
  v1::BlobRef ref;
  ref.set_name(name);
  ref.set_size_bytes(static_cast<int64_t>(st.st_size));
  KILN_ASSIGN_OR_RETURN(*ref.mutable_sha256(), Sha256OfFile(path));

  v1::PutBlobResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<v1::PutBlobRequest>> writer =
      stub.PutBlob(&context, &response);
  v1::PutBlobRequest request;
  request.mutable_header()->set_size_bytes(ref.size_bytes());
  request.mutable_header()->set_sha256(ref.sha256());
  std::string buffer(kBlobChunkBytes, '\0');
  absl::Status local;  // A local read error; the stream is cancelled and this wins.
  int64_t sent = 0;
  do {  // An empty file still sends one message: the header.
    const int64_t want = std::min(kBlobChunkBytes, ref.size_bytes() - sent);
    absl::StatusOr<int64_t> got = ReadUpTo(fd.get(), buffer.data(), want, path);
    if (!got.ok() || *got != want) {
      local = got.ok() ? absl::DataLossError(absl::StrCat(path, " shrank while it was uploaded"))
                       : got.status();
      context.TryCancel();
      break;
    }
    request.set_data(buffer.data(), static_cast<size_t>(want));
    // A failed write means the stream broke; Finish() says why.
    if (!writer->Write(request)) break;
    request.clear_header();
    sent += want;
  } while (sent < ref.size_bytes());
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  KILN_RETURN_IF_ERROR(local);
  KILN_RETURN_IF_ERROR(FromGrpcStatus(status, "PutBlob", address));
  if (response.sha256() != ref.sha256() || response.size_bytes() != ref.size_bytes()) {
    return absl::DataLossError(absl::StrCat(
        "scheduler stored ", path, " as blob ", response.sha256(), " (", response.size_bytes(),
        " bytes), expected ", ref.sha256(), " (", ref.size_bytes(), " bytes)"));
  }
  return ref;
}

}  // namespace kiln
