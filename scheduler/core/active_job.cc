#include "scheduler/core/active_job.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/proto_time.h"

namespace kiln::core {
namespace {

absl::Time ReadyAtOf(const kiln::v1::Job& job) {
  return FromProtoTime(job.has_not_before() ? job.not_before() : job.created_at());
}

// The record was serialized here or parsed once already: it cannot fail to parse, and
// going on with an empty job would corrupt the store at the next write.
void ParseRecordOrDie(const std::string& record, kiln::v1::Job* job) {
  if (job->ParseFromString(record)) return;
  std::fprintf(stderr, "kiln-scheduler: a packed job no longer parses (%zu bytes)\n",
               record.size());
  std::abort();
}

}  // namespace

kiln::v1::Job& ActiveJob::job() {
  Unpack();
  return *job_;
}

const kiln::v1::Job& ActiveJob::job() const {
  Unpack();
  return *job_;
}

kiln::v1::Job ActiveJob::Copy() const {
  if (!packed()) return *job_;
  kiln::v1::Job copy;
  ParseRecordOrDie(record_, &copy);
  return copy;
}

absl::Time ActiveJob::ready_at() const { return packed() ? packed_ready_at_ : ReadyAtOf(*job_); }

void ActiveJob::Pack() {
  if (packed()) return;
  KeepSummary(*job_);
  job_->SerializeToString(&record_);
  job_.reset();
}

void ActiveJob::SetPacked(std::string record, const kiln::v1::Job& parsed) {
  KeepSummary(parsed);
  record_ = std::move(record);
  job_.reset();
}

void ActiveJob::KeepSummary(const kiln::v1::Job& job) {
  packed_state_ = job.state();
  packed_priority_ = job.spec().priority();
  packed_ready_at_ = ReadyAtOf(job);
}

void ActiveJob::Unpack() const {
  if (!packed()) return;
  auto job = std::make_unique<kiln::v1::Job>();
  ParseRecordOrDie(record_, job.get());
  job_ = std::move(job);
  std::string().swap(record_);  // frees the record's buffer
}

}  // namespace kiln::core
