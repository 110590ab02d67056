#include "scheduler/store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/write_batch.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"

namespace kiln::store {
namespace {

constexpr const char* kFamilyNames[] = {"default", "jobs",  "queue",    "leases",
                                        "workers", "blobs", "requests", "waiting"};
static_assert(sizeof(kFamilyNames) / sizeof(kFamilyNames[0]) ==
              static_cast<size_t>(Family::kCount));

// rocksdb::Status -> absl::Status: the only translation point.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  // I/O errors, no space, busy: the caller may retry once the condition clears.
  return absl::UnavailableError(message);
}

// RocksDB's own log, sent to the process's log (warnings and worse; text or JSON lines
// like every other line) instead of the LOG file in the data dir. On a full disk that file's writer
// fails once, and the next line logged (the error handler reporting the failed write) aborts the
// process in RocksDB 7.8 as Debian builds it (assert in WritableFileWriter): the scheduler died
// instead of answering UNAVAILABLE. Found by tests/chaos/disk_full_test.cc.
class ProcessLogger : public rocksdb::Logger {
 public:
  ProcessLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      KILN_LOG(ERROR) << "rocksdb: " << line;
    } else {
      KILN_LOG(WARNING) << "rocksdb: " << line;
    }
  }
};

// Leaves recovery from a background error (a full disk) to Store::Resume, which the
// scheduler's tick calls. RocksDB's own recovery waits until a whole write buffer's
// worth of space (64 MiB) is free and answers Resume() with Busy meanwhile, so on a
// small or nearly full disk the scheduler stayed UNAVAILABLE after space returned.
class ManualRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status bg_error,
                            bool* auto_recovery) override {
    bg_error.PermitUncheckedError();
    *auto_recovery = false;
  }
};

template <typename Proto>
absl::StatusOr<Proto> Parse(const rocksdb::Slice& value, absl::string_view what) {
  Proto proto;
  if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("corrupt record in ", what));
  }
  return proto;
}

}  // namespace

struct Store::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  bool sync = true;
  absl::Mutex mu;
  absl::Status injected_error ABSL_GUARDED_BY(mu);

  rocksdb::ColumnFamilyHandle* cf(Family f) const { return families[static_cast<size_t>(f)]; }

  absl::StatusOr<std::optional<std::string>> Get(Family f, const std::string& key) const {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf(f), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "read");
    return value;
  }

  ~Impl() {
    for (auto* handle : families) {
      if (handle != nullptr) db->DestroyColumnFamilyHandle(handle);
    }
    if (db) db->Close().PermitUncheckedError();
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("store path is empty");
  // RocksDB would create it too, but the file deletion scheduler (below) reads it first
  // and logs an error for a missing one on every fresh start.
  std::error_code mkdir_error;
  std::filesystem::create_directories(options.path, mkdir_error);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // A few background threads: the scheduler shares two cores with its workers.
  db_options.IncreaseParallelism(2);
  db_options.max_total_wal_size = 64 << 20;
  db_options.info_log = std::make_shared<ProcessLogger>();
  // Obsolete files (a whole WAL of up to 64 MiB after each flush, compacted tables) are
  // truncated 1 MiB at a time by a background thread instead of unlinked at once. On ext4
  // mounted with `discard` (cloud disks, this machine) an unlink trims every block in the
  // next journal commit, and the commit that the WAL's fdatasync waits for took ~20 ms
  // for a 64 MiB file, so every commit in flight did too (bench/README.md). 64 MiB/s
  // keeps the trash well ahead of the WAL, which grows ~4 MB/s at 3,700 jobs/s; the high
  // ratio keeps deletions in the background even while the tables are small.
  {
    rocksdb::Status status;
    db_options.sst_file_manager.reset(rocksdb::NewSstFileManager(
        rocksdb::Env::Default(), db_options.info_log, /*trash_dir=*/"",
        /*rate_bytes_per_sec=*/64 << 20, /*delete_existing_trash=*/true, &status,
        /*max_trash_db_ratio=*/1000, /*bytes_max_delete_chunk=*/1 << 20));
    if (!status.ok()) return FromRocks(status, "file deletion scheduler");
  }
  db_options.listeners.push_back(std::make_shared<ManualRecovery>());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < static_cast<size_t>(Family::kCount); ++i) {
    const auto family = static_cast<Family>(i);
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.OptimizeForPointLookup(64);
    // The memtable bloom filter (OptimizeForPointLookup: 2% of the write buffer, 1.3 MB)
    // is zeroed whenever a memtable is created, and the writing thread creates one for
    // every family at once when the WAL reaches its limit: 35 ms of page faults that every
    // commit in flight waited for (bench/README.md). Kept, at a quarter of that (about 10
    // bits a key), only where point reads go: jobs by id (restart reads every queued one),
    // client request ids (idempotent submits), blob metadata (uploads and grants).
    const bool point_reads =
        family == Family::kJobs || family == Family::kRequests || family == Family::kBlobs;
    cf_options.memtable_prefix_bloom_size_ratio = point_reads ? 0.005 : 0;
    descriptors.emplace_back(kFamilyNames[i], cf_options);
  }
  auto impl = std::make_unique<Impl>();
  impl->sync = options.sync;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path, descriptors, &impl->families, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open ", options.path));
  impl->db.reset(db);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

void Store::InjectWriteErrorForTest(absl::Status error) {
  absl::MutexLock lock(&impl_->mu);
  impl_->injected_error = std::move(error);
}

absl::Status Store::Write(const WriteSet& writes) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (!impl_->injected_error.ok()) return impl_->injected_error;
  }
  if (writes.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch(writes.ByteSize() + 64 * writes.ops().size());
  for (const WriteSet::Op& op : writes.ops()) {
    rocksdb::Status s = op.is_delete ? batch.Delete(impl_->cf(op.family), op.key)
                                     : batch.Put(impl_->cf(op.family), op.key, op.value);
    if (!s.ok()) return FromRocks(s, "batch");
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = impl_->sync;
  return FromRocks(impl_->db->Write(write_options, &batch), "write");
}

absl::Status Store::ClearForTest() {
  rocksdb::WriteBatch batch;
  for (rocksdb::ColumnFamilyHandle* family : impl_->families) {
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), family));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (rocksdb::Status s = batch.Delete(family, it->key()); !s.ok())
        return FromRocks(s, "batch");
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan");
  }
  return FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch), "clear");
}

absl::Status Store::Resume() { return FromRocks(impl_->db->Resume(), "resume"); }

absl::StatusOr<std::optional<kiln::v1::Job>> Store::GetJob(const std::string& job_id) const {
  auto value = impl_->Get(Family::kJobs, job_id);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  auto job = Parse<kiln::v1::Job>(**value, "jobs");
  if (!job.ok()) return job.status();
  return *std::move(job);
}

absl::StatusOr<std::optional<std::string>> Store::GetJobRecord(const std::string& job_id) const {
  return impl_->Get(Family::kJobs, job_id);
}

absl::StatusOr<std::optional<std::string>> Store::GetRequestJobId(
    const std::string& request_id) const {
  return impl_->Get(Family::kRequests, request_id);
}

absl::StatusOr<std::optional<kiln::v1::StoredBlob>> Store::GetBlob(
    const std::string& sha256) const {
  auto value = impl_->Get(Family::kBlobs, sha256);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  auto blob = Parse<kiln::v1::StoredBlob>(**value, "blobs");
  if (!blob.ok()) return blob.status();
  return *std::move(blob);
}

absl::StatusOr<std::optional<std::string>> Store::GetMeta(const std::string& key) const {
  return impl_->Get(Family::kDefault, key);
}

namespace {

template <typename Fn>
absl::Status Scan(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, Fn&& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<bool> more = fn(it->key(), it->value());
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return FromRocks(it->status(), "scan");
}

}  // namespace

absl::Status Store::ForEachQueued(const std::function<bool(const std::string&)>& fn) const {
  return Scan(impl_->db.get(), impl_->cf(Family::kQueue),
              [&](const rocksdb::Slice& key, const rocksdb::Slice&) -> absl::StatusOr<bool> {
                return fn(key.ToString());
              });
}

absl::Status Store::ForEachWaiting(const std::function<bool(const std::string&)>& fn) const {
  return Scan(impl_->db.get(), impl_->cf(Family::kWaiting),
              [&](const rocksdb::Slice& key, const rocksdb::Slice&) -> absl::StatusOr<bool> {
                return fn(key.ToString());
              });
}

absl::Status Store::ForEachLease(
    const std::function<bool(const kiln::v1::StoredLease&)>& fn) const {
  return Scan(impl_->db.get(), impl_->cf(Family::kLeases),
              [&](const rocksdb::Slice&, const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                auto lease = Parse<kiln::v1::StoredLease>(value, "leases");
                if (!lease.ok()) return lease.status();
                return fn(*lease);
              });
}

absl::Status Store::ForEachWorker(
    const std::function<bool(const kiln::v1::WorkerInfo&)>& fn) const {
  return Scan(impl_->db.get(), impl_->cf(Family::kWorkers),
              [&](const rocksdb::Slice&, const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                auto worker = Parse<kiln::v1::WorkerInfo>(value, "workers");
                if (!worker.ok()) return worker.status();
                return fn(*worker);
              });
}

absl::Status Store::ForEachJobNewestFirst(
    const std::string& before_id, const std::function<bool(const kiln::v1::Job&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(Family::kJobs)));
  if (before_id.empty()) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(before_id);
    if (it->Valid() && it->key() == rocksdb::Slice(before_id)) it->Prev();
  }
  for (; it->Valid(); it->Prev()) {
    auto job = Parse<kiln::v1::Job>(it->value(), "jobs");
    if (!job.ok()) return job.status();
    if (!fn(*job)) break;
  }
  return FromRocks(it->status(), "scan jobs");
}

uint64_t Store::ApproximateSizeBytes() const {
  uint64_t sst = 0;
  impl_->db->GetIntProperty(impl_->cf(Family::kJobs), rocksdb::DB::Properties::kTotalSstFilesSize,
                            &sst);
  return sst;
}

}  // namespace kiln::store
