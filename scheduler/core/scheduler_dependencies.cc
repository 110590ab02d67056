// The Scheduler's job dependencies and fan-out (docs/pipelines.md): checking the
// dependencies of submitted specs, the reverse index dependency -> dependents, settling
// WAITING jobs when a dependency finishes, cancelling children with their parent,
// SubmitChildJobs and the rebuild of these indexes after a restart. Same lock and
// threading as scheduler.cc; kept apart from it so the two change independently.
#include <algorithm>
#include <cstdio>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "scheduler/auth/caller.h"
#include "scheduler/core/scheduler.h"

namespace kiln::core {
namespace {

using kiln::v1::Job;
using kiln::v1::JobState;

// Jobs a dependency records as its dependents (Job.dependent_ids); the in-memory index
// has no such bound.
constexpr int kMaxRecordedDependents = 1000;

bool Finished(JobState state) {
  return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
         state == kiln::v1::JOB_STATE_CANCELLED;
}

std::string ShortState(JobState state) {
  std::string name = kiln::v1::JobState_Name(state);
  return name.substr(std::string("JOB_STATE_").size());
}

// Why a job is cancelled with its dependency `index` (`dep_id`), which finished as `state`.
std::string DependencyFailedMessage(int index, const std::string& dep_id, JobState state,
                                    const std::string& dep_message) {
  std::string message = absl::StrCat("cancelled: dependency ", dep_id, " (dependencies[", index,
                                     "]) ", ShortState(state));
  if (!dep_message.empty()) absl::StrAppend(&message, ": ", dep_message.substr(0, 512));
  return message;
}

int DependencyIndex(const kiln::v1::JobSpec& spec, const std::string& dep_id) {
  for (int j = 0; j < spec.dependencies_size(); ++j) {
    if (spec.dependencies(j).job_id() == dep_id) return j;
  }
  return -1;
}

}  // namespace

absl::StatusOr<Scheduler::DependencyCheck> Scheduler::CheckDependenciesLocked(
    kiln::v1::JobSpec& spec, size_t index, const std::vector<kiln::v1::SubmitJobResponse>& results,
    const std::string& field) {
  DependencyCheck check;
  for (int j = 0; j < spec.dependencies_size(); ++j) {
    kiln::v1::Dependency* dep = spec.mutable_dependencies(j);
    const std::string at = absl::StrCat(field, ".dependencies[", j, "]");
    if (dep->target_case() == kiln::v1::Dependency::kBatchIndex) {
      if (static_cast<size_t>(dep->batch_index()) >= index) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".batch_index: ", dep->batch_index(),
            " must name an earlier spec of the batch (0..", static_cast<int64_t>(index) - 1,
            "); a self or forward reference could close a cycle"));
      }
      // The stored spec names every dependency by id.
      dep->set_job_id(results[dep->batch_index()].job().id());
    }
    const std::string& dep_id = dep->job_id();
    for (int k = 0; k < j; ++k) {
      if (spec.dependencies(k).job_id() == dep_id) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": job ", dep_id, " is already dependencies[", k, "]"));
      }
    }
    JobState state;
    std::string message;
    if (auto it = jobs_.find(dep_id); it != jobs_.end()) {
      state = it->second.state();
      message = it->second.job().status_message();
    } else {
      KILN_ASSIGN_OR_RETURN(std::optional<Job> stored, store_->GetJob(dep_id));
      if (!stored.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".job_id: job ", dep_id, " not found"));
      }
      state = stored->state();
      message = stored->status_message();
    }
    if (!Finished(state)) {
      check.pending.push_back(dep_id);
    } else if (state != kiln::v1::JOB_STATE_SUCCEEDED && !dep->run_on_failure() &&
               check.blocked.empty()) {
      check.blocked = DependencyFailedMessage(j, dep_id, state, message);
    }
  }
  return check;
}

absl::Status Scheduler::AddDependencyOutputsLocked(Job& job) const {
  absl::flat_hash_set<std::string> names;
  for (const kiln::v1::BlobRef& input : job.spec().inputs()) names.insert(input.name());
  std::vector<kiln::v1::BlobRef> added;
  for (int j = 0; j < job.spec().dependencies_size(); ++j) {
    const kiln::v1::Dependency& dep = job.spec().dependencies(j);
    std::optional<Job> stored;
    const Job* dep_job = nullptr;
    if (auto it = jobs_.find(dep.job_id()); it != jobs_.end()) {
      dep_job = &it->second.job();
    } else {
      KILN_ASSIGN_OR_RETURN(stored, store_->GetJob(dep.job_id()));
      if (!stored.has_value()) {
        return absl::DataLossError(absl::StrCat("dependency ", dep.job_id(), " is missing"));
      }
      dep_job = &*stored;
    }
    for (const kiln::v1::BlobRef& output : dep_job->outputs()) {
      kiln::v1::BlobRef input = output;
      input.set_name(absl::StrCat(dep.input_prefix(), output.name()));
      if (!names.insert(input.name()).second) {
        return absl::FailedPreconditionError(absl::StrCat(
            "input \"", input.name(), "\" of dependency ", dep.job_id(), " (dependencies[", j,
            "]) clashes with another input; give the dependency an input_prefix"));
      }
      added.push_back(std::move(input));
    }
  }
  if (job.spec().inputs_size() + added.size() > static_cast<size_t>(options_.limits.max_inputs)) {
    return absl::FailedPreconditionError(
        absl::StrCat("its dependencies' outputs make ", job.spec().inputs_size() + added.size(),
                     " inputs, more than the limit of ", options_.limits.max_inputs));
  }
  for (kiln::v1::BlobRef& input : added) *job.mutable_spec()->add_inputs() = std::move(input);
  return absl::OkStatus();
}

void Scheduler::LinkNewJobsLocked(const std::vector<std::string>& new_ids,
                                  const std::string& parent_id, store::WriteSet& writes,
                                  std::vector<std::string>& changed) {
  absl::flat_hash_set<std::string> touched;  // existing jobs whose record changes
  for (const std::string& id : new_ids) {
    ActiveJob& active = jobs_.at(id);
    const JobState state = active.state();
    if (Finished(state)) {
      // Resolved at submit (a dependency had already failed): nothing waits.
      if (state == kiln::v1::JOB_STATE_CANCELLED) ++stats_.jobs_cancelled;
      if (state == kiln::v1::JOB_STATE_FAILED) ++stats_.jobs_failed;
      ObserveEndLocked(active, /*attempt_ended=*/false);
    }
    if (!parent_id.empty()) {
      if (!Finished(state)) children_[parent_id].insert(id);
      if (auto parent = jobs_.find(parent_id); parent != jobs_.end()) {
        parent->second.job().add_child_job_ids(id);
        touched.insert(parent_id);
      }
    }
    if (state != kiln::v1::JOB_STATE_WAITING) continue;
    waiting_.insert(id);
    for (const std::string& dep_id : active.waiting_on) {
      dependents_[dep_id].push_back(id);
      auto dep = jobs_.find(dep_id);
      // A dependency new in this batch is written with this commit anyway.
      if (dep == jobs_.end() || dep->second.job().dependent_ids_size() >= kMaxRecordedDependents) {
        continue;
      }
      dep->second.job().add_dependent_ids(id);
      touched.insert(dep_id);
    }
  }
  const absl::flat_hash_set<std::string> fresh(new_ids.begin(), new_ids.end());
  for (const std::string& id : touched) {
    ActiveJob& active = jobs_.at(id);
    if (!fresh.contains(id)) {
      TouchLocked(active);
      changed.push_back(id);
    }
    writes.PutJob(active.job());  // later in the batch than its first put: this one wins
  }
}

void Scheduler::PropagateFinishLocked(const std::string& job_id, store::WriteSet& writes,
                                      std::vector<std::string>& changed) {
  std::vector<std::string> finished = {job_id};
  while (!finished.empty()) {
    const std::string id = std::move(finished.back());
    finished.pop_back();
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    const JobState state = it->second.state();
    const std::string message = it->second.job().status_message();
    const std::string parent_id = it->second.job().parent_job_id();
    if (!parent_id.empty()) {
      if (auto parent = children_.find(parent_id); parent != children_.end()) {
        parent->second.erase(id);
        if (parent->second.empty()) children_.erase(parent);
      }
    }
    // Cancelling a parent cancels its unfinished children (they are its work).
    if (auto kids = children_.find(id); kids != children_.end()) {
      const absl::flat_hash_set<std::string> children = std::move(kids->second);
      children_.erase(kids);
      if (state == kiln::v1::JOB_STATE_CANCELLED) {
        for (const std::string& child_id : children) {
          auto child = jobs_.find(child_id);
          if (child == jobs_.end() || Finished(child->second.state())) continue;
          CancelJobLocked(child->second, absl::StrCat("cancelled: parent ", id, " was cancelled"),
                          writes);
          changed.push_back(child_id);
          finished.push_back(child_id);
        }
      }
    }
    auto deps = dependents_.find(id);
    if (deps == dependents_.end()) continue;
    const std::vector<std::string> dependents = std::move(deps->second);
    dependents_.erase(deps);
    for (const std::string& dependent_id : dependents) {
      auto dependent = jobs_.find(dependent_id);
      if (dependent == jobs_.end() || dependent->second.state() != kiln::v1::JOB_STATE_WAITING) {
        continue;  // cancelled meanwhile
      }
      SettleDependentLocked(dependent->second, id, state, message, writes, changed, finished);
    }
  }
}

void Scheduler::SettleDependentLocked(ActiveJob& waiting, const std::string& dep_id, JobState state,
                                      const std::string& dep_message, store::WriteSet& writes,
                                      std::vector<std::string>& changed,
                                      std::vector<std::string>& finished) {
  Job& job = waiting.job();
  std::vector<std::string>& waiting_on = waiting.waiting_on;
  waiting_on.erase(std::remove(waiting_on.begin(), waiting_on.end(), dep_id), waiting_on.end());
  const int index = DependencyIndex(job.spec(), dep_id);
  const bool run_anyway = index >= 0 && job.spec().dependencies(index).run_on_failure();
  if (state != kiln::v1::JOB_STATE_SUCCEEDED && !run_anyway) {
    CancelJobLocked(waiting, DependencyFailedMessage(index, dep_id, state, dep_message), writes);
    changed.push_back(job.id());
    finished.push_back(job.id());
    return;
  }
  if (!waiting_on.empty()) {
    job.set_status_message(
        absl::StrCat("waiting for dependencies: ", absl::StrJoin(waiting_on, ", ")));
    TouchLocked(waiting);
    writes.PutJob(job);
    changed.push_back(job.id());
    return;
  }
  ReleaseWaitingLocked(waiting, writes, changed, finished);
}

void Scheduler::ReleaseWaitingLocked(ActiveJob& waiting, store::WriteSet& writes,
                                     std::vector<std::string>& changed,
                                     std::vector<std::string>& finished) {
  Job& job = waiting.job();
  waiting_.erase(job.id());
  writes.UnmarkWaiting(job.id());
  TouchLocked(waiting);
  changed.push_back(job.id());
  if (absl::Status added = AddDependencyOutputsLocked(job); !added.ok()) {
    job.set_state(kiln::v1::JOB_STATE_FAILED);
    job.set_status_message(absl::StrCat("failed: ", added.message()));
    *job.mutable_finished_at() = ToProtoTime(clock_->Now());
    writes.PutJob(job);
    ++stats_.jobs_failed;
    ObserveEndLocked(waiting, /*attempt_ended=*/false);
    finished.push_back(job.id());
    return;
  }
  job.set_state(kiln::v1::JOB_STATE_QUEUED);
  job.set_status_message("queued: its dependencies finished");
  // It became ready now, not at submit: queue-wait metrics and preemption's grace period
  // count from here.
  *job.mutable_not_before() = ToProtoTime(clock_->Now());
  writes.PutJob(job);
  writes.MarkQueued(job.id());
  EnqueueLocked(waiting);
}

absl::Status Scheduler::RecoverPipelinesLocked(const std::vector<std::string>& waiting_ids) {
  // children_ was filled while the jobs were read (RecoverLocked).
  // A dependency that succeeded earlier is satisfied. One that failed (or is missing)
  // while a dependent still waits, or a dependent whose dependencies all finished, can
  // only come from a store written otherwise (a finish and its settling are one write):
  // it is settled now.
  std::vector<std::tuple<std::string, std::string, JobState, std::string>> blocked;
  std::vector<std::string> released;
  for (const std::string& id : waiting_ids) {
    ActiveJob& active = jobs_.at(id);
    waiting_.insert(id);
    for (const kiln::v1::Dependency& dep : active.job().spec().dependencies()) {
      const std::string& dep_id = dep.job_id();
      if (auto it = jobs_.find(dep_id); it != jobs_.end()) {
        active.waiting_on.push_back(dep_id);
        dependents_[dep_id].push_back(id);
        continue;
      }
      KILN_ASSIGN_OR_RETURN(std::optional<Job> stored, store_->GetJob(dep_id));
      if (stored.has_value() && (stored->state() == kiln::v1::JOB_STATE_SUCCEEDED ||
                                 (Finished(stored->state()) && dep.run_on_failure()))) {
        continue;
      }
      active.waiting_on.push_back(dep_id);
      if (!stored.has_value() || !Finished(stored->state())) {
        blocked.emplace_back(id, dep_id, kiln::v1::JOB_STATE_CANCELLED,
                             stored.has_value() ? "lost from the queue" : "missing from the store");
      } else {
        blocked.emplace_back(id, dep_id, stored->state(), stored->status_message());
      }
    }
    if (active.waiting_on.empty()) released.push_back(id);
  }
  if (blocked.empty() && released.empty()) return absl::OkStatus();
  store::WriteSet writes;
  std::vector<std::string> changed;
  std::vector<std::string> finished;
  for (const auto& [id, dep_id, state, message] : blocked) {
    ActiveJob& active = jobs_.at(id);
    if (active.state() != kiln::v1::JOB_STATE_WAITING) continue;
    SettleDependentLocked(active, dep_id, state, message, writes, changed, finished);
  }
  for (const std::string& id : released) {
    ReleaseWaitingLocked(jobs_.at(id), writes, changed, finished);
  }
  for (const std::string& id : finished) PropagateFinishLocked(id, writes, changed);
  std::fprintf(stderr, "kiln-scheduler: settled %zu waiting jobs whose dependencies had finished\n",
               blocked.size() + released.size());
  CommitLocked(std::move(writes), std::move(changed), [](absl::Status status) {
    if (!status.ok()) {
      std::fprintf(stderr, "kiln-scheduler: storing settled dependencies failed: %s\n",
                   std::string(status.message()).c_str());
    }
  });
  return absl::OkStatus();
}

void Scheduler::SubmitChildJobs(const kiln::v1::SubmitChildJobsRequest& request,
                                Callback<kiln::v1::SubmitChildJobsResponse> done) {
  if (!IsSafeName(request.call_id(), 64)) {
    done(absl::InvalidArgumentError("call_id: must be 1..64 characters of [A-Za-z0-9._-]"));
    return;
  }
  std::vector<kiln::v1::JobSpec> specs(request.specs().begin(), request.specs().end());
  // Request ids scoped by the parent make a retried call (or a retried attempt, for
  // children that carry their own id) find the children it already made.
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string own = specs[i].client_request_id();
    if (own.size() > options_.limits.max_request_id_length) continue;  // refused by validation
    specs[i].set_client_request_id(
        own.empty()
            ? absl::StrCat(request.job_id(), "/", request.attempt(), "/", request.call_id(), "/", i)
            : absl::StrCat(request.job_id(), "/", own));
  }
  // Children belong to their parent's tenant. Their inputs are not checked against the
  // tenant's blobs: the worker is fenced to the parent's lease, and blobs it uploaded for
  // them are its own until a job names them.
  SubmitOrigin origin;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = jobs_.find(request.job_id()); it != jobs_.end()) {
      origin.tenant = auth::EffectiveTenant(it->second.job().tenant());
    }
  }
  origin.any_input_blob = true;
  SubmitImpl(
      std::move(specs), /*batch=*/true, origin, &request,
      [done = std::move(done)](absl::StatusOr<std::vector<kiln::v1::SubmitJobResponse>> results) {
        if (!results.ok()) {
          done(results.status());
          return;
        }
        kiln::v1::SubmitChildJobsResponse response;
        for (auto& result : *results) *response.add_results() = std::move(result);
        done(std::move(response));
      });
}

absl::Status Scheduler::CheckParentLocked(const kiln::v1::SubmitChildJobsRequest& parent) {
  KILN_ASSIGN_OR_RETURN(ActiveJob * active,
                        FindLeasedLocked(parent.worker_id(), parent.job_id(), parent.attempt()));
  if (active->job().child_job_ids_size() + parent.specs_size() >
      options_.limits.max_children_per_job) {
    return absl::InvalidArgumentError(absl::StrCat(
        "specs: job ", parent.job_id(), " has ", active->job().child_job_ids_size(), " children; ",
        parent.specs_size(), " more exceed the limit of ", options_.limits.max_children_per_job));
  }
  return absl::OkStatus();
}

void Scheduler::ApplyDependencyCheckLocked(DependencyCheck check, const std::string& parent_id,
                                           ActiveJob& active, store::WriteSet& writes) {
  Job& job = active.job();
  if (!parent_id.empty()) job.set_parent_job_id(parent_id);
  if (!check.blocked.empty()) {
    // A dependency already failed or was cancelled: resolved at once.
    job.set_state(kiln::v1::JOB_STATE_CANCELLED);
    job.set_status_message(check.blocked);
    *job.mutable_finished_at() = job.created_at();
  } else if (!check.pending.empty()) {
    job.set_state(kiln::v1::JOB_STATE_WAITING);
    job.set_status_message(
        absl::StrCat("waiting for dependencies: ", absl::StrJoin(check.pending, ", ")));
    active.waiting_on = std::move(check.pending);
    writes.MarkWaiting(job.id());
  } else if (job.spec().dependencies_size() > 0) {
    if (absl::Status added = AddDependencyOutputsLocked(job); !added.ok()) {
      job.set_state(kiln::v1::JOB_STATE_FAILED);
      job.set_status_message(absl::StrCat("failed: ", added.message()));
      *job.mutable_finished_at() = job.created_at();
    }
  }
}

}  // namespace kiln::core
