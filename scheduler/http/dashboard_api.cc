#include "scheduler/http/dashboard_api.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/json_quote.h"
#include "common/proto_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "scheduler/http/web_assets.h"

namespace kiln::http {
namespace {

using kiln::v1::Job;

constexpr absl::string_view kApiPrefix = "/api/v1/";

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing our own messages cannot fail (no Any with unknown types).
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

// "page_size: must be ..." names the parameter before the colon (the convention of
// the core's and this file's messages); empty when the message does not start so.
std::string ParameterOf(absl::string_view message) {
  const size_t colon = message.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon > 64) return "";
  for (const char c : message.substr(0, colon)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') return "";
  }
  return std::string(message.substr(0, colon));
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response;
  response.status = HttpStatusOf(status);
  const std::string parameter = ParameterOf(status.message());
  response.body = absl::StrCat(
      "{\"error\":{\"code\":", JsonQuote(absl::StatusCodeToString(status.code())),
      ",\"message\":", JsonQuote(status.message()),
      parameter.empty() ? "" : absl::StrCat(",\"parameter\":", JsonQuote(parameter)), "}}");
  return response;
}

HttpResponse JsonResponse(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

absl::Status BadParameter(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
}

// Waits for a scheduler callback on this (civetweb) thread, at most `timeout`. The
// callback may run later, on another thread: the state is shared.
template <typename T>
class Waiter {
 public:
  Waiter() : state_(std::make_shared<State>()) {}
  std::function<void(absl::StatusOr<T>)> Callback() {
    std::shared_ptr<State> state = state_;
    return [state](absl::StatusOr<T> result) {
      state->result = std::move(result);
      state->done.Notify();
    };
  }
  absl::StatusOr<T> Wait(absl::Duration timeout) {
    if (!state_->done.WaitForNotificationWithTimeout(timeout)) {
      return absl::DeadlineExceededError("the scheduler did not answer in time");
    }
    return std::move(state_->result);
  }

 private:
  struct State {
    absl::Notification done;
    absl::StatusOr<T> result = absl::UnknownError("no answer");
  };
  std::shared_ptr<State> state_;
};

absl::StatusOr<kiln::v1::JobState> ParseState(absl::string_view text) {
  std::string name = absl::AsciiStrToUpper(text);
  if (name.empty() || name == "ANY") return kiln::v1::JOB_STATE_UNSPECIFIED;
  if (!absl::StartsWith(name, "JOB_STATE_")) name = absl::StrCat("JOB_STATE_", name);
  kiln::v1::JobState state;
  if (!kiln::v1::JobState_Parse(name, &state) || state == kiln::v1::JOB_STATE_UNSPECIFIED) {
    return BadParameter("state", absl::StrCat("unknown state \"", text,
                                              "\" (queued, assigned, running, succeeded, "
                                              "failed, cancelled)"));
  }
  return state;
}

bool ModelMatches(const Job& job, absl::string_view model) {
  auto matches = [&](absl::string_view m) {
    return m == model ||
           (absl::StartsWith(m, model) && m.size() > model.size() && m[model.size()] == '@');
  };
  if (matches(job.spec().model())) return true;
  for (const kiln::v1::Tier& tier : job.spec().tiers()) {
    if (matches(tier.model())) return true;
  }
  return false;
}

bool IsTerminal(kiln::v1::JobState state) {
  return state == kiln::v1::JOB_STATE_SUCCEEDED || state == kiln::v1::JOB_STATE_FAILED ||
         state == kiln::v1::JOB_STATE_CANCELLED;
}

std::string Architecture(const kiln::v1::Device& device) {
  return device.compute_capability() == 0 ? "cpu"
                                          : absl::StrCat("sm_", device.compute_capability());
}

std::string ContentTypeFor(absl::string_view name) {
  static const auto* const kTypes =
      new std::map<std::string, std::string, std::less<>>{{"png", "image/png"},
                                                          {"gif", "image/gif"},
                                                          {"jpg", "image/jpeg"},
                                                          {"jpeg", "image/jpeg"},
                                                          {"glb", "model/gltf-binary"},
                                                          {"gltf", "model/gltf+json"},
                                                          {"json", "application/json"},
                                                          {"log", "text/plain; charset=utf-8"},
                                                          {"txt", "text/plain; charset=utf-8"},
                                                          {"obj", "text/plain; charset=utf-8"},
                                                          {"dxf", "text/plain; charset=utf-8"},
                                                          {"step", "text/plain; charset=utf-8"},
                                                          {"ply", "application/octet-stream"},
                                                          {"stl", "application/octet-stream"},
                                                          {"npy", "application/octet-stream"}};
  const size_t dot = name.rfind('.');
  if (dot == absl::string_view::npos) return "application/octet-stream";
  auto it = kTypes->find(absl::AsciiStrToLower(name.substr(dot + 1)));
  return it == kTypes->end() ? "application/octet-stream" : it->second;
}

const char* PlacementName(core::ClassPlacement placement) {
  switch (placement) {
    case core::ClassPlacement::kNoWorkerAlive:
      return "NO_WORKER_ALIVE";
    case core::ClassPlacement::kNoCapableWorker:
      return "NO_CAPABLE_WORKER";
    case core::ClassPlacement::kSlotsBusy:
      return "SLOTS_BUSY";
    case core::ClassPlacement::kSlotsFree:
      return "SLOTS_FREE";
    case core::ClassPlacement::kUnknown:
      break;
  }
  return "UNKNOWN";
}

// The token of "Bearer <token>"; empty for no header.
absl::StatusOr<std::string> BearerToken(absl::string_view header) {
  if (header.empty()) return std::string();
  constexpr absl::string_view kBearer = "bearer ";
  if (header.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <token>\"");
  }
  return std::string(absl::StripAsciiWhitespace(header.substr(kBearer.size())));
}

// Adds a weak ETag of the body and turns a matching If-None-Match into 304.
HttpResponse WithETag(HttpResponse response, const HttpRequest& request) {
  if (response.status != 200 || !response.file_path.empty()) return response;
  response.etag = absl::StrCat("W/\"", Sha256Hex(response.body).substr(0, 32), "\"");
  if (!request.if_none_match.empty() && request.if_none_match == response.etag) {
    response.status = 304;
    response.body.clear();
  }
  return response;
}

}  // namespace

DashboardApi::DashboardApi(const DashboardApiOptions& options, core::Scheduler* scheduler,
                           store::BlobStore* blobs)
    : options_(options), scheduler_(scheduler), blobs_(blobs) {}

HttpResponse DashboardApi::Handle(const HttpRequest& request) {
  if (!absl::StartsWith(request.path, kApiPrefix)) {
    // The single-page app: its routes live after '#', so "/" is the only page.
    if (request.method != "GET" && request.method != "HEAD") {
      return ErrorResponse(absl::InvalidArgumentError("method: only GET serves the dashboard"));
    }
    const WebAsset* asset = FindWebAsset(request.path == "/" ? "/index.html" : request.path);
    if (asset == nullptr) {
      return ErrorResponse(absl::NotFoundError(absl::StrCat("no page ", request.path)));
    }
    HttpResponse response;
    response.content_type = std::string(asset->content_type);
    response.etag = absl::StrCat("\"", asset->sha256.substr(0, 32), "\"");
    if (request.if_none_match == response.etag) {
      response.status = 304;
    } else {
      response.body = std::string(asset->data);
    }
    return response;
  }
  if (request.method == "POST" && !request.origin.empty() &&
      request.origin != absl::StrCat("http://", request.host) &&
      request.origin != absl::StrCat("https://", request.host)) {
    return ErrorResponse(absl::PermissionDeniedError(
        absl::StrCat("origin: ", request.origin, " may not act on this dashboard")));
  }
  absl::StatusOr<std::string> token = BearerToken(request.authorization);
  absl::StatusOr<HttpCaller> caller =
      token.ok() ? options_.authenticate(*token) : absl::StatusOr<HttpCaller>(token.status());
  if (!caller.ok()) return ErrorResponse(caller.status());
  absl::StatusOr<HttpResponse> response = HandleApi(request, *caller);
  if (!response.ok()) return ErrorResponse(response.status());
  return WithETag(*std::move(response), request);
}

absl::StatusOr<HttpResponse> DashboardApi::HandleApi(const HttpRequest& request,
                                                     const HttpCaller& caller) {
  const std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(request.path).substr(kApiPrefix.size()), '/');
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  auto wrong_method = [&](absl::string_view allowed) {
    return absl::InvalidArgumentError(absl::StrCat("method: ", request.method, " not allowed on ",
                                                   request.path, " (", allowed, ")"));
  };
  auto no_query = [&]() -> absl::Status {
    if (!request.query.empty()) {
      return BadParameter(request.query.front().first, "unknown parameter");
    }
    return absl::OkStatus();
  };
  if (parts.size() == 1 && parts[0] == "whoami") {
    if (!get) return wrong_method("GET");
    KILN_RETURN_IF_ERROR(no_query());
    return JsonResponse(absl::StrCat("{\"tenant\":", JsonQuote(caller.tenant),
                                     ",\"admin\":", caller.is_admin ? "true" : "false", "}"));
  }
  if (parts.size() == 1 && parts[0] == "fleet") {
    if (!get) return wrong_method("GET");
    KILN_RETURN_IF_ERROR(no_query());
    return Fleet();
  }
  if (parts.size() == 1 && parts[0] == "queue") {
    if (!get) return wrong_method("GET");
    KILN_RETURN_IF_ERROR(no_query());
    return Queue(caller);
  }
  if (parts.size() == 1 && parts[0] == "jobs") {
    if (!get) return wrong_method("GET");
    return ListJobs(request, caller);
  }
  if (parts.size() >= 2 && parts[0] == "jobs") {
    const std::string& job_id = parts[1];
    if (parts.size() == 2) {
      if (!get) return wrong_method("GET");
      KILN_RETURN_IF_ERROR(no_query());
      KILN_ASSIGN_OR_RETURN(Job job, VisibleJob(job_id, caller));
      return JsonResponse(ToJson(job));
    }
    if (parts.size() == 3 && parts[2] == "log") {
      if (!get) return wrong_method("GET");
      KILN_RETURN_IF_ERROR(VisibleJob(job_id, caller).status());
      return JobLog(job_id, request);
    }
    if (parts.size() == 4 && parts[2] == "files") {
      if (!get && request.method != "HEAD") return wrong_method("GET");
      KILN_ASSIGN_OR_RETURN(Job job, VisibleJob(job_id, caller));
      return JobFile(job, parts[3], request);
    }
    if (parts.size() == 3 && parts[2] == "cancel") {
      if (!post) return wrong_method("POST");
      KILN_RETURN_IF_ERROR(no_query());
      KILN_RETURN_IF_ERROR(VisibleJob(job_id, caller).status());
      return Cancel(job_id);
    }
    if (parts.size() == 3 && parts[2] == "retry") {
      if (!post) return wrong_method("POST");
      KILN_RETURN_IF_ERROR(no_query());
      KILN_ASSIGN_OR_RETURN(Job job, VisibleJob(job_id, caller));
      return Retry(job);
    }
  }
  return absl::NotFoundError(absl::StrCat("path: no API endpoint ", request.path));
}

absl::StatusOr<Job> DashboardApi::VisibleJob(const std::string& job_id,
                                             const HttpCaller& caller) const {
  absl::StatusOr<Job> job = scheduler_->GetJob(job_id);
  if (!job.ok()) return job.status();
  if (!caller.is_admin && options_.job_tenant(*job) != caller.tenant) {
    // Same answer as for a job that does not exist: ids of other tenants leak nothing.
    return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  }
  return job;
}

absl::StatusOr<HttpResponse> DashboardApi::Fleet() {
  const std::vector<kiln::v1::WorkerInfo> workers = scheduler_->ListWorkers();
  struct DeviceRow {
    std::string json;
    bool runnable = false;
    int slots = 0;
    int busy = 0;
  };
  // (-compute capability, architecture) -> its devices: GPUs newest first, CPUs (0) last.
  std::map<std::pair<int, std::string>, std::vector<DeviceRow>> groups;
  std::string workers_json;
  for (const kiln::v1::WorkerInfo& worker : workers) {
    // Busy slots: the slot of the current attempt of each job the worker holds (O(leases),
    // all in the scheduler's memory).
    std::set<int> busy_slots;
    for (const std::string& job_id : worker.job_ids()) {
      absl::StatusOr<Job> job = scheduler_->GetJob(job_id);
      if (job.ok() && job->attempts_size() > 0) {
        busy_slots.insert(job->attempts(job->attempts_size() - 1).slot());
      }
    }
    const kiln::v1::WorkerCapabilities& caps = worker.capabilities();
    for (const kiln::v1::Device& device : caps.devices()) {
      DeviceRow row;
      row.runnable = device.runnable() && !worker.lost();
      for (const kiln::v1::Slot& slot : caps.slots()) {
        if (slot.device_id() != device.id()) continue;
        ++row.slots;
        if (busy_slots.count(slot.index()) > 0) ++row.busy;
      }
      row.json = absl::StrCat(
          "{\"worker_id\":", JsonQuote(worker.id()), ",\"hostname\":", JsonQuote(caps.hostname()),
          ",\"worker_lost\":", worker.lost() ? "true" : "false",
          ",\"worker_draining\":", worker.draining() ? "true" : "false", ",\"slots\":", row.slots,
          ",\"busy_slots\":", row.busy, ",\"device\":", ToJson(device), "}");
      groups[{-device.compute_capability(), Architecture(device)}].push_back(std::move(row));
    }
    absl::StrAppend(&workers_json, workers_json.empty() ? "" : ",", "{\"worker\":", ToJson(worker),
                    ",\"busy_slots\":", busy_slots.size(), "}");
  }
  std::string groups_json;
  for (const auto& [key, rows] : groups) {
    int runnable = 0, slots = 0, busy = 0;
    std::string devices;
    for (const DeviceRow& row : rows) {
      runnable += row.runnable ? 1 : 0;
      slots += row.slots;
      busy += row.busy;
      absl::StrAppend(&devices, devices.empty() ? "" : ",", row.json);
    }
    absl::StrAppend(&groups_json, groups_json.empty() ? "" : ",",
                    "{\"architecture\":", JsonQuote(key.second), ",\"devices\":", rows.size(),
                    ",\"runnable\":", runnable, ",\"slots\":", slots, ",\"busy_slots\":", busy,
                    ",\"device_list\":[", devices, "]}");
  }
  return JsonResponse(
      absl::StrCat("{\"architectures\":[", groups_json, "],\"workers\":[", workers_json, "]}"));
}

double DashboardApi::Throughput(uint64_t finished_total) {
  const absl::Time now = options_.clock->Now();
  absl::MutexLock lock(&mu_);
  if (finished_samples_.empty() || now - finished_samples_.back().first >= absl::Seconds(1)) {
    finished_samples_.emplace_back(now, finished_total);
  }
  while (finished_samples_.size() > 2 &&
         now - finished_samples_.front().first > options_.throughput_window) {
    finished_samples_.pop_front();
  }
  const auto& [t0, n0] = finished_samples_.front();
  const absl::Duration span = now - t0;
  if (span < absl::Seconds(1) || finished_total < n0) return 0;
  return static_cast<double>(finished_total - n0) / absl::ToDoubleMinutes(span);
}

absl::StatusOr<HttpResponse> DashboardApi::Queue(const HttpCaller& caller) {
  const core::SchedulerStats stats = scheduler_->Stats();
  const std::vector<core::QueueClassInfo> classes = scheduler_->QueueClasses();
  const absl::Time now = options_.clock->Now();
  std::string classes_json;
  for (const core::QueueClassInfo& info : classes) {
    const bool visible = caller.is_admin || info.tenant == caller.tenant;
    const double wait = info.oldest_ready == absl::InfiniteFuture()
                            ? 0
                            : std::max(0.0, absl::ToDoubleSeconds(now - info.oldest_ready));
    absl::StrAppend(&classes_json, classes_json.empty() ? "" : ",",
                    "{\"task\":", JsonQuote(info.representative.task()),
                    ",\"model\":", JsonQuote(info.representative.model()),
                    ",\"tenant\":", JsonQuote(visible ? info.tenant : ""), ",\"jobs\":", info.jobs,
                    ",\"oldest_wait_seconds\":", wait, ",\"placement\":\"",
                    PlacementName(info.placement), "\"",
                    ",\"reason\":", JsonQuote(visible ? info.reason : ""),
                    ",\"representative\":", ToJson(info.representative), "}");
  }
  const uint64_t finished = stats.jobs_succeeded + stats.jobs_failed + stats.jobs_cancelled;
  const double throughput = Throughput(finished);
  return JsonResponse(absl::StrCat(
      "{\"classes\":[", classes_json, "],\"queued\":", stats.queued, ",\"leased\":", stats.leased,
      ",\"workers\":", stats.workers, ",\"submitted\":", stats.jobs_submitted,
      ",\"succeeded\":", stats.jobs_succeeded, ",\"failed\":", stats.jobs_failed,
      ",\"cancelled\":", stats.jobs_cancelled, ",\"throughput_per_minute\":", throughput,
      ",\"throughput_window_seconds\":", absl::ToInt64Seconds(options_.throughput_window), "}"));
}

absl::StatusOr<HttpResponse> DashboardApi::ListJobs(const HttpRequest& request,
                                                    const HttpCaller& caller) {
  kiln::v1::ListJobsRequest list;
  list.set_page_size(options_.default_page_size);
  std::optional<std::string> tenant;
  std::string model;
  for (const auto& [name, value] : request.query) {
    if (name == "state") {
      KILN_ASSIGN_OR_RETURN(kiln::v1::JobState state, ParseState(value));
      list.set_state(state);
    } else if (name == "tenant") {
      if (!value.empty()) tenant = value;
    } else if (name == "model") {
      model = value;
    } else if (name == "label") {
      if (value.empty()) continue;
      const size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        return BadParameter("label", absl::StrCat("expected key=value, got \"", value, "\""));
      }
      (*list.mutable_labels())[value.substr(0, eq)] = value.substr(eq + 1);
    } else if (name == "page_size") {
      int size = 0;
      if (!absl::SimpleAtoi(value, &size) || size < 1 || size > 1000) {
        return BadParameter("page_size", "must be a number 1..1000");
      }
      list.set_page_size(size);
    } else if (name == "page_token") {
      list.set_page_token(value);
    } else {
      return BadParameter(name,
                          "unknown parameter (state, tenant, label, model, page_size, "
                          "page_token)");
    }
  }
  if (!caller.is_admin) {
    if (tenant.has_value() && *tenant != caller.tenant) {
      return absl::PermissionDeniedError(
          absl::StrCat("tenant: you may list only your own tenant's jobs (", caller.tenant, ")"));
    }
    tenant = caller.tenant;
  }
  std::function<bool(const Job&)> also;
  if (tenant.has_value() || !model.empty()) {
    also = [&](const Job& job) {
      if (tenant.has_value() && options_.job_tenant(job) != *tenant) return false;
      return model.empty() || ModelMatches(job, model);
    };
  }
  KILN_ASSIGN_OR_RETURN(kiln::v1::ListJobsResponse response, scheduler_->ListJobs(list, also));
  return JsonResponse(ToJson(response));
}

absl::StatusOr<HttpResponse> DashboardApi::JobLog(const std::string& job_id,
                                                  const HttpRequest& request) {
  kiln::v1::GetJobLogRequest log;
  log.set_job_id(job_id);
  for (const auto& [name, value] : request.query) {
    if (name == "attempt") {
      int attempt = 0;
      if (!absl::SimpleAtoi(value, &attempt) || attempt < 0) {
        return BadParameter("attempt", "must be a number >= 0 (0: the latest)");
      }
      log.set_attempt(attempt);
    } else if (name == "offset") {
      int64_t offset = 0;
      if (!absl::SimpleAtoi(value, &offset) || offset < 0) {
        return BadParameter("offset", "must be a number >= 0");
      }
      log.set_offset(offset);
    } else {
      return BadParameter(name, "unknown parameter (attempt, offset)");
    }
  }
  // No wait: the page polls (a parked read would hold a civetweb thread).
  Waiter<kiln::v1::GetJobLogResponse> waiter;
  scheduler_->GetJobLog(log, waiter.Callback());
  KILN_ASSIGN_OR_RETURN(kiln::v1::GetJobLogResponse response, waiter.Wait(options_.call_timeout));
  return JsonResponse(ToJson(response));
}

absl::StatusOr<HttpResponse> DashboardApi::JobFile(const Job& job, const std::string& sha256,
                                                   const HttpRequest& request) {
  bool download = false;
  for (const auto& [name, value] : request.query) {
    if (name == "download") {
      download = value == "1" || value == "true";
    } else {
      return BadParameter(name, "unknown parameter (download)");
    }
  }
  if (!IsSha256Hex(sha256)) return BadParameter("sha256", "must be 64 lower-case hex digits");
  // Only blobs this job names: its inputs, outputs and attempt logs.
  std::string file_name;
  auto consider = [&](const kiln::v1::BlobRef& ref) {
    if (file_name.empty() && ref.sha256() == sha256) file_name = ref.name();
  };
  for (const auto& ref : job.outputs()) consider(ref);
  for (const auto& ref : job.spec().inputs()) consider(ref);
  for (const auto& attempt : job.attempts()) {
    if (attempt.has_log()) consider(attempt.log());
  }
  if (file_name.empty()) {
    return absl::NotFoundError(
        absl::StrCat("sha256: job ", job.id(), " has no input, output or log ", sha256));
  }
  KILN_ASSIGN_OR_RETURN(kiln::v1::StoredBlob blob, scheduler_->GetBlob(sha256));
  HttpResponse response;
  response.content_type = ContentTypeFor(file_name);
  response.file_path = blobs_->PathFor(sha256);
  response.file_size = blob.size_bytes();
  // Content-addressed: the bytes behind this URL never change.
  response.etag = absl::StrCat("\"", sha256, "\"");
  response.cache_control = "private, max-age=31536000, immutable";
  // Names are [A-Za-z0-9._-] (validated at submit), safe inside quotes.
  response.content_disposition =
      absl::StrCat(download ? "attachment" : "inline", "; filename=\"", file_name, "\"");
  if (request.if_none_match == response.etag) {
    response.status = 304;
    response.file_path.clear();
  }
  return response;
}

absl::StatusOr<HttpResponse> DashboardApi::Cancel(const std::string& job_id) {
  Waiter<Job> waiter;
  scheduler_->Cancel(job_id, "cancelled from the dashboard", waiter.Callback());
  KILN_ASSIGN_OR_RETURN(Job job, waiter.Wait(options_.call_timeout));
  return JsonResponse(ToJson(job));
}

absl::StatusOr<HttpResponse> DashboardApi::Retry(const Job& job) {
  if (!IsTerminal(job.state())) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job.id(), " is ",
                                                      kiln::v1::JobState_Name(job.state()),
                                                      "; only a finished job can be retried"));
  }
  kiln::v1::JobSpec spec = job.spec();
  // A new job: a request id would hand back the old one.
  spec.clear_client_request_id();
  (*spec.mutable_labels())["kiln.retry-of"] = job.id();
  Waiter<std::vector<kiln::v1::SubmitJobResponse>> waiter;
  // The retry belongs to the job's tenant (the caller may see it: its own, or an admin),
  // and its inputs were accepted for that job already.
  core::SubmitOrigin origin;
  if (const std::string tenant = options_.job_tenant(job); !tenant.empty()) origin.tenant = tenant;
  origin.any_input_blob = true;
  scheduler_->Submit({std::move(spec)}, /*batch=*/false, origin, waiter.Callback());
  KILN_ASSIGN_OR_RETURN(std::vector<kiln::v1::SubmitJobResponse> results,
                        waiter.Wait(options_.call_timeout));
  if (results.size() != 1) return absl::InternalError("submit answered no job");
  HttpResponse response = JsonResponse(ToJson(results[0]));
  response.status = 201;
  return response;
}

}  // namespace kiln::http
