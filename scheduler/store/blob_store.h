// BlobStore: the bytes of content-addressed blobs, as files under
// <dir>/<first two hex digits>/<sha256>. Metadata (size, time) lives in the
// Store's blobs family and is written by the caller once Finish returned, so a
// blob is visible only when its bytes are durable. Uploads stream into
// <dir>/tmp/ and are renamed into place after an fsync; a crash leaves only
// temp files, which Create removes.
// Thread-safety: BlobStore is thread-safe; each Writer belongs to one stream.
#ifndef KILN_SCHEDULER_STORE_BLOB_STORE_H_
#define KILN_SCHEDULER_STORE_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "kiln/v1/job_service.pb.h"
#include "kiln/v1/store.pb.h"

namespace kiln::store {

// The checks of an upload's header before any byte is stored (JobService.PutBlob runs
// them on the first message): InvalidArgument, or ResourceExhausted past
// `max_blob_bytes`, with a message that starts with the field.
absl::Status ValidateBlobHeader(const kiln::v1::BlobHeader& header, int64_t max_blob_bytes);

class BlobStore {
 public:
  // Writes one upload; the temp file is removed unless Finish succeeds.
  class Writer {
   public:
    ~Writer();
    // ResourceExhausted once the data passes max_bytes.
    absl::Status Append(absl::string_view data);
    // Checks size and (when given) sha256, syncs and moves the file into place.
    absl::StatusOr<kiln::v1::StoredBlob> Finish(int64_t expected_size,
                                                absl::string_view expected_sha256);
    int64_t bytes_written() const { return written_; }

   private:
    friend class BlobStore;
    Writer(const BlobStore* owner, std::string temp_path, int fd, int64_t max_bytes);
    const BlobStore* owner_;
    std::string temp_path_;
    int fd_;
    int64_t max_bytes_;
    int64_t written_ = 0;
    Sha256 hasher_;
    bool finished_ = false;
  };

  static absl::StatusOr<std::unique_ptr<BlobStore>> Create(const std::string& dir);

  absl::StatusOr<std::unique_ptr<Writer>> NewWriter(int64_t max_bytes) const;
  // Where the bytes of `sha256` are (whether or not they exist).
  std::string PathFor(absl::string_view sha256) const;

 private:
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace kiln::store

#endif  // KILN_SCHEDULER_STORE_BLOB_STORE_H_
