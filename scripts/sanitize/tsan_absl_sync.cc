// ThreadSanitizer support for Debian's prebuilt Abseil (scripts/sanitize.sh tsan preloads
// this library into every process of the run; built only with -DKILN_SANITIZE=thread).
//
// Debian's libabsl_synchronization is not instrumented, so TSan cannot see absl::Mutex,
// absl::CondVar or absl::Notification order anything: every field guarded by an
// absl::Mutex would be reported as a race. This library interposes their out-of-line
// entry points, calls the real ones (dlsym RTLD_NEXT) and tells TSan the happens-before
// edge each one makes: a lock acquires from the mutex's address, an unlock releases to
// it, waits (Await, LockWhen, CondVar::Wait) release before and acquire after, and
// Notify releases what WaitForNotification acquires. Reader locks are treated like
// writer locks, which can only hide a race between two readers, never invent one.
// Conditions (Await, LockWhen) are wrapped so that their evaluation inside absl's slow
// path is ordered too. Not covered: HasBeenNotified() (inline, an atomic load whose store
// TSan cannot see).
//
// In processes without TSan (tools the tests start) __tsan_* are absent and the calls
// only forward.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
}

namespace {

void Acquire(const void* addr) {
  if (&__tsan_acquire != nullptr) __tsan_acquire(const_cast<void*>(addr));
}
void Release(const void* addr) {
  if (&__tsan_release != nullptr) __tsan_release(const_cast<void*>(addr));
}

// The real definition of the member function whose mangled name is `name`, called as a
// plain function with `this` first (the x86-64 System V ABI of member functions).
template <typename Fn>
Fn Real(const char* name) {
  void* real = ::dlsym(RTLD_NEXT, name);
  if (real == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found: %s\n", name, ::dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(real);
}

// A condition evaluated inside absl's lock slow path (by the waiter or by the thread that
// unlocks) runs with the mutex held but unannotated: wrap it so that its evaluation
// acquires from the mutex first and releases to it after.
struct AnnotatedCondition {
  const absl::Condition* inner;
  absl::Mutex* mu;
  static bool Eval(void* arg) {
    auto* self = static_cast<AnnotatedCondition*>(arg);
    Acquire(self->mu);
    const bool met = self->inner->Eval();
    Release(self->mu);
    return met;
  }
  absl::Condition Wrapped() { return absl::Condition(&AnnotatedCondition::Eval, this); }
};

#define KILN_ABSL(name) "_ZN4absl7debian3" name
#define KILN_ABSL_CONST(name) "_ZNK4absl7debian3" name

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

}  // namespace

// Locks and unlocks.
void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>(KILN_ABSL("5Mutex4LockEv"));
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>(KILN_ABSL("5Mutex10ReaderLockEv"));
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>(KILN_ABSL("5Mutex7TryLockEv"));
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>(KILN_ABSL("5Mutex13ReaderTryLockEv"));
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>(KILN_ABSL("5Mutex6UnlockEv"));
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>(KILN_ABSL("5Mutex12ReaderUnlockEv"));
  Release(this);
  real(this);
}

// Locks that wait for a condition: the condition's state was written under the mutex.
void Mutex::LockWhen(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>(KILN_ABSL("5Mutex8LockWhenERKNS0_9ConditionE"));
  AnnotatedCondition annotated{&cond, this};
  real(this, annotated.Wrapped());
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      KILN_ABSL("5Mutex14ReaderLockWhenERKNS0_9ConditionE"));
  AnnotatedCondition annotated{&cond, this};
  real(this, annotated.Wrapped());
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      KILN_ABSL("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), timeout);
  Acquire(this);  // Held either way.
  return met;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      KILN_ABSL("5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), timeout);
  Acquire(this);
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      KILN_ABSL("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), deadline);
  Acquire(this);
  return met;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      KILN_ABSL("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), deadline);
  Acquire(this);
  return met;
}

// Waits inside a held lock: they unlock and lock again.
void Mutex::Await(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>(KILN_ABSL("5Mutex5AwaitERKNS0_9ConditionE"));
  Release(this);
  AnnotatedCondition annotated{&cond, this};
  real(this, annotated.Wrapped());
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      KILN_ABSL("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  Release(this);
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), timeout);
  Acquire(this);
  return met;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      KILN_ABSL("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  Release(this);
  AnnotatedCondition annotated{&cond, this};
  const bool met = real(this, annotated.Wrapped(), deadline);
  Acquire(this);
  return met;
}
void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>(KILN_ABSL("7CondVar4WaitEPNS0_5MutexE"));
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      KILN_ABSL("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"));
  Release(mu);
  const bool timed_out = real(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      KILN_ABSL("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"));
  Release(mu);
  const bool timed_out = real(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

// Notification: what happened before Notify() happened before a wait that saw it.
void Notification::Notify() {
  static const auto real = Real<void (*)(Notification*)>(KILN_ABSL("12Notification6NotifyEv"));
  Release(this);
  real(this);
}
void Notification::WaitForNotification() const {
  static const auto real =
      Real<void (*)(const Notification*)>(KILN_ABSL_CONST("12Notification19WaitForNotificationEv"));
  real(this);
  Acquire(this);
}
bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, Duration)>(
      KILN_ABSL_CONST("12Notification30WaitForNotificationWithTimeoutENS0_8DurationE"));
  const bool notified = real(this, timeout);
  if (notified) Acquire(this);
  return notified;
}
bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, Time)>(
      KILN_ABSL_CONST("12Notification31WaitForNotificationWithDeadlineENS0_4TimeE"));
  const bool notified = real(this, deadline);
  if (notified) Acquire(this);
  return notified;
}
