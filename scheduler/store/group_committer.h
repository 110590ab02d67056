// GroupCommitter: makes concurrent writers share fsyncs. Callers hand it a
// WriteSet and a completion callback; one committer thread takes everything
// pending and applies it as one synced RocksDB write, and a second thread runs the
// callbacks in submission order (the group's Settles first, then its answers: see
// Settle) while the next group is being written. So a write is durable before its
// callback runs, writes are applied in the order Commit was called (callers that
// hold their own lock while calling Commit get their decisions persisted in
// decision order), and N concurrent submits cost one fsync, not N. Answering a
// group (finishing its RPCs) took about as long as writing it; overlapping the two
// halves the time a commit waits for the group ahead of it.
//
// After a failed write every later commit fails too, without touching the
// store, until Reset(): so the store always holds a prefix of the decisions, and
// a caller that rebuilds its state from the store after the failure sees exactly
// what was acknowledged.
//
// Thread-safety: Commit may be called from any thread, also from inside a
// callback. Callbacks run on the answer thread and must not block on the committer.
#ifndef KILN_SCHEDULER_STORE_GROUP_COMMITTER_H_
#define KILN_SCHEDULER_STORE_GROUP_COMMITTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/store/store.h"
#include "scheduler/store/write_set.h"

namespace kiln::store {

struct GroupCommitterOptions {
  // Upper bound of one merged write; a larger backlog is split into several.
  size_t max_group_bytes = 8 << 20;
  // Called on the committer thread after each synced write with how long it took and
  // its size (for metrics); must be cheap and must not call Commit. May be empty.
  std::function<void(absl::Duration write_time, size_t bytes)> on_write;
};

class GroupCommitter {
 public:
  using Done = std::function<void(absl::Status)>;

  // An owner's bookkeeping for a commit, run under the owner's lock once the write
  // ended and before any `done` of its group. The committer takes `mu` once for a
  // run of settles that share it instead of once per commit: a busy owner lock then
  // costs the committer one wait a group, not one a commit.
  struct Settle {
    absl::Mutex* mu = nullptr;
    std::function<void(absl::Status)> fn;  // runs with *mu held
  };

  // `store` must outlive the committer.
  GroupCommitter(Store* store, const GroupCommitterOptions& options = {});
  // Drains what is pending (also what callbacks commit meanwhile), then stops both threads.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `writes`; `done` runs once they are durable (or failed: then with
  // Unavailable, and nothing of that group was applied). `settle`, if given, runs
  // before the `done` of every commit in the same group.
  void Commit(WriteSet writes, Done done, Settle settle);
  void Commit(WriteSet writes, Done done) { Commit(std::move(writes), std::move(done), Settle()); }

  // Blocks until every Commit called before has been written and its callback
  // has run. Owners of callbacks call it before they go away.
  void Drain();

  // Accepts writes again after a failure (call once state was rebuilt).
  void Reset();

  // Writes applied and fsyncs issued so far, for metrics and benchmarks.
  struct Stats {
    uint64_t commits = 0;
    uint64_t groups = 0;
    uint64_t failed_groups = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    WriteSet writes;
    Done done;
    Settle settle;
  };
  // One synced write's commits and how it ended.
  struct Group {
    std::vector<Pending> commits;
    absl::Status status;
  };
  void Run();         // kiln-commit: writes groups, hands them to the answer thread
  void AnswerLoop();  // kiln-answer: runs the groups' callbacks, in order
  // Runs a group's callbacks: the settles, then the dones. Which lock a settle
  // needs is known only at run time, hence no static analysis.
  static void Answer(Group& group) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  Store* const store_;
  const GroupCommitterOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;       // a taken batch is being written
  std::deque<Group> answers_ ABSL_GUARDED_BY(mu_);  // written, callbacks not yet run
  bool answering_ ABSL_GUARDED_BY(mu_) = false;     // taken groups' callbacks are running
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;   // kiln-commit has stopped
  absl::Status failure_ ABSL_GUARDED_BY(mu_);       // the first failed write since Reset
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread answer_thread_;
  std::thread thread_;
};

}  // namespace kiln::store

#endif  // KILN_SCHEDULER_STORE_GROUP_COMMITTER_H_
