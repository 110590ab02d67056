// Test helpers for Scheduler tests: opening one on a real store, waiting on the
// callback-style answers of the Scheduler (which run on the committer's answer thread)
// with a bounded wait, and the few worker calls every suite makes. Used by the scheduler/core
// tests. Each object is used by one test thread plus the thread that answers it.
#ifndef KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_
#define KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kiln/v1/worker_service.pb.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/store/group_committer.h"
#include "scheduler/store/store.h"

namespace kiln::core::testing {

// Waits for a callback-style StatusOr answer.
template <typename T>
class Result {
 public:
  std::function<void(absl::StatusOr<T>)> callback() {
    return [this](absl::StatusOr<T> v) {
      value_ = std::move(v);
      done_.Notify();
    };
  }
  // The answer; fails the test (and returns an error) when none came within 30 s.
  absl::StatusOr<T>& Get() {
    if (!done_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      ADD_FAILURE() << "no answer within 30 s";
      value_ = absl::DeadlineExceededError("no answer");
    }
    return *value_;
  }
  // Whether the answer came already (a parked call has none).
  bool ready() const { return done_.HasBeenNotified(); }

 private:
  absl::Notification done_;
  std::optional<absl::StatusOr<T>> value_;
};

// Waits for a callback-style Status answer.
class StatusResult {
 public:
  std::function<void(absl::Status)> callback() {
    return [this](absl::Status s) {
      status_ = std::move(s);
      done_.Notify();
    };
  }
  absl::Status Get() {
    if (!done_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return absl::DeadlineExceededError("no answer within 30 s");
    }
    return status_;
  }

 private:
  absl::Notification done_;
  absl::Status status_;
};

// (Re)opens a scheduler with `options` on the RocksDB store `store_options` names: closes
// what `scheduler`, `committer` and `store` hold first (in that order: a restart), then
// opens them in the other order. Fails the test when one does not open.
inline void OpenOnDisk(const store::StoreOptions& store_options, const SchedulerOptions& options,
                       std::unique_ptr<store::Store>& store,
                       std::unique_ptr<store::GroupCommitter>& committer,
                       std::unique_ptr<Scheduler>& scheduler,
                       const store::GroupCommitterOptions& committer_options = {}) {
  scheduler.reset();
  committer.reset();
  store.reset();
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(store_options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  store = *std::move(opened);
  committer = std::make_unique<store::GroupCommitter>(store.get(), committer_options);
  absl::StatusOr<std::unique_ptr<Scheduler>> created =
      Scheduler::Create(options, store.get(), committer.get());
  ASSERT_TRUE(created.ok()) << created.status();
  scheduler = *std::move(created);
}

// A worker with one CPU device and `slots` slots that run mesh.extract.
inline kiln::v1::RegisterWorkerRequest CpuWorker(const std::string& worker, int slots = 1) {
  kiln::v1::RegisterWorkerRequest request;
  request.set_worker_id(worker);
  auto* device = request.mutable_capabilities()->add_devices();
  device->set_id("cpu");
  device->set_runnable(true);
  for (int i = 0; i < slots; ++i) {
    auto* slot = request.mutable_capabilities()->add_slots();
    slot->set_index(i);
    slot->set_device_id("cpu");
    slot->add_tasks("mesh.extract");
  }
  return request;
}

// AcquireJob for slot 0 of `worker` without waiting; nullopt when no job fits.
inline std::optional<kiln::v1::Assignment> AcquireNow(Scheduler& scheduler,
                                                      const std::string& worker) {
  kiln::v1::AcquireJobRequest request;
  request.set_worker_id(worker);
  Result<kiln::v1::AcquireJobResponse> result;
  scheduler.AcquireJob(request, result.callback());
  EXPECT_TRUE(result.Get().ok()) << result.Get().status();
  if (!result.Get().ok() || !result.Get()->has_assignment()) return std::nullopt;
  return result.Get()->assignment();
}

// Reports progress 0.5 for the attempt (which makes an ASSIGNED job RUNNING).
inline absl::Status ReportHalfway(Scheduler& scheduler, const std::string& worker,
                                  const std::string& job_id, int attempt) {
  kiln::v1::ReportProgressRequest request;
  request.set_worker_id(worker);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  request.set_progress(0.5);
  StatusResult result;
  scheduler.ReportProgress(request, result.callback());
  return result.Get();
}

// Completes the attempt without outputs.
inline absl::Status CompleteAttempt(Scheduler& scheduler, const std::string& worker,
                                    const std::string& job_id, int attempt) {
  kiln::v1::CompleteJobRequest request;
  request.set_worker_id(worker);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  StatusResult result;
  scheduler.CompleteJob(request, result.callback());
  return result.Get();
}

}  // namespace kiln::core::testing

#endif  // KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_
