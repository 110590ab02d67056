#include "scheduler/store/write_set.h"

namespace kiln::store {

void WriteSet::Add(Family family, absl::string_view key, std::string value, bool is_delete) {
  bytes_ += key.size() + value.size();
  ops_.push_back(Op{family, std::string(key), std::move(value), is_delete});
}

void WriteSet::PutJob(const kiln::v1::Job& job) {
  Add(Family::kJobs, job.id(), job.SerializeAsString(), false);
}

void WriteSet::MarkQueued(absl::string_view job_id) { Add(Family::kQueue, job_id, "", false); }

void WriteSet::UnmarkQueued(absl::string_view job_id) { Add(Family::kQueue, job_id, "", true); }

void WriteSet::MarkWaiting(absl::string_view job_id) { Add(Family::kWaiting, job_id, "", false); }

void WriteSet::UnmarkWaiting(absl::string_view job_id) { Add(Family::kWaiting, job_id, "", true); }

void WriteSet::PutLease(const kiln::v1::StoredLease& lease) {
  Add(Family::kLeases, lease.job_id(), lease.SerializeAsString(), false);
}

void WriteSet::DeleteLease(absl::string_view job_id) { Add(Family::kLeases, job_id, "", true); }

void WriteSet::PutWorker(const kiln::v1::WorkerInfo& worker) {
  Add(Family::kWorkers, worker.id(), worker.SerializeAsString(), false);
}

void WriteSet::PutBlob(const kiln::v1::StoredBlob& blob) {
  Add(Family::kBlobs, blob.sha256(), blob.SerializeAsString(), false);
}

void WriteSet::PutRequestId(absl::string_view request_id, absl::string_view job_id) {
  Add(Family::kRequests, request_id, std::string(job_id), false);
}

void WriteSet::PutMeta(absl::string_view key, absl::string_view value) {
  Add(Family::kDefault, key, std::string(value), false);
}

void WriteSet::PutRawForTest(Family family, absl::string_view key, absl::string_view value) {
  Add(family, key, std::string(value), false);
}

void WriteSet::Append(WriteSet&& other) {
  bytes_ += other.bytes_;
  ops_.insert(ops_.end(), std::make_move_iterator(other.ops_.begin()),
              std::make_move_iterator(other.ops_.end()));
  other.ops_.clear();
  other.bytes_ = 0;
}

}  // namespace kiln::store
