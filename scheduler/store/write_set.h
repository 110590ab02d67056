// WriteSet: the changes of one scheduler decision (a submit, an assignment, a
// completion), applied atomically by Store::Write or GroupCommitter::Commit.
// A plain value type that keeps RocksDB out of core/: core fills it, store applies it.
// Not thread-safe; owned by whoever builds it.
#ifndef KILN_SCHEDULER_STORE_WRITE_SET_H_
#define KILN_SCHEDULER_STORE_WRITE_SET_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/store.pb.h"
#include "kiln/v1/worker.pb.h"

namespace kiln::store {

// The column families of the store.
enum class Family {
  kDefault = 0,  // meta: counters such as the next job sequence number
  kJobs,         // job id -> kiln.v1.Job
  kQueue,        // job id -> "" for every QUEUED job (restart rebuilds from it)
  kLeases,       // job id -> kiln.v1.StoredLease for every ASSIGNED/RUNNING job
  kWorkers,      // worker id -> kiln.v1.WorkerInfo
  kBlobs,        // sha256 -> kiln.v1.StoredBlob
  kRequests,     // client request id -> job id (idempotent submits)
  kWaiting,      // job id -> "" for every WAITING job (dependencies not finished)
  kCount,
};

class WriteSet {
 public:
  struct Op {
    Family family;
    std::string key;
    std::string value;  // serialized; unused for deletes
    bool is_delete = false;
  };

  void PutJob(const kiln::v1::Job& job);
  void MarkQueued(absl::string_view job_id);
  void UnmarkQueued(absl::string_view job_id);
  void MarkWaiting(absl::string_view job_id);
  void UnmarkWaiting(absl::string_view job_id);
  void PutLease(const kiln::v1::StoredLease& lease);
  void DeleteLease(absl::string_view job_id);
  void PutWorker(const kiln::v1::WorkerInfo& worker);
  void PutBlob(const kiln::v1::StoredBlob& blob);
  void PutRequestId(absl::string_view request_id, absl::string_view job_id);
  void PutMeta(absl::string_view key, absl::string_view value);

  // Any bytes under any key of any family, which the typed writes above never produce
  // (corrupt records, keys that are not ids): for tests and fuzzers of the readers.
  void PutRawForTest(Family family, absl::string_view key, absl::string_view value);

  // Appends all of `other`'s operations after this set's.
  void Append(WriteSet&& other);

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t ByteSize() const { return bytes_; }

 private:
  void Add(Family family, absl::string_view key, std::string value, bool is_delete);

  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

}  // namespace kiln::store

#endif  // KILN_SCHEDULER_STORE_WRITE_SET_H_
