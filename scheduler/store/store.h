// Store: the scheduler's RocksDB database, the one place rocksdb:: types and
// statuses appear. Every Write is applied atomically with a synced WAL before it
// returns, so what the scheduler acknowledges survives kill -9 and power loss.
// Thread-safe: RocksDB serializes writers and grouping of concurrent writers is
// done by GroupCommitter on top.
#ifndef KILN_SCHEDULER_STORE_STORE_H_
#define KILN_SCHEDULER_STORE_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/store.pb.h"
#include "kiln/v1/worker.pb.h"
#include "scheduler/store/write_set.h"

namespace kiln::store {

struct StoreOptions {
  // Directory of the RocksDB database; created if missing.
  std::string path;
  // fsync the WAL on every write (off only in benchmarks that say so).
  bool sync = true;
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies all operations atomically (one RocksDB WriteBatch). Unavailable on I/O
  // errors (disk full and the like): nothing of the set is applied then.
  absl::Status Write(const WriteSet& writes);

  // After a failed write RocksDB refuses writes until resumed (e.g. once disk
  // space is back). Unavailable while the cause persists.
  absl::Status Resume();

  // Point reads; nullopt when absent.
  absl::StatusOr<std::optional<kiln::v1::Job>> GetJob(const std::string& job_id) const;
  // The job's record as stored (a serialized kiln.v1.Job), unparsed.
  absl::StatusOr<std::optional<std::string>> GetJobRecord(const std::string& job_id) const;
  absl::StatusOr<std::optional<std::string>> GetRequestJobId(const std::string& request_id) const;
  absl::StatusOr<std::optional<kiln::v1::StoredBlob>> GetBlob(const std::string& sha256) const;
  absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key) const;

  // Full scans, for start-up recovery. The callback returns false to stop.
  absl::Status ForEachQueued(const std::function<bool(const std::string& job_id)>& fn) const;
  // Jobs WAITING for their dependencies.
  absl::Status ForEachWaiting(const std::function<bool(const std::string& job_id)>& fn) const;
  absl::Status ForEachLease(const std::function<bool(const kiln::v1::StoredLease&)>& fn) const;
  absl::Status ForEachWorker(const std::function<bool(const kiln::v1::WorkerInfo&)>& fn) const;

  // Jobs in descending id order (newest first, as ids grow with time), starting
  // strictly before `before_id` (empty: from the newest). Stops when fn returns false.
  absl::Status ForEachJobNewestFirst(const std::string& before_id,
                                     const std::function<bool(const kiln::v1::Job&)>& fn) const;

  // While set to an error, every Write fails with it (as a full disk would).
  void InjectWriteErrorForTest(absl::Status error);

  // Deletes every record of every family, so a fuzzer can reuse one open store (opening
  // one costs far more than a test input does).
  absl::Status ClearForTest();

  // Approximate size in bytes of the jobs' SST files, for metrics.
  uint64_t ApproximateSizeBytes() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::store

#endif  // KILN_SCHEDULER_STORE_STORE_H_
