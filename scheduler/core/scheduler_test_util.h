// Test helpers for Scheduler tests: waiting on the callback-style answers of the
// Scheduler (which run on the committer thread) with a bounded wait. Used by
// scheduler_test.cc and scheduler_dependencies_test.cc.
// Each object is used by one test thread plus the thread that answers it.
#ifndef KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_
#define KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

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

}  // namespace kiln::core::testing

#endif  // KILN_SCHEDULER_CORE_SCHEDULER_TEST_UTIL_H_
