// Durable commits per second through GroupCommitter against writing each
// WriteSet with its own synced Store::Write, for 1..N concurrent writers, on a
// real RocksDB in a temp directory. Each writer waits for its commit before the
// next (closed loop), as an RPC handler waits before it answers.
//
//   group_commit_bench [--commits=N] [--runs=R] [--dir=PATH]
// Prints one line per (mode, writers): median commits/s over R runs, and fsync
// groups per commit for the committer.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"

namespace {

using kiln::store::GroupCommitter;
using kiln::store::Store;
using kiln::store::WriteSet;

WriteSet JobWrite(int writer, int i) {
  kiln::v1::Job job;
  job.set_id(absl::StrCat("j-", writer, "-", i));
  job.mutable_spec()->set_task("mesh.extract");
  job.set_state(kiln::v1::JOB_STATE_QUEUED);
  job.set_status_message("waiting for a free slot running mesh.extract on any device");
  (*job.mutable_spec()->mutable_labels())["team"] = "bench";
  WriteSet writes;
  writes.PutJob(job);
  writes.MarkQueued(job.id());
  return writes;
}

struct Result {
  double commits_per_second;
  double groups_per_commit;
};

Result RunOnce(const std::string& dir, bool grouped, int writers, int commits) {
  auto store = Store::Open({.path = dir});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  GroupCommitter committer(store->get());
  const int per_writer = commits / writers;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i) {
        if (grouped) {
          absl::Notification done;
          committer.Commit(JobWrite(w, i), [&](absl::Status s) {
            if (!s.ok()) std::abort();
            done.Notify();
          });
          done.WaitForNotification();
        } else if (!(*store)->Write(JobWrite(w, i)).ok()) {
          std::abort();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double total = static_cast<double>(per_writer) * writers;
  const auto stats = committer.stats();
  return {total / seconds, grouped ? static_cast<double>(stats.groups) / total : 1.0};
}

}  // namespace

int main(int argc, char** argv) {
  int commits = 2000;
  int runs = 5;
  std::string base;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--commits=", 0) == 0) absl::SimpleAtoi(arg.substr(10), &commits);
    if (arg.rfind("--runs=", 0) == 0) absl::SimpleAtoi(arg.substr(7), &runs);
    if (arg.rfind("--dir=", 0) == 0) base = arg.substr(6);
  }
  kiln::testing::ScopedTempDir temp;
  if (base.empty()) base = temp.path();
  std::printf("%-10s %8s %14s %14s\n", "mode", "writers", "commits/s", "fsyncs/commit");
  int run_id = 0;
  for (int writers : {1, 4, 32}) {
    // Runs of both modes alternate so that both see the same machine noise.
    std::vector<Result> direct, grouped;
    for (int r = 0; r < runs; ++r) {
      direct.push_back(RunOnce(absl::StrCat(base, "/run-", run_id++), false, writers, commits));
      grouped.push_back(RunOnce(absl::StrCat(base, "/run-", run_id++), true, writers, commits));
    }
    for (auto* results : {&direct, &grouped}) {
      std::sort(results->begin(), results->end(), [](const Result& a, const Result& b) {
        return a.commits_per_second < b.commits_per_second;
      });
      const Result& median = (*results)[results->size() / 2];
      std::printf("%-10s %8d %14.0f %14.3f\n", results == &grouped ? "grouped" : "direct", writers,
                  median.commits_per_second, median.groups_per_commit);
    }
  }
  return 0;
}
