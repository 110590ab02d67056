// libFuzzer: what the scheduler reads back from RocksDB after a restart. An input is a
// list of raw records (column family, key, value: any bytes, as a corrupted or
// hand-edited database could hold) written into a fresh store in a temporary directory;
// then a Scheduler recovers from it (Store's record decoding of the job, queue, lease,
// worker and meta families, job-id keys, the next-sequence counter), and what a restarted
// scheduler does next runs over the result: listing and reading every job and blob, a
// worker acquiring on each recovered slot, and ticks past every lease's end (expiry,
// requeue, pending reasons), whose writes go back through the store.
// A refusal (DataLoss for a corrupt record) is fine; a crash, leak or UB is a finding.
//
// Input layout (FuzzedDataProvider): repeated [family byte][key][value], each string
// length-prefixed the provider's way (ConsumeRandomLengthString: '\' escapes, '\\' ends).
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "kiln/v1/job_service.pb.h"
#include "kiln/v1/worker_service.pb.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"
#include "scheduler/store/write_set.h"

namespace {

using kiln::core::Scheduler;
using kiln::store::Family;

constexpr int kMaxRecords = 64;

// A harness failure, not a finding in the input: stop loudly rather than test nothing.
void Check(const absl::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "store_record_fuzzer: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

// The store's directory, removed at exit (libFuzzer exits normally unless it found a crash).
struct Fixture {
  std::string dir;
  std::unique_ptr<kiln::store::Store> store;
  Fixture() {
    std::string pattern =
        std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/kiln-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) Check(absl::InternalError(pattern), "mkdtemp");
    dir = pattern;
    auto opened = kiln::store::Store::Open({.path = dir + "/db", .sync = false});
    Check(opened.status(), "open a store");
    store = *std::move(opened);
  }
  ~Fixture() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  kiln::store::WriteSet writes;
  std::set<std::string> job_ids, blob_ids, worker_ids;
  for (int i = 0; i < kMaxRecords && input.remaining_bytes() > 0; ++i) {
    const auto family = static_cast<Family>(
        input.ConsumeIntegralInRange<int>(0, static_cast<int>(Family::kCount) - 1));
    std::string key = input.ConsumeRandomLengthString(256);
    std::string value = input.ConsumeRandomLengthString(1 << 16);
    if (key.empty()) continue;  // RocksDB allows it, but no reader has one to look up
    if (family == Family::kJobs) job_ids.insert(key);
    if (family == Family::kBlobs) blob_ids.insert(key);
    if (family == Family::kWorkers) worker_ids.insert(key);
    writes.PutRawForTest(family, key, value);
  }

  // One store per process, emptied before each input: opening a RocksDB database takes
  // far longer than an input runs. On tmpfs where there is one (no fsync to wait for).
  static Fixture* const fixture = new Fixture();
  static const int registered = std::atexit([] { delete fixture; });
  (void)registered;
  kiln::store::Store* store = fixture->store.get();
  Check(store->ClearForTest(), "clear the store");
  if (!store->Write(writes).ok()) return 0;

  kiln::FakeClock clock;
  kiln::store::GroupCommitter committer(store);
  kiln::core::SchedulerOptions options;
  options.clock = &clock;
  options.run_ticker = false;
  absl::StatusOr<std::unique_ptr<Scheduler>> recovered =
      Scheduler::Create(options, store, &committer);
  if (!recovered.ok()) return 0;
  Scheduler& scheduler = **recovered;

  kiln::v1::ListJobsRequest list;
  for (int page = 0; page < 4; ++page) {
    absl::StatusOr<kiln::v1::ListJobsResponse> jobs = scheduler.ListJobs(list);
    if (!jobs.ok() || jobs->next_page_token().empty()) break;
    list.set_page_token(jobs->next_page_token());
  }
  for (const std::string& id : job_ids) (void)scheduler.GetJob(id);
  for (const std::string& sha : blob_ids) (void)scheduler.GetBlob(sha);
  (void)scheduler.Stats();

  // Every recovered slot asks for work at once (no long-poll).
  for (const std::string& worker : worker_ids) {
    for (int slot = 0; slot < 4; ++slot) {
      kiln::v1::AcquireJobRequest acquire;
      acquire.set_worker_id(worker);
      acquire.set_slot(slot);
      scheduler.AcquireJob(acquire, [](absl::StatusOr<kiln::v1::AcquireJobResponse>) {});
    }
  }
  for (int tick = 0; tick < 3; ++tick) {
    clock.Advance(options.lease_duration + options.retry_backoff_max + absl::Seconds(1));
    scheduler.Tick();
  }
  (void)scheduler.Stats();
  recovered->reset();  // Drains the committer's callbacks into the scheduler first.
  return 0;
}
