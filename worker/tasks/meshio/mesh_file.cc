#include "worker/tasks/meshio/mesh_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "worker/tasks/meshio/mesh_checks.h"

namespace kiln::tasks {
namespace {

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> ReadMeshFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::UnavailableError(absl::StrCat(path, ": cannot read"));
  if (static_cast<uint64_t>(size) > kMaxMeshFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", size, " bytes exceeds the limit of ",
                                                   kMaxMeshFileBytes, " for a mesh file"));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot read"));
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  std::string temp = absl::StrCat(path, ".tmp-", getpid());
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) return IoError("cannot create", temp);
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, std::move(temp), file));
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string temp, FILE* file)
    : path_(std::move(path)), temp_(std::move(temp)), file_(file) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(temp_.c_str());
}

absl::Status AtomicFileWriter::Append(absl::string_view bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(temp_, ": closed"));
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return IoError("cannot write", temp_);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(temp_, ": closed"));
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) return IoError("cannot write", temp_);
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    return IoError(absl::StrCat("cannot rename ", temp_, " to"), path_);
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace kiln::tasks
