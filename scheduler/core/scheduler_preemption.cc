// The Scheduler's preemption of lower-priority work (docs/placement.md, "Preemption"):
// once per pending-reason interval, ready jobs that waited past
// SchedulerOptions::preemption_grace with no parked slot able to take them end the
// attempt of lower-priority work on a slot that can run them; the victim is requeued at
// once without using up an attempt, and the slot is kept for the job that waited until
// its worker asks again. Same lock and threading as scheduler.cc; kept apart from it so
// the two change independently.
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/capability_match.h"
#include "common/proto_time.h"
#include "common/utf8.h"
#include "scheduler/auth/caller.h"
#include "scheduler/core/scheduler.h"

namespace kiln::core {
namespace {

// Waiting jobs looked at per interval at most (the highest priorities, longest waiters).
constexpr size_t kMaxPreemptorsExamined = 256;

std::string SlotKey(const std::string& worker_id, int slot) {
  return absl::StrCat(worker_id, "#", slot);
}

std::string MemoryKey(const std::string& worker_id, const std::string& device_id) {
  return absl::StrCat(worker_id, "/", device_id);
}

bool Leased(kiln::v1::JobState state) {
  return state == kiln::v1::JOB_STATE_ASSIGNED || state == kiln::v1::JOB_STATE_RUNNING;
}

}  // namespace

void Scheduler::PreemptLocked(absl::Time now) {
  // Reservations whose slot did not come back in time, or whose job went elsewhere, end.
  absl::flat_hash_set<std::string> reserved_jobs;
  absl::flat_hash_map<std::string, int64_t> promised;  // "worker/device" -> bytes kept
  for (auto it = slot_reservations_.begin(); it != slot_reservations_.end();) {
    auto job = jobs_.find(it->second.job_id);
    if (it->second.until <= now || job == jobs_.end() ||
        job->second.state() != kiln::v1::JOB_STATE_QUEUED) {
      slot_reservations_.erase(it++);
      continue;
    }
    reserved_jobs.insert(it->second.job_id);
    promised[it->second.memory_key] += it->second.memory_bytes;
    ++it;
  }

  // Possible victims: leased jobs on slots that could take other work now (not drained),
  // lowest priority first, then the youngest attempt (the least work lost).
  struct Victim {
    ActiveJob* active;
    int priority;
    absl::Time assigned;
    std::string worker_id;
    int slot_index;
    const kiln::v1::Slot* slot;
    const kiln::v1::Device* device;
    int64_t bytes;  // the device memory its attempt holds
  };
  std::vector<Victim> victims;
  for (const auto& [deadline, id] : leases_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !Leased(it->second.state()) || it->second.job().attempts().empty()) {
      continue;
    }
    const kiln::v1::Job& job = it->second.job();
    const kiln::v1::Attempt& attempt = *job.attempts().rbegin();
    auto worker = workers_.find(attempt.worker_id());
    if (worker == workers_.end() || worker->second.info.draining()) continue;
    const kiln::v1::Slot* slot = nullptr;
    const kiln::v1::Device* device = SlotDeviceLocked(attempt.worker_id(), attempt.slot(), &slot);
    if (device == nullptr) continue;
    victims.push_back(
        {&it->second, job.spec().priority(), FromProtoTime(attempt.assigned_at()),
         attempt.worker_id(), attempt.slot(), slot, device,
         TierRequirements(job.spec(), attempt.tier_index()).min_device_memory_bytes()});
  }
  if (victims.empty()) return;
  std::sort(victims.begin(), victims.end(), [](const Victim& a, const Victim& b) {
    return std::make_tuple(a.priority, -absl::ToUnixNanos(a.assigned), a.active->seq) <
           std::make_tuple(b.priority, -absl::ToUnixNanos(b.assigned), b.active->seq);
  });

  // Preemptors: ready jobs that waited past the grace period, with a priority above the
  // lowest running one by the gap; highest priority first, then the longest waiter. One
  // pass over the active jobs per interval, and only while some job runs.
  const int gap = std::max(1, options_.preemption_min_priority_gap);
  const int lowest = victims.front().priority;
  struct Waiting {
    ActiveJob* active;
    absl::Time ready;
  };
  std::vector<Waiting> waiting;
  for (auto& [id, active] : jobs_) {
    if (active.state() != kiln::v1::JOB_STATE_QUEUED) continue;
    if (active.priority() < lowest + gap) continue;
    const absl::Time ready = active.ready_at();
    if (now - ready < options_.preemption_grace || reserved_jobs.contains(id)) continue;
    waiting.push_back({&active, ready});
  }
  if (waiting.empty()) return;
  const size_t examined = std::min(waiting.size(), kMaxPreemptorsExamined);
  std::partial_sort(waiting.begin(), waiting.begin() + examined, waiting.end(),
                    [](const Waiting& a, const Waiting& b) {
                      return std::make_tuple(-a.active->priority(), a.ready, a.active->seq) <
                             std::make_tuple(-b.active->priority(), b.ready, b.active->seq);
                    });
  waiting.resize(examined);

  // Per requirement class: whether a parked (free) slot can run it; such jobs are about
  // to be dispatched and take nothing from anyone.
  absl::flat_hash_map<std::string, bool> parked_fits;
  // Class (and tenant) that found no victim: its later, lower-priority jobs find none either.
  absl::flat_hash_set<std::string> no_victim;
  store::WriteSet writes;
  std::vector<std::string> changed;
  for (const Waiting& candidate : waiting) {
    if (static_cast<int>(changed.size()) >= options_.max_preemptions_per_interval) break;
    // A copy: a packed candidate that finds no victim stays packed.
    const kiln::v1::Job job = candidate.active->Copy();
    const kiln::v1::JobSpec& spec = job.spec();
    const std::string class_key = RequirementClassKey(spec);
    const std::string tenant = auth::EffectiveTenant(job.tenant());
    const JobQueue::Share share = fair_share_.ShareOf(job);
    // The queue class names the tenant and the limited label values too.
    const std::string failure_key = options_.preemption_across_tenants
                                        ? JobQueue::ClassKey(spec, {"", share.limited_labels})
                                        : JobQueue::ClassKey(spec, share);
    if (no_victim.contains(failure_key)) continue;
    auto parked = parked_fits.find(class_key);
    if (parked == parked_fits.end()) {
      bool fits = false;
      for (const auto& [waiter_id, waiter] : waiters_) {
        auto worker = workers_.find(waiter.worker_id);
        if (worker == workers_.end() || worker->second.info.draining()) continue;
        const kiln::v1::Slot* slot = nullptr;
        const kiln::v1::Device* device = SlotDeviceLocked(waiter.worker_id, waiter.slot, &slot);
        if (device != nullptr &&
            FittingTierLocked(waiter.worker_id, *device, *slot, spec,
                              ReservedLocked(waiter.worker_id, device->id()), now)
                .has_value()) {
          fits = true;
          break;
        }
      }
      parked = parked_fits.emplace(class_key, fits).first;
    }
    if (parked->second) continue;

    // The first victim (in victim order) of a low enough priority whose slot runs the job
    // once the victim's memory is freed.
    std::optional<size_t> chosen;
    std::optional<int> tier;
    for (size_t i = 0; i < victims.size(); ++i) {
      const Victim& victim = victims[i];
      if (victim.priority > spec.priority() - gap) break;  // sorted: none further qualifies
      if (victim.active == nullptr) continue;              // preempted already
      if (!options_.preemption_across_tenants &&
          auth::EffectiveTenant(victim.active->job().tenant()) != tenant) {
        continue;
      }
      const std::string memory_key = MemoryKey(victim.worker_id, victim.device->id());
      auto kept = promised.find(memory_key);
      const int64_t reserved = ReservedLocked(victim.worker_id, victim.device->id()) -
                               victim.bytes + (kept == promised.end() ? 0 : kept->second);
      tier = FittingTierLocked(victim.worker_id, *victim.device, *victim.slot, spec, reserved, now);
      if (!tier.has_value()) continue;
      // The sharing policy's limits, as they would be without the victim: preempting
      // must not take a tenant or a label pool past its limit.
      fair_share_.CountRunning(victim.active->job(), -1);
      const bool blocked = fair_share_.Blocked(share);
      fair_share_.CountRunning(victim.active->job(), +1);
      if (!blocked) {
        chosen = i;
        break;
      }
    }
    if (!chosen.has_value()) {
      no_victim.insert(failure_key);
      continue;
    }
    Victim& victim = victims[*chosen];
    changed.push_back(victim.active->job().id());
    PreemptAttemptLocked(*victim.active, *candidate.active, now - candidate.ready, writes);
    const std::string memory_key = MemoryKey(victim.worker_id, victim.device->id());
    const int64_t bytes = TierRequirements(spec, *tier).min_device_memory_bytes();
    promised[memory_key] += bytes;
    slot_reservations_[SlotKey(victim.worker_id, victim.slot_index)] =
        SlotReservation{job.id(), now + options_.lease_duration, memory_key, bytes};
    victim.active = nullptr;
  }
  if (!changed.empty()) CommitLocked(std::move(writes), std::move(changed), [](absl::Status) {});
}

void Scheduler::PreemptAttemptLocked(ActiveJob& victim, const ActiveJob& by, absl::Duration waited,
                                     store::WriteSet& writes) {
  const absl::Time now = clock_->Now();
  kiln::v1::Job& job = victim.job();
  kiln::v1::Attempt* attempt = job.mutable_attempts(job.attempts_size() - 1);
  const std::string why =
      absl::StrCat("preempted by ", by.job().id(), " (priority ", by.job().spec().priority(),
                   " over ", job.spec().priority(), ") after it waited ",
                   absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1))));
  *attempt->mutable_ended_at() = ToProtoTime(now);
  attempt->set_exit_reason(kiln::v1::EXIT_REASON_PREEMPTED);
  attempt->set_message(why);
  attempt->set_not_counted(true);
  ClearLeaseLocked(victim);
  writes.DeleteLease(job.id());
  // Requeued at once: it waits like a new job (its grace period starts now).
  job.set_state(kiln::v1::JOB_STATE_QUEUED);
  *job.mutable_not_before() = ToProtoTime(now);
  job.set_progress(0);
  job.clear_progress_message();
  job.set_status_message(
      absl::StrCat(why, "; requeued (attempt ", attempt->number(), " not counted)"));
  writes.MarkQueued(job.id());
  EnqueueLocked(victim);
  TouchLocked(victim);
  writes.PutJob(job);
  ++stats_.preemptions;
  ObserveEndLocked(victim, /*attempt_ended=*/true);
}

bool Scheduler::TryAssignReservedLocked(const std::string& worker_id, int slot_index,
                                        Callback<kiln::v1::AcquireJobResponse>& done) {
  if (slot_reservations_.empty()) return false;
  auto it = slot_reservations_.find(SlotKey(worker_id, slot_index));
  if (it == slot_reservations_.end()) return false;
  // One offer: whatever happens now, the slot is an ordinary one again.
  const SlotReservation reservation = std::move(it->second);
  slot_reservations_.erase(it);
  const absl::Time now = clock_->Now();
  if (reservation.until <= now) return false;
  auto job = jobs_.find(reservation.job_id);
  if (job == jobs_.end() || job->second.state() != kiln::v1::JOB_STATE_QUEUED) return false;
  if (auto worker = workers_.find(worker_id);
      worker == workers_.end() || worker->second.info.draining()) {
    return false;
  }
  const kiln::v1::Slot* slot = nullptr;
  const kiln::v1::Device* device = SlotDeviceLocked(worker_id, slot_index, &slot);
  if (device == nullptr) return false;
  const std::optional<int> tier =
      FittingTierLocked(worker_id, *device, *slot, job->second.job().spec(),
                        ReservedLocked(worker_id, device->id()), now);
  if (!tier.has_value() || fair_share_.Blocked(fair_share_.ShareOf(job->second.job())) ||
      !queue_.Remove(reservation.job_id)) {
    return false;
  }
  AssignLocked(job->second, worker_id, slot_index, *device, *tier, done);
  return true;
}

}  // namespace kiln::core
