#include "client/kilnctl_format.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "client/kilnctl_progress.h"
#include "client/kilnctl_structured.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::kilnctl {
namespace {

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

std::string EnumShortName(const std::string& full, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(full, prefix));
}

std::string FormatTime(const google::protobuf::Timestamp& t, absl::TimeZone zone) {
  if (!IsSet(t)) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", FromProtoTime(t), zone);
}

// "2023-11-14 22:13:20 UTC (5m ago)".
std::string FormatTimeAndAge(const google::protobuf::Timestamp& t, absl::Time now,
                             absl::TimeZone zone) {
  if (!IsSet(t)) return "-";
  return absl::StrCat(FormatTime(t, zone), " (", FormatAge(FromProtoTime(t), now), " ago)");
}

std::string Indent(absl::string_view text, absl::string_view prefix) {
  std::string out =
      absl::StrCat(prefix, absl::StrReplaceAll(text, {{"\n", absl::StrCat("\n", prefix)}}));
  return out;
}

std::string LastWorker(const v1::Job& job) {
  if (job.attempts().empty()) return "-";
  const std::string& worker = job.attempts().rbegin()->worker_id();
  return worker.empty() ? "-" : worker;
}

std::string DeviceSummary(const v1::Device& device) {
  std::string out = device.id();
  if (device.compute_capability() != 0) {
    absl::StrAppend(&out, "(", FormatComputeCapability(device.compute_capability()), ",",
                    absl::StrReplaceAll(FormatBytes(device.total_memory_bytes()), {{" ", ""}}),
                    ")");
  }
  if (!device.runnable()) absl::StrAppend(&out, "!");
  return out;
}

// "key: value" lines with the values aligned.
void Field(std::string& out, absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out, key, ":", std::string(key.size() < 13 ? 13 - key.size() : 1, ' '), value,
                  "\n");
}

}  // namespace

int ExitCodeForStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

int ExitCodeForWaitStatus(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kDeadlineExceeded) return kExitWaitTimeout;
  return ExitCodeForStatus(status);
}

int ExitCodeForJobState(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_FAILED:
      return kExitJobFailed;
    case v1::JOB_STATE_CANCELLED:
      return kExitJobCancelled;
    default:
      return kExitOk;
  }
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string JobStateName(v1::JobState state) {
  if (state == v1::JOB_STATE_UNSPECIFIED || !v1::JobState_IsValid(state)) return "unknown";
  return EnumShortName(v1::JobState_Name(state), "JOB_STATE_");
}

// The requirements as indented "name: value" lines.
std::string FormatRequirements(const v1::Requirements& req, absl::string_view indent) {
  std::string out =
      absl::StrCat(indent, "accelerator:        ", AcceleratorName(req.accelerator()), "\n");
  if (req.min_compute_capability() != 0 || req.max_compute_capability() != 0) {
    absl::StrAppend(
        &out, indent, "compute capability: ",
        req.min_compute_capability() != 0
            ? absl::StrCat(">= ", FormatComputeCapability(req.min_compute_capability()))
            : "",
        req.min_compute_capability() != 0 && req.max_compute_capability() != 0 ? ", " : "",
        req.max_compute_capability() != 0
            ? absl::StrCat("<= ", FormatComputeCapability(req.max_compute_capability()))
            : "",
        "\n");
  }
  if (!req.architectures().empty()) {
    absl::StrAppend(&out, indent, "architectures:      ", absl::StrJoin(req.architectures(), ", "),
                    "\n");
  }
  if (!req.features().empty()) {
    absl::StrAppend(&out, indent, "features:           ", absl::StrJoin(req.features(), ", "),
                    "\n");
  }
  if (req.min_device_memory_bytes() != 0) {
    absl::StrAppend(&out, indent,
                    "device memory:      >= ", FormatBytes(req.min_device_memory_bytes()), "\n");
  }
  return out;
}

std::string ExitReasonName(v1::ExitReason reason) {
  if (reason == v1::EXIT_REASON_UNSPECIFIED || !v1::ExitReason_IsValid(reason)) return "-";
  return EnumShortName(v1::ExitReason_Name(reason), "EXIT_REASON_");
}

std::string AcceleratorName(v1::Accelerator accelerator) {
  if (accelerator == v1::ACCELERATOR_UNSPECIFIED || !v1::Accelerator_IsValid(accelerator)) {
    return "any";
  }
  return EnumShortName(v1::Accelerator_Name(accelerator), "ACCELERATOR_");
}

std::string FormatAge(absl::Time then, absl::Time now) {
  if (then == absl::UnixEpoch()) return "-";
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(now - then));
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 120 * 60) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatComputeCapability(int32_t cc) {
  if (cc == 0) return "-";
  return absl::StrCat(cc / 10, ".", cc % 10);
}

std::string FormatProgress(const v1::Job& job) {
  switch (job.state()) {
    case v1::JOB_STATE_RUNNING:
      return absl::StrCat(static_cast<int>(std::floor(std::clamp(job.progress(), 0.0, 1.0) * 100)),
                          "%");
    case v1::JOB_STATE_SUCCEEDED:
      return "100%";
    default:
      return "-";
  }
}

std::string FormatTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) widths[c] = headers[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < widths.size(); ++c) {
      const std::string& cell = c < row.size() ? row[c] : "";
      absl::StrAppend(&line, cell);
      if (c + 1 < widths.size()) line.append(widths[c] - cell.size() + 3, ' ');
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
  };
  append_row(headers);
  for (const auto& row : rows) append_row(row);
  return out;
}

std::string FormatJobsTable(const std::vector<v1::Job>& jobs, absl::Time now, bool wide) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(jobs.size());
  for (const v1::Job& job : jobs) {
    std::string attempts = absl::StrCat(job.attempts_size());
    if (job.spec().max_attempts() > 0) absl::StrAppend(&attempts, "/", job.spec().max_attempts());
    std::vector<std::string> row = {
        job.id(),       job.spec().task(),   JobStateName(job.state()),
        attempts,       FormatProgress(job), FormatAge(FromProtoTime(job.created_at()), now),
        LastWorker(job)};
    if (wide) {
      const v1::Attempt* last = job.attempts().empty() ? nullptr : &*job.attempts().rbegin();
      std::vector<std::string> labels;
      for (const auto& [key, value] : job.spec().labels()) {
        labels.push_back(absl::StrCat(key, "=", value));
      }
      std::sort(labels.begin(), labels.end());  // Proto maps have no stable order.
      row.push_back(job.spec().model().empty() ? "-" : job.spec().model());
      row.push_back(absl::StrCat(job.spec().priority()));
      row.push_back(last == nullptr || last->tier().empty() ? "-" : last->tier());
      row.push_back(last == nullptr || last->device().empty() ? "-" : last->device());
      row.push_back(labels.empty() ? "-" : absl::StrJoin(labels, ","));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> headers = {"ID",       "TASK", "STATE", "ATTEMPTS",
                                      "PROGRESS", "AGE",  "WORKER"};
  if (wide) headers.insert(headers.end(), {"MODEL", "PRIORITY", "TIER", "DEVICE", "LABELS"});
  return FormatTable(headers, rows);
}

std::string WorkerStatus(const v1::WorkerInfo& worker) {
  if (worker.lost()) return worker.draining() ? "lost,draining" : "lost";
  return worker.draining() ? "draining" : "ready";
}

std::string FormatWorkersTable(const std::vector<v1::WorkerInfo>& workers, absl::Time now,
                               bool wide) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(workers.size());
  for (const v1::WorkerInfo& worker : workers) {
    std::vector<std::string> devices;
    for (const v1::Device& device : worker.capabilities().devices()) {
      devices.push_back(DeviceSummary(device));
    }
    std::vector<std::string> row = {
        worker.id(),
        worker.capabilities().hostname().empty() ? "-" : worker.capabilities().hostname(),
        absl::StrCat(worker.capabilities().slots_size()),
        devices.empty() ? "-" : absl::StrJoin(devices, ","),
        FormatAge(FromProtoTime(worker.last_seen_at()), now),
        absl::StrCat(worker.job_ids_size()),
        WorkerStatus(worker)};
    if (wide) {
      std::vector<std::string> tasks, models;
      for (const v1::Slot& slot : worker.capabilities().slots()) {
        tasks.insert(tasks.end(), slot.tasks().begin(), slot.tasks().end());
      }
      std::sort(tasks.begin(), tasks.end());
      tasks.erase(std::unique(tasks.begin(), tasks.end()), tasks.end());
      for (const v1::ModelAvailability& model : worker.capabilities().models()) {
        models.push_back(absl::StrCat(model.name(), "@", model.version(),
                                      model.unavailable_reason().empty() ? "" : "!"));
      }
      std::sort(models.begin(), models.end());
      row.push_back(worker.capabilities().version().empty() ? "-"
                                                            : worker.capabilities().version());
      row.push_back(tasks.empty() ? "-" : absl::StrJoin(tasks, ","));
      row.push_back(models.empty() ? "-" : absl::StrJoin(models, ","));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> headers = {"ID",        "HOST", "SLOTS", "DEVICES",
                                      "LAST SEEN", "JOBS", "STATUS"};
  if (wide) headers.insert(headers.end(), {"VERSION", "TASKS", "MODELS"});
  return FormatTable(headers, rows);
}

std::string FormatModelsTable(const std::vector<v1::WorkerInfo>& workers, bool wide) {
  struct Row {
    std::string runtime;
    std::vector<std::string> workers;
    int unavailable = 0;
    std::string reason;
  };
  std::map<std::pair<std::string, std::string>, Row> models;  // (name, version): sorted.
  for (const v1::WorkerInfo& worker : workers) {
    for (const v1::ModelAvailability& model : worker.capabilities().models()) {
      Row& row = models[{model.name(), model.version()}];
      if (row.runtime.empty()) row.runtime = model.runtime();
      if (model.unavailable_reason().empty()) {
        row.workers.push_back(worker.id());
      } else {
        ++row.unavailable;
        if (row.reason.empty())
          row.reason = absl::StrCat(worker.id(), ": ", model.unavailable_reason());
      }
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, row] : models) {
    std::vector<std::string> cells = {
        key.first, key.second.empty() ? "-" : key.second, row.runtime.empty() ? "-" : row.runtime,
        absl::StrCat(row.workers.size()), absl::StrCat(row.unavailable)};
    if (wide) {
      cells.push_back(row.workers.empty() ? "-" : absl::StrJoin(row.workers, ","));
      cells.push_back(row.reason.empty() ? "-" : row.reason);
    }
    rows.push_back(std::move(cells));
  }
  std::vector<std::string> headers = {"MODEL", "VERSION", "RUNTIME", "WORKERS", "UNAVAILABLE"};
  if (wide) headers.insert(headers.end(), {"ON", "WHY NOT"});
  return FormatTable(headers, rows);
}

std::string DescribeWorker(const v1::WorkerInfo& worker, absl::Time now, absl::TimeZone zone) {
  const v1::WorkerCapabilities& caps = worker.capabilities();
  auto when = [&](const google::protobuf::Timestamp& t) {
    if (!IsSet(t)) return std::string("-");
    const absl::Time time = FromProtoTime(t);
    return absl::StrCat(absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", time, zone), " (",
                        FormatAge(time, now), " ago)");
  };
  std::string out;
  Field(out, "ID", worker.id());
  Field(out, "Host", caps.hostname().empty() ? "-" : caps.hostname());
  Field(out, "Version", caps.version().empty() ? "-" : caps.version());
  Field(out, "Status", WorkerStatus(worker));
  Field(out, "Registered", when(worker.registered_at()));
  Field(out, "Last seen", when(worker.last_seen_at()));
  Field(out, "Jobs", worker.job_ids().empty() ? "-" : absl::StrJoin(worker.job_ids(), ", "));
  absl::StrAppend(&out, "Devices:\n");
  for (const v1::Device& device : caps.devices()) {
    absl::StrAppend(&out, "  ", device.id(), "  ", device.name().empty() ? "-" : device.name(),
                    "\n      compute capability ",
                    FormatComputeCapability(device.compute_capability()), ", memory ",
                    FormatBytes(device.total_memory_bytes()), " (",
                    FormatBytes(device.free_memory_bytes()), " free)");
    if (!device.features().empty()) {
      absl::StrAppend(&out, ", features ", absl::StrJoin(device.features(), ","));
    }
    absl::StrAppend(
        &out, "\n      ",
        device.runnable() ? "runnable" : absl::StrCat("NOT runnable: ", device.unrunnable_reason()),
        "\n");
  }
  absl::StrAppend(&out, "Slots:\n");
  for (const v1::Slot& slot : caps.slots()) {
    absl::StrAppend(&out, "  #", slot.index(), "  device ", slot.device_id(), "  tasks ",
                    slot.tasks().empty() ? "-" : absl::StrJoin(slot.tasks(), ","));
    if (!slot.models().empty())
      absl::StrAppend(&out, "  models ", absl::StrJoin(slot.models(), ","));
    absl::StrAppend(&out, "\n");
  }
  if (!caps.models().empty()) {
    absl::StrAppend(&out, "Models:\n");
    for (const v1::ModelAvailability& model : caps.models()) {
      absl::StrAppend(&out, "  ", model.name(), "@", model.version(), "  ", model.runtime(),
                      model.unavailable_reason().empty()
                          ? ""
                          : absl::StrCat("  unavailable: ", model.unavailable_reason()),
                      "\n");
    }
  }
  return out;
}

std::string DescribeJob(const v1::Job& job, absl::Time now, absl::TimeZone zone) {
  const v1::JobSpec& spec = job.spec();
  std::string out;
  Field(out, "ID", job.id());
  Field(out, "Task", spec.task());
  Field(out, "Model", spec.model().empty() ? "-" : spec.model());
  Field(out, "State", JobStateName(job.state()));
  if (!job.status_message().empty()) Field(out, "Status", job.status_message());
  if (job.state() == v1::JOB_STATE_RUNNING) {
    Field(out, "Progress",
          absl::StrCat(FormatProgress(job), job.progress_message().empty() ? "" : "  ",
                       job.progress_message()));
  }
  Field(out, "Priority", absl::StrCat(spec.priority()));
  Field(out, "Max attempts",
        spec.max_attempts() > 0 ? absl::StrCat(spec.max_attempts()) : "scheduler default");
  Field(out, "Timeout",
        spec.has_timeout() ? absl::FormatDuration(FromProtoDuration(spec.timeout())) : "none");
  std::vector<std::string> labels;
  for (const auto& [key, value] : spec.labels()) labels.push_back(absl::StrCat(key, "=", value));
  std::sort(labels.begin(), labels.end());  // Proto maps have no stable order.
  Field(out, "Labels", labels.empty() ? "-" : absl::StrJoin(labels, ", "));
  if (!spec.client_request_id().empty()) Field(out, "Request ID", spec.client_request_id());
  if (!job.parent_job_id().empty()) Field(out, "Parent", job.parent_job_id());
  if (!spec.dependencies().empty()) {
    absl::StrAppend(&out, "Dependencies:\n");
    for (const v1::Dependency& dep : spec.dependencies()) {
      absl::StrAppend(
          &out, "  ",
          dep.has_batch_index() ? absl::StrCat("batch #", dep.batch_index()) : dep.job_id(),
          dep.run_on_failure() ? "  (runs even if it fails)" : "",
          dep.input_prefix().empty()
              ? ""
              : absl::StrCat("  inputs prefixed \"", dep.input_prefix(), "\""),
          "\n");
    }
  }
  if (!job.dependent_ids().empty()) {
    Field(out, "Dependents", absl::StrJoin(job.dependent_ids(), ", "));
  }
  if (!job.child_job_ids().empty()) {
    Field(out, "Children", absl::StrJoin(job.child_job_ids(), ", "));
  }

  if (spec.tiers().empty()) {
    absl::StrAppend(&out, "Requirements:\n", FormatRequirements(spec.requirements(), "  "));
  } else {
    absl::StrAppend(&out, "Tiers (tried in order):\n");
    for (int i = 0; i < spec.tiers_size(); ++i) {
      const v1::Tier& tier = spec.tiers(i);
      absl::StrAppend(&out, "  ", i, ". ",
                      tier.name().empty() ? absl::StrCat("tier-", i) : tier.name(),
                      tier.model().empty() ? "" : absl::StrCat("  model ", tier.model()), "\n",
                      FormatRequirements(tier.requirements(), "     "));
      if (!tier.parameters().fields().empty()) {
        absl::StrAppend(&out, "     parameters:         ", ToJson(tier.parameters(), false), "\n");
      }
    }
  }
  if (spec.has_parameters() && !spec.parameters().fields().empty()) {
    absl::StrAppend(&out, "Parameters:\n", Indent(ToJson(spec.parameters(), true), "  "), "\n");
  }
  if (!spec.inputs().empty()) {
    absl::StrAppend(&out, "Inputs:\n");
    for (const v1::BlobRef& in : spec.inputs()) {
      absl::StrAppend(&out, "  ", in.name(), "  ", in.sha256(), "  ",
                      in.size_bytes() > 0 ? FormatBytes(in.size_bytes()) : "-", "\n");
    }
  }

  Field(out, "Created", FormatTimeAndAge(job.created_at(), now, zone));
  Field(out, "Updated", FormatTimeAndAge(job.updated_at(), now, zone));
  if (IsSet(job.finished_at()))
    Field(out, "Finished", FormatTimeAndAge(job.finished_at(), now, zone));
  if (IsSet(job.not_before()) && job.state() == v1::JOB_STATE_QUEUED) {
    Field(out, "Not before", FormatTime(job.not_before(), zone));
  }

  absl::StrAppend(&out, "Attempts:", job.attempts().empty() ? " none\n" : "\n");
  for (const v1::Attempt& a : job.attempts()) {
    absl::StrAppend(&out, "  #", a.number(), "  worker ",
                    a.worker_id().empty() ? "-" : a.worker_id(), "  slot ", a.slot(), "  device ",
                    a.device().empty() ? "-" : a.device(),
                    a.tier().empty() ? "" : absl::StrCat("  tier ", a.tier()),
                    a.not_counted() ? "  (not counted)" : "", "\n");
    absl::StrAppend(&out, "      assigned ", FormatTime(a.assigned_at(), zone), ", started ",
                    FormatTime(a.started_at(), zone), ", ended ", FormatTime(a.ended_at(), zone));
    if (IsSet(a.assigned_at()) && IsSet(a.ended_at())) {
      absl::StrAppend(
          &out, " (",
          absl::FormatDuration(absl::Trunc(
              FromProtoTime(a.ended_at()) - FromProtoTime(a.assigned_at()), absl::Milliseconds(1))),
          ")");
    }
    absl::StrAppend(&out, "\n");
    if (a.exit_reason() != v1::EXIT_REASON_UNSPECIFIED || !a.message().empty()) {
      absl::StrAppend(&out, "      exit: ", ExitReasonName(a.exit_reason()),
                      a.message().empty() ? "" : absl::StrCat(": ", a.message()), "\n");
    }
  }
  if (!job.outputs().empty()) {
    absl::StrAppend(&out, "Outputs:\n");
    std::vector<std::vector<std::string>> rows;
    for (const v1::BlobRef& o : job.outputs()) {
      rows.push_back({o.name(), o.sha256(), FormatBytes(o.size_bytes())});
    }
    // A table without its header row, indented.
    std::string table = FormatTable({"", "", ""}, rows);
    table = table.substr(table.find('\n') + 1);
    absl::StrAppend(&out, Indent(absl::StripSuffix(table, "\n"), "  "), "\n");
  }
  if (job.has_result() && !job.result().fields().empty()) {
    absl::StrAppend(&out, "Result:\n", Indent(ToJson(job.result(), true), "  "), "\n");
  }
  return out;
}

std::string FormatWatchLine(const v1::Job& job, absl::TimeZone zone) {
  const std::string& message =
      job.state() == v1::JOB_STATE_RUNNING ? job.progress_message() : job.status_message();
  std::string line = absl::StrCat(
      IsSet(job.updated_at()) ? absl::FormatTime("%H:%M:%S", FromProtoTime(job.updated_at()), zone)
                              : "--:--:--",
      "  ", JobStateName(job.state()), "  ", FormatProgress(job));
  if (!message.empty()) absl::StrAppend(&line, "  ", message);
  return line;
}

std::string FormatProgressBar(const v1::Job& job, int width) {
  constexpr int kBar = 20;
  const double fraction =
      job.state() == v1::JOB_STATE_SUCCEEDED ? 1.0 : std::clamp(job.progress(), 0.0, 1.0);
  const int filled = static_cast<int>(std::floor(fraction * kBar));
  std::string line =
      absl::StrCat("[", std::string(filled, '#'), std::string(kBar - filled, '-'), "]  ",
                   absl::StrFormat("%4s", FormatProgress(job)), "  ", JobStateName(job.state()));
  const std::string& message =
      job.state() == v1::JOB_STATE_RUNNING ? job.progress_message() : job.status_message();
  if (!message.empty()) absl::StrAppend(&line, "  ", message);
  return width > 0 ? FitToColumns(line, width) : line;  // Never half a UTF-8 sequence.
}

std::string FormatOutcome(const v1::Job& job) {
  std::string line = absl::StrCat(job.id(), " ", JobStateName(job.state()));
  if (job.state() != v1::JOB_STATE_SUCCEEDED && !job.status_message().empty()) {
    absl::StrAppend(&line, ": ", job.status_message());
  }
  return line;
}

std::string ToJson(const google::protobuf::Message& message, bool multiline) {
  return ValueToJson(ToValueTree(message), multiline);
}

std::string ToYaml(const google::protobuf::Message& message) {
  return ValueToYaml(ToValueTree(message));
}

}  // namespace kiln::kilnctl
