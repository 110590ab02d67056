// File plumbing shared by the mesh readers and writers: a bounded whole-file read, and a
// writer that makes a file appear complete or not at all. Not thread-safe per object.
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_FILE_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_FILE_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::tasks {

// The whole file. NotFound when it cannot be opened, InvalidArgument when it is larger
// than kMaxMeshFileBytes (mesh_checks.h), Unavailable on a read error.
absl::StatusOr<std::string> ReadMeshFile(const std::string& path);

// Writes to "<path>.tmp-<pid>" and renames it to `path` on Commit(); a writer destroyed
// without Commit() (or after an error) removes the temporary file. Errors are
// Unavailable naming the file and errno's text.
class AtomicFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Append(absl::string_view bytes);
  absl::Status Commit();

 private:
  AtomicFileWriter(std::string path, std::string temp, FILE* file);

  std::string path_;
  std::string temp_;
  FILE* file_;
  bool committed_ = false;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_FILE_H_
