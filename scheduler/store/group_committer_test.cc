#include "scheduler/store/group_committer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"

namespace kiln::store {
namespace {

TEST(GroupCommitterTest, ConcurrentCommitsAreDurableAndShareWrites) {
  kiln::testing::ScopedTempDir dir;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  {
    auto store = Store::Open({.path = dir.Sub("db")});
    ASSERT_TRUE(store.ok());
    GroupCommitter committer(store->get());
    std::atomic<int> acked{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::Notification done;
          WriteSet writes;
          writes.MarkQueued(absl::StrCat("j-", t, "-", i));
          committer.Commit(std::move(writes), [&](absl::Status s) {
            if (s.ok()) acked.fetch_add(1);
            done.Notify();
          });
          done.WaitForNotification();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(acked.load(), kThreads * kPerThread);
    GroupCommitter::Stats stats = committer.stats();
    EXPECT_EQ(stats.commits, static_cast<uint64_t>(kThreads * kPerThread));
    // With 8 writers waiting on fsync, groups form: fewer writes than commits.
    EXPECT_LT(stats.groups, stats.commits);
  }
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  int count = 0;
  ASSERT_TRUE((*store)
                  ->ForEachQueued([&](const std::string&) {
                    ++count;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST(GroupCommitterTest, CallbacksRunInCommitOrder) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  std::vector<int> order;
  absl::Mutex mu;
  absl::Notification last;
  {
    GroupCommitter committer(store->get());
    for (int i = 0; i < 100; ++i) {
      WriteSet writes;
      writes.PutMeta("k", absl::StrCat(i));
      committer.Commit(std::move(writes), [&, i](absl::Status s) {
        absl::MutexLock lock(&mu);
        order.push_back(i);
        if (i == 99) last.Notify();
      });
    }
    last.WaitForNotification();
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  // The last write wins: groups were applied in order.
  EXPECT_EQ(*(*store)->GetMeta("k").value(), "99");
}

TEST(GroupCommitterTest, DrainWaitsForEveryCallback) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  GroupCommitter committer(store->get());
  std::atomic<int> answered{0};
  for (int i = 0; i < 50; ++i) {
    WriteSet writes;
    writes.MarkQueued(absl::StrCat("j-", i));
    committer.Commit(std::move(writes), [&](absl::Status) { answered.fetch_add(1); });
  }
  committer.Drain();
  EXPECT_EQ(answered.load(), 50);
}

// A group's callbacks (finishing RPCs) do not hold up the next group's write: while the
// first answer is still running, a later commit reaches the store; its answer still
// comes after the first one's.
TEST(GroupCommitterTest, TheNextGroupIsWrittenWhileAGroupIsAnswered) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  // Declared before the committer: its threads may use them until it is destroyed.
  absl::Notification first_answering;
  absl::Notification release_first;
  absl::Mutex mu;
  std::vector<std::string> answered;
  GroupCommitter committer(store->get());
  WriteSet first;
  first.PutMeta("first", "1");
  committer.Commit(std::move(first), [&](absl::Status) {
    first_answering.Notify();
    release_first.WaitForNotification();
    absl::MutexLock lock(&mu);
    answered.push_back("first");
  });
  first_answering.WaitForNotification();
  WriteSet second;
  second.PutMeta("second", "2");
  committer.Commit(std::move(second), [&](absl::Status) {
    absl::MutexLock lock(&mu);
    answered.push_back("second");
  });
  bool second_stored = false;
  for (int i = 0; i < 2000 && !second_stored; ++i) {
    absl::StatusOr<std::optional<std::string>> value = (*store)->GetMeta("second");
    if (!value.ok()) {
      ADD_FAILURE() << value.status();
      break;
    }
    second_stored = value->has_value();
    if (!second_stored) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(second_stored) << "the second write waited for the first group's answers";
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(answered.empty());
  }
  release_first.Notify();
  committer.Drain();
  EXPECT_EQ(answered, (std::vector<std::string>{"first", "second"}));
}

// A commit that a callback makes while the committer is being destroyed is still
// written and answered before the destructor returns.
TEST(GroupCommitterTest, ShutdownWritesWhatCallbacksCommit) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  std::atomic<bool> follow_up_answered{false};
  absl::Notification destroying;
  {
    GroupCommitter committer(store->get());
    WriteSet first;
    first.PutMeta("first", "1");
    committer.Commit(std::move(first), [&](absl::Status) {
      // Commit only once the destructor runs; the pause gives a writer that stopped
      // without waiting for the answers time to be gone (it is no wait for a result:
      // a correct committer passes whatever the timing).
      destroying.WaitForNotification();
      absl::SleepFor(absl::Milliseconds(50));
      WriteSet follow_up;
      follow_up.PutMeta("follow-up", "2");
      committer.Commit(std::move(follow_up),
                       [&](absl::Status status) { follow_up_answered = status.ok(); });
    });
    destroying.Notify();
  }
  EXPECT_TRUE(follow_up_answered.load());
  absl::StatusOr<std::optional<std::string>> value = (*store)->GetMeta("follow-up");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value_or(""), "2");
}

// The owner's bookkeeping of a whole group runs under one hold of its lock, before any
// answer of that group, and the answers run with the lock free again.
TEST(GroupCommitterTest, SettlesOfAGroupRunUnderTheOwnersLockBeforeItsAnswers) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  absl::Mutex owner;
  std::vector<std::string> events;  // settles append under `owner`, answers under `events_mu`
  absl::Mutex events_mu;
  // The first write holds the writing thread (in on_write) until the others are queued,
  // so that they are taken as one batch.
  absl::Notification first_written, release_first;
  std::atomic<bool> first_write{true};
  GroupCommitterOptions options;
  options.on_write = [&](absl::Duration, size_t) {
    if (!first_write.exchange(false)) return;
    first_written.Notify();
    release_first.WaitForNotification();
  };
  GroupCommitter committer(store->get(), options);
  committer.Commit(WriteSet(), [](absl::Status) {});
  first_written.WaitForNotification();
  constexpr int kCommits = 5;
  absl::Notification last_answered;
  std::atomic<int> settled_while_held{0};
  std::atomic<int> answers_saw_lock_free{0};
  for (int i = 0; i < kCommits; ++i) {
    WriteSet writes;
    writes.PutMeta(absl::StrCat("k", i), "v");
    GroupCommitter::Settle settle{&owner, [&, i](absl::Status status) {
                                    owner.AssertHeld();
                                    EXPECT_TRUE(status.ok());
                                    ++settled_while_held;
                                    absl::MutexLock lock(&events_mu);
                                    events.push_back(absl::StrCat("settle ", i));
                                  }};
    committer.Commit(
        std::move(writes),
        [&, i](absl::Status status) {
          EXPECT_TRUE(status.ok());
          if (owner.TryLock()) {
            ++answers_saw_lock_free;
            owner.Unlock();
          }
          absl::MutexLock lock(&events_mu);
          events.push_back(absl::StrCat("answer ", i));
          if (i == kCommits - 1) last_answered.Notify();
        },
        std::move(settle));
  }
  release_first.Notify();
  last_answered.WaitForNotification();
  committer.Drain();
  EXPECT_EQ(settled_while_held.load(), kCommits);
  EXPECT_EQ(answers_saw_lock_free.load(), kCommits);
  std::vector<std::string> expected;
  for (int i = 0; i < kCommits; ++i) expected.push_back(absl::StrCat("settle ", i));
  for (int i = 0; i < kCommits; ++i) expected.push_back(absl::StrCat("answer ", i));
  absl::MutexLock lock(&events_mu);
  EXPECT_EQ(events, expected);
  // Two groups: the first commit's, then the five queued behind it.
  EXPECT_EQ(committer.stats().groups, 2u);
  for (int i = 0; i < kCommits; ++i)
    EXPECT_EQ(*(*store)->GetMeta(absl::StrCat("k", i)).value(), "v");
}

}  // namespace
}  // namespace kiln::store
