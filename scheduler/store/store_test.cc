#include "scheduler/store/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"

namespace kiln::store {
namespace {

kiln::v1::Job MakeJob(const std::string& id, kiln::v1::JobState state) {
  kiln::v1::Job job;
  job.set_id(id);
  job.set_state(state);
  job.mutable_spec()->set_task("mesh.extract");
  return job;
}

TEST(StoreTest, WritesSurviveReopen) {
  kiln::testing::ScopedTempDir dir;
  {
    auto store = Store::Open({.path = dir.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status();
    WriteSet writes;
    writes.PutJob(MakeJob("j-1", kiln::v1::JOB_STATE_QUEUED));
    writes.MarkQueued("j-1");
    writes.PutRequestId("req-a", "j-1");
    kiln::v1::StoredLease lease;
    lease.set_job_id("j-2");
    lease.set_attempt(3);
    lease.set_worker_id("w");
    writes.PutJob(MakeJob("j-2", kiln::v1::JOB_STATE_RUNNING));
    writes.PutLease(lease);
    writes.PutMeta("next", "7");
    ASSERT_TRUE((*store)->Write(writes).ok());
  }
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob("j-1");
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(*(*store)->GetRequestJobId("req-a").value(), "j-1");
  EXPECT_FALSE((*store)->GetRequestJobId("req-b").value().has_value());
  EXPECT_EQ(*(*store)->GetMeta("next").value(), "7");

  std::vector<std::string> queued;
  ASSERT_TRUE((*store)
                  ->ForEachQueued([&](const std::string& id) {
                    queued.push_back(id);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(queued, std::vector<std::string>{"j-1"});
  std::vector<int> attempts;
  ASSERT_TRUE((*store)
                  ->ForEachLease([&](const kiln::v1::StoredLease& l) {
                    attempts.push_back(l.attempt());
                    return true;
                  })
                  .ok());
  EXPECT_EQ(attempts, std::vector<int>{3});
}

TEST(StoreTest, DeletesAreAppliedInOrderWithinOneSet) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  WriteSet writes;
  writes.MarkQueued("j-1");
  writes.UnmarkQueued("j-1");
  writes.MarkQueued("j-2");
  ASSERT_TRUE((*store)->Write(writes).ok());
  std::vector<std::string> queued;
  ASSERT_TRUE((*store)
                  ->ForEachQueued([&](const std::string& id) {
                    queued.push_back(id);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(queued, std::vector<std::string>{"j-2"});
}

TEST(StoreTest, ListsJobsNewestFirstFromAnyPoint) {
  kiln::testing::ScopedTempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  WriteSet writes;
  for (const char* id : {"j-01", "j-02", "j-03", "j-04"}) {
    writes.PutJob(MakeJob(id, kiln::v1::JOB_STATE_SUCCEEDED));
  }
  ASSERT_TRUE((*store)->Write(writes).ok());
  auto collect = [&](const std::string& before) {
    std::vector<std::string> ids;
    EXPECT_TRUE((*store)
                    ->ForEachJobNewestFirst(before,
                                            [&](const kiln::v1::Job& job) {
                                              ids.push_back(job.id());
                                              return ids.size() < 2;
                                            })
                    .ok());
    return ids;
  };
  EXPECT_EQ(collect(""), (std::vector<std::string>{"j-04", "j-03"}));
  EXPECT_EQ(collect("j-03"), (std::vector<std::string>{"j-02", "j-01"}));
  EXPECT_EQ(collect("j-015"), (std::vector<std::string>{"j-01"}));
  EXPECT_TRUE(collect("j-01").empty());
}

bool HasFileEndingWith(const std::string& dir, absl::string_view suffix) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (absl::EndsWith(entry.path().filename().string(), suffix)) return true;
  }
  return false;
}

// A WAL that a flush made obsolete (64 MiB) is not unlinked in one go, which on a
// disk mounted with `discard` stalled every synced write for ~20 ms: it is renamed to
// *.trash and truncated away in the background, and is gone soon after.
TEST(StoreTest, AnObsoleteWalLeavesThroughTheTrash) {
  kiln::testing::ScopedTempDir dir;
  const std::string db = dir.Sub("db");
  auto store = Store::Open({.path = db, .sync = false});
  ASSERT_TRUE(store.ok()) << store.status();
  // 80 MiB of job records pass the 64 MiB WAL limit: the families flush and the
  // first WAL becomes obsolete. The flush may end while the writes go on (slow builds
  // stall them for it), so the trash is looked for after every write too.
  const std::string filler(256 << 10, 'x');
  bool saw_trash = false;
  for (int i = 0; i < 320; ++i) {
    kiln::v1::Job job = MakeJob(absl::StrCat("j-", i), kiln::v1::JOB_STATE_QUEUED);
    job.set_status_message(filler);
    WriteSet writes;
    writes.PutJob(job);
    ASSERT_TRUE((*store)->Write(writes).ok());
    saw_trash = saw_trash || HasFileEndingWith(db, ".log.trash");
  }
  bool trash_gone = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    const bool trash = HasFileEndingWith(db, ".log.trash");
    saw_trash = saw_trash || trash;
    if (saw_trash && !trash) {
      trash_gone = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_TRUE(saw_trash) << "the obsolete WAL was unlinked at once";
  EXPECT_TRUE(trash_gone) << "the trash was not emptied within 20 s";
  auto job = (*store)->GetJob("j-0");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->status_message().size(), filler.size());
}

TEST(StoreTest, OpenFailsOnUnusablePath) {
  auto store = Store::Open({.path = "/proc/kiln-cannot-create-here"});
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace kiln::store
