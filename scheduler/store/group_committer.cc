#include "scheduler/store/group_committer.h"

#include <pthread.h>

#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace kiln::store {

GroupCommitter::GroupCommitter(Store* store, const GroupCommitterOptions& options)
    : store_(store), options_(options) {
  answer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kiln-answer");
    AnswerLoop();
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kiln-commit");
    Run();
  });
}

GroupCommitter::~GroupCommitter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  {
    absl::MutexLock lock(&mu_);
    writer_done_ = true;
  }
  answer_thread_.join();
}

void GroupCommitter::Commit(WriteSet writes, Done done, Settle settle) {
  absl::MutexLock lock(&mu_);
  pending_.push_back(Pending{std::move(writes), std::move(done), std::move(settle)});
}

GroupCommitter::Stats GroupCommitter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void GroupCommitter::Run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GroupCommitter* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            // Stopping waits for the answers too: a callback may still Commit.
            return !self->pending_.empty() ||
                   (self->stopping_ && self->answers_.empty() && !self->answering_);
          },
          this));
      if (pending_.empty()) return;  // stopping, and nothing is left to answer
      batch.swap(pending_);
      writing_ = true;
    }
    // Split the backlog into groups of bounded size, in order.
    size_t begin = 0;
    while (begin < batch.size()) {
      WriteSet merged;
      size_t end = begin;
      while (end < batch.size() &&
             (end == begin ||
              merged.ByteSize() + batch[end].writes.ByteSize() <= options_.max_group_bytes)) {
        merged.Append(std::move(batch[end].writes));
        ++end;
      }
      absl::Status failure;
      {
        absl::MutexLock lock(&mu_);
        failure = failure_;
      }
      const absl::Time write_start = absl::Now();
      absl::Status status = failure.ok() ? store_->Write(merged) : failure;
      if (failure.ok() && options_.on_write) {
        options_.on_write(absl::Now() - write_start, merged.ByteSize());
      }
      Group group{{std::make_move_iterator(batch.begin() + begin),
                   std::make_move_iterator(batch.begin() + end)},
                  status};
      {
        absl::MutexLock lock(&mu_);
        stats_.commits += end - begin;
        ++stats_.groups;
        if (!status.ok()) ++stats_.failed_groups;
        if (!status.ok() && failure_.ok()) {
          failure_ = absl::UnavailableError(
              absl::StrCat("store write failed (", status.message(), "); recovering"));
        }
        // The next group's write starts while this one is answered.
        answers_.push_back(std::move(group));
      }
      begin = end;
    }
    batch.clear();
    absl::MutexLock lock(&mu_);
    writing_ = false;
  }
}

void GroupCommitter::AnswerLoop() {
  std::deque<Group> groups;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GroupCommitter* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return self->writer_done_ || !self->answers_.empty();
          },
          this));
      if (answers_.empty() && writer_done_) return;
      groups.swap(answers_);
      answering_ = true;
    }
    for (Group& group : groups) Answer(group);
    groups.clear();
    absl::MutexLock lock(&mu_);
    answering_ = false;
  }
}

void GroupCommitter::Answer(Group& group) {
  absl::Mutex* held = nullptr;
  for (Pending& commit : group.commits) {
    Settle& settle = commit.settle;
    if (!settle.fn) continue;
    if (settle.mu != held) {
      if (held != nullptr) held->Unlock();
      held = settle.mu;
      if (held != nullptr) held->Lock();
    }
    settle.fn(group.status);
  }
  if (held != nullptr) held->Unlock();
  for (Pending& commit : group.commits) commit.done(group.status);
}

void GroupCommitter::Reset() {
  absl::MutexLock lock(&mu_);
  failure_ = absl::OkStatus();
}

void GroupCommitter::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](GroupCommitter* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return self->pending_.empty() && !self->writing_ && self->answers_.empty() &&
               !self->answering_;
      },
      this));
}

}  // namespace kiln::store
