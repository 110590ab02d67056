#include "scheduler/core/log_tails.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::core {

using kiln::v1::GetJobLogResponse;

std::string LogTails::Key(const std::string& job_id, int attempt) {
  return absl::StrCat(job_id, "/", attempt);
}

std::optional<GetJobLogResponse> LogTails::ReadLocked(const Tail& tail, int64_t offset,
                                                      const GetJobLogResponse& base) {
  const int64_t end = tail.start + static_cast<int64_t>(tail.bytes.size());
  if (end <= offset) return std::nullopt;
  // Bytes before the tail's start are gone; the answer says where its data begins.
  const int64_t from = std::max(offset, tail.start);
  GetJobLogResponse response = base;
  response.set_offset(from);
  response.set_data(tail.bytes.substr(static_cast<size_t>(from - tail.start)));
  response.set_next_offset(end);
  return response;
}

std::vector<LogTails::Answer> LogTails::Append(const std::string& job_id, int attempt,
                                               int64_t offset, absl::string_view bytes) {
  std::vector<Answer> answers;
  if (bytes.empty() || offset < 0) return answers;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = tails_.try_emplace(Key(job_id, attempt));
  Tail& tail = it->second;
  if (inserted) tail.start = offset;
  int64_t end = tail.start + static_cast<int64_t>(tail.bytes.size());
  if (offset > end) {
    // A gap: what was held does not continue into this chunk.
    total_bytes_ -= static_cast<int64_t>(tail.bytes.size());
    tail.bytes.clear();
    tail.start = offset;
    end = offset;
  }
  if (offset + static_cast<int64_t>(bytes.size()) <= end) return answers;  // Seen already.
  bytes.remove_prefix(static_cast<size_t>(end - offset));
  tail.bytes.append(bytes.data(), bytes.size());
  total_bytes_ += static_cast<int64_t>(bytes.size());
  int64_t excess = static_cast<int64_t>(tail.bytes.size()) - options_.max_bytes_per_attempt;
  const int64_t over_total = total_bytes_ - options_.max_total_bytes;
  if (over_total > 0) {
    const int64_t keep_at_least = static_cast<int64_t>(bytes.size());
    excess = std::max(
        excess, std::min(over_total, static_cast<int64_t>(tail.bytes.size()) - keep_at_least));
  }
  if (excess > 0) {
    tail.bytes.erase(0, static_cast<size_t>(excess));
    tail.start += excess;
    total_bytes_ -= excess;
  }
  for (auto w = tail.waiters.begin(); w != tail.waiters.end();) {
    auto waiter = waiters_.find(*w);
    if (waiter == waiters_.end()) {
      w = tail.waiters.erase(w);
      continue;
    }
    std::optional<GetJobLogResponse> response =
        ReadLocked(tail, waiter->second.offset, waiter->second.base);
    if (!response.has_value()) {
      ++w;
      continue;
    }
    answers.emplace_back(std::move(waiter->second.done), *std::move(response));
    waiters_.erase(waiter);
    w = tail.waiters.erase(w);
  }
  return answers;
}

absl::StatusOr<std::optional<GetJobLogResponse>> LogTails::ReadOrPark(
    const std::string& job_id, int attempt, int64_t offset, const GetJobLogResponse& base,
    absl::Time now, absl::Time deadline, Callback done, uint64_t* waiter_id) {
  *waiter_id = 0;
  absl::MutexLock lock(&mu_);
  const std::string key = Key(job_id, attempt);
  auto it = tails_.find(key);
  if (it != tails_.end()) {
    if (std::optional<GetJobLogResponse> response = ReadLocked(it->second, offset, base)) {
      return response;
    }
  }
  if (deadline <= now) {
    GetJobLogResponse response = base;
    response.set_offset(offset);
    response.set_next_offset(offset);
    return std::optional<GetJobLogResponse>(std::move(response));
  }
  if (waiters_.size() >= options_.max_waiters) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many log reads waiting (", options_.max_waiters, "); retry later"));
  }
  const uint64_t id = next_waiter_id_++;
  waiters_[id] = Waiter{key, offset, deadline, base, std::move(done)};
  tails_[key].waiters.insert(id);  // A tail with no bytes yet: start is set by Append.
  *waiter_id = id;
  return std::optional<GetJobLogResponse>();
}

void LogTails::End(const std::string& job_id, int attempt, const GetJobLogResponse& ended) {
  absl::MutexLock lock(&mu_);
  auto it = tails_.find(Key(job_id, attempt));
  if (it == tails_.end()) return;
  for (uint64_t id : it->second.waiters) {
    auto waiter = waiters_.find(id);
    if (waiter == waiters_.end()) continue;
    GetJobLogResponse response = ended;
    response.set_offset(waiter->second.offset);
    response.set_next_offset(waiter->second.offset);
    ended_.emplace_back(std::move(waiter->second.done), std::move(response));
    waiters_.erase(waiter);
  }
  total_bytes_ -= static_cast<int64_t>(it->second.bytes.size());
  tails_.erase(it);
}

std::vector<LogTails::Answer> LogTails::TakeDue(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<Answer> answers = std::move(ended_);
  ended_.clear();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    GetJobLogResponse response = std::move(it->second.base);
    response.set_offset(it->second.offset);
    response.set_next_offset(it->second.offset);
    answers.emplace_back(std::move(it->second.done), std::move(response));
    auto tail = tails_.find(it->second.key);
    if (tail != tails_.end()) {
      tail->second.waiters.erase(it->first);
      // A tail that only held this read (no bytes yet) goes with it.
      if (tail->second.waiters.empty() && tail->second.bytes.empty()) tails_.erase(tail);
    }
    it = waiters_.erase(it);
  }
  return answers;
}

std::vector<LogTails::Answer> LogTails::Cancel(uint64_t waiter_id) {
  std::vector<Answer> answers;
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(waiter_id);
  if (it == waiters_.end()) return answers;
  answers.emplace_back(std::move(it->second.done), absl::CancelledError("log read cancelled"));
  auto tail = tails_.find(it->second.key);
  if (tail != tails_.end()) {
    tail->second.waiters.erase(waiter_id);
    if (tail->second.waiters.empty() && tail->second.bytes.empty()) tails_.erase(tail);
  }
  waiters_.erase(it);
  return answers;
}

std::vector<LogTails::Answer> LogTails::Shutdown() {
  absl::MutexLock lock(&mu_);
  std::vector<Answer> answers = std::move(ended_);
  ended_.clear();
  for (auto& [id, waiter] : waiters_) {
    answers.emplace_back(std::move(waiter.done), absl::UnavailableError("scheduler shutting down"));
  }
  waiters_.clear();
  tails_.clear();
  total_bytes_ = 0;
  return answers;
}

int64_t LogTails::total_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_bytes_;
}

size_t LogTails::parked() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

}  // namespace kiln::core
