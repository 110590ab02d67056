// kilnctl: the command-line client of Kiln. Each verb is one function below; parsing lives
// in kilnctl_args/job_spec_flags, printing and exit codes in kilnctl_format, RPCs in
// kiln::Client. Single-threaded.
//
// Output is meant for scripts as much as for people: `submit` prints only the job id on
// stdout (the job as JSON with -o json), `fetch` one path per line; progress and
// diagnostics go to stderr. -o table|wide prints tables, -o json|yaml the API's messages
// (keys sorted: kilnctl_structured.h). Settings: flags > KILN_ADDR/KILN_TOKEN/KILN_OUTPUT >
// config file (kilnctl_config.h) > defaults. Verbs follow kubectl: get jobs|workers|models,
// describe job|worker, drain worker.
//
// Exit codes (kilnctl_format.h):
//   0  ok; for submit --wait, watch: the job succeeded
//   1  error: an RPC or a local operation failed
//   2  usage error: bad command line, or a request the scheduler rejected as invalid
//   3  not found: no such job, blob or output
//   4  the job failed
//   5  the job was cancelled
//   6  the scheduler is unavailable (unreachable, or no answer within --timeout)
//   7  --wait-timeout passed before the job finished
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/job_spec_flags.h"
#include "client/job_spec_yaml.h"
#include "client/kiln_client.h"
#include "client/kilnctl_args.h"
#include "client/kilnctl_config.h"
#include "client/kilnctl_format.h"
#include "client/kilnctl_logs.h"
#include "client/kilnctl_progress.h"
#include "client/pipeline_file.h"
#include "common/status_macros.h"

namespace kiln::kilnctl {
namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:7070";

const char kExitCodesHelp[] = R"(Exit codes:
  0  ok; for submit --wait and watch: the job succeeded
  1  error: an RPC or a local operation failed
  2  usage error (bad flags, or a request the scheduler rejected as invalid)
  3  not found (job, blob or output)
  4  the job failed
  5  the job was cancelled
  6  scheduler unavailable (unreachable, or no answer within --timeout)
  7  --wait-timeout passed before the job finished
)";

const char kConfigHelp[] =
    R"(Configuration: a flag beats the environment (KILN_ADDR, KILN_TOKEN, KILN_OUTPUT,
KILN_TLS_CA, KILN_TLS_CERT, KILN_TLS_KEY, KILN_TLS_SERVER_NAME), which beats the config
file ($KILN_CONFIG, else ~/.config/kiln/config.yaml; keys addr, token, timeout, output,
tls-ca, tls-cert, tls-key, tls-server-name, e.g. "addr: scheduler:7070"), which beats
the defaults.
)";

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"addr", '\0', true, "HOST:PORT",
       absl::StrCat("scheduler address (default: $KILN_ADDR, config addr, else ", kDefaultAddress,
                    ")")},
      {"token", '\0', true, "TOKEN",
       "bearer token sent with every call (default: $KILN_TOKEN, config token)"},
      {"output", 'o', true, "table|wide|json|yaml", "output format (default table)"},
      {"timeout", '\0', true, "DURATION", "deadline of each RPC (default 30s)"},
      {"config", '\0', true, "PATH",
       "config file (default: $KILN_CONFIG, ~/.config/kiln/config.yaml)"},
      {"tls-ca", '\0', true, "PATH",
       "PEM CA certificates to verify the scheduler with; turns TLS on (default: "
       "$KILN_TLS_CA, config tls-ca)"},
      {"tls-cert", '\0', true, "PATH",
       "PEM client certificate for mutual TLS (default: $KILN_TLS_CERT, config tls-cert)"},
      {"tls-key", '\0', true, "PATH",
       "PEM private key of --tls-cert (default: $KILN_TLS_KEY, config tls-key)"},
      {"tls-server-name", '\0', true, "NAME",
       "name the scheduler's certificate must carry, instead of the host in --addr "
       "(default: $KILN_TLS_SERVER_NAME, config tls-server-name)"},
      {"help", 'h', false, "", "show help"},
  };
}

enum class Output { kTable, kWide, kJson, kYaml };

// Settings shared by all verbs, from the global flags.
struct Globals {
  Output output = Output::kTable;
  bool structured() const { return output == Output::kJson || output == Output::kYaml; }
  bool wide() const { return output == Output::kWide; }
  std::unique_ptr<Client> client;
};

// A message as -o json (indented) or -o yaml prints it, with a final newline.
std::string Structured(const Globals& g, const google::protobuf::Message& message) {
  return (g.output == Output::kYaml ? ToYaml(message) : ToJson(message, true)) + "\n";
}

using VerbFn = int (*)(Globals&, const ParsedArgs&);

struct Verb {
  std::string name;
  std::string usage;    // After "kilnctl NAME ".
  std::string summary;  // One line for the verb list.
  std::string details;  // Free text with examples.
  std::vector<FlagSpec> flags;
  VerbFn run;
};

// Prints "kilnctl: message" and returns the exit code for it.
int Fail(const absl::Status& status, int code) {
  std::cerr << "kilnctl: " << status.message() << "\n";
  return code;
}
int Fail(const absl::Status& status) { return Fail(status, ExitCodeForStatus(status)); }

absl::Status ExpectPositional(const ParsedArgs& args, size_t count, absl::string_view what) {
  if (args.positional().size() == count) return absl::OkStatus();
  if (args.positional().size() < count) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", what));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected argument \"", args.positional()[count], "\""));
}

absl::StatusOr<absl::Duration> DurationFlag(const ParsedArgs& args, absl::string_view name,
                                            absl::Duration fallback) {
  std::optional<std::string> text = args.Get(name);
  if (!text) return fallback;
  absl::Duration value;
  if (!absl::ParseDuration(*text, &value) || value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " \"", *text, "\": expected a positive duration, e.g. 30s, 1h"));
  }
  return value;
}

int TerminalWidth(int fd = STDERR_FILENO) {
  struct winsize size {};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

// Follows a job until it is terminal, showing progress on stderr: a bar redrawn in place on
// a terminal, otherwise a line per change of state or message and per 10% of progress.
absl::StatusOr<v1::Job> WaitWithProgress(Client& client, const std::string& job_id,
                                         absl::Duration timeout) {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const int width = tty ? TerminalWidth() - 1 : 0;
  v1::Job last;
  std::string last_key;
  const absl::Status status = client.Watch(
      job_id,
      [&](const v1::Job& job) {
        last = job;
        if (tty) {
          std::cerr << "\r\033[K" << FormatProgressBar(job, width) << std::flush;
          return true;
        }
        const std::string key =
            absl::StrCat(job.state(), "/", static_cast<int>(job.progress() * 10), "/",
                         job.progress_message(), "/", job.status_message());
        if (key != last_key) std::cerr << FormatWatchLine(job, absl::LocalTimeZone()) << "\n";
        last_key = key;
        return true;
      },
      timeout);
  if (tty) std::cerr << "\r\033[K" << std::flush;
  KILN_RETURN_IF_ERROR(status);
  return last;
}

// --- verbs -----------------------------------------------------------------------------

// The name --wait gives a child: its parent's name, "/", and the part of its
// client_request_id after "<parent id>/" (image.segment's: "segment-to3d-0",
// "segment-compose"; otherwise "<attempt>/<call>/<index>").
std::string ChildName(const std::string& parent_name, const v1::Job& parent, const v1::Job& child,
                      int index) {
  const std::string& request_id = child.spec().client_request_id();
  const std::string scope = parent.id() + "/";
  if (absl::StartsWith(request_id, scope) && request_id.size() > scope.size()) {
    return absl::StrCat(parent_name, "/", request_id.substr(scope.size()));
  }
  return absl::StrCat(parent_name, "/child-", index);
}

// `submit -f PIPELINE --wait`: follows the pipeline's jobs in submit order, then the
// children each one submitted (fan-out) and theirs, until every one has finished; prints
// "NAME ID" for each child as it is found (the pipeline's own were printed at submit),
// and at the end the outcome of each job on stderr (with -o json/yaml: all the jobs on
// stdout). Exits 0 when every job succeeded, else with the first other job's outcome.
int WaitForPipeline(Globals& g, std::vector<std::pair<std::string, std::string>> pending,
                    absl::Duration timeout) {
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  std::vector<std::pair<std::string, v1::Job>> finished;
  for (size_t next = 0; next < pending.size(); ++next) {
    const auto [name, id] = pending[next];
    const absl::Duration left =
        deadline == absl::InfiniteFuture() ? absl::InfiniteDuration() : deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return Fail(absl::DeadlineExceededError(
                      absl::StrCat("--wait-timeout passed before ", name, " (", id, ") finished")),
                  kExitWaitTimeout);
    }
    if (!g.structured()) std::cerr << "waiting for " << name << " (" << id << ")\n";
    absl::StatusOr<v1::Job> job = WaitWithProgress(*g.client, id, left);
    if (!job.ok()) return Fail(job.status(), ExitCodeForWaitStatus(job.status()));
    // A finished job's children are all known: only a running attempt submits them.
    if (job->child_job_ids_size() > 0) {
      // Watch's last event may predate the final write of a parent: read it again.
      absl::StatusOr<v1::Job> latest = g.client->Get(id);
      if (latest.ok()) job = *std::move(latest);
    }
    for (int i = 0; i < job->child_job_ids_size(); ++i) {
      const std::string& child_id = job->child_job_ids(i);
      absl::StatusOr<v1::Job> child = g.client->Get(child_id);
      if (!child.ok()) return Fail(child.status());
      std::string child_name = ChildName(name, *job, *child, i);
      if (!g.structured()) std::cout << child_name << " " << child_id << std::endl;
      pending.emplace_back(std::move(child_name), child_id);
    }
    finished.emplace_back(name, *std::move(job));
  }
  int exit_code = kExitOk;
  v1::ListJobsResponse all;
  for (const auto& [name, job] : finished) {
    if (g.structured()) {
      *all.add_jobs() = job;
    } else {
      std::cerr << name << ": " << FormatOutcome(job) << "\n";
    }
    if (exit_code == kExitOk) exit_code = ExitCodeForJobState(job.state());
  }
  if (g.structured()) std::cout << Structured(g, all);
  return exit_code;
}

// `submit -f PIPELINE`: uploads each job's files, submits every job in one SubmitJobs
// batch (all or none) and prints "NAME ID" per job (with -o json/yaml: the jobs); with
// --wait, WaitForPipeline.
int RunSubmitPipeline(Globals& g, const ParsedArgs& args, const std::string& file,
                      const std::string& text) {
  for (const char* flag :
       {"input", "param", "params", "params-file", "model", "priority", "label"}) {
    if (args.Has(flag)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--", flag, " does not apply to a pipeline file; set it on the jobs in the file")));
    }
  }
  if (!args.positional().empty()) {
    return Fail(absl::InvalidArgumentError("a pipeline file names its tasks; drop the TASK"));
  }
  absl::StatusOr<absl::Duration> wait_timeout =
      DurationFlag(args, "wait-timeout", absl::InfiniteDuration());
  if (!wait_timeout.ok()) return Fail(wait_timeout.status());
  const bool wait = args.Switch("wait");
  if (args.Has("wait-timeout") && !wait) {
    return Fail(absl::InvalidArgumentError("--wait-timeout needs --wait"));
  }
  const std::string base_dir =
      file == "-" ? "" : std::filesystem::path(file).parent_path().string();
  absl::StatusOr<PipelinePlan> plan = ReadPipeline(text, file == "-" ? "<stdin>" : file, base_dir);
  if (!plan.ok()) return Fail(plan.status());
  for (size_t i = 0; i < plan->specs.size(); ++i) {
    for (const InputFile& input : plan->uploads[i]) {
      absl::StatusOr<v1::BlobRef> ref = g.client->UploadFile(input.path, input.name);
      if (!ref.ok()) return Fail(ref.status());
      *plan->specs[i].add_inputs() = *std::move(ref);
    }
  }
  absl::StatusOr<std::vector<v1::Job>> jobs = g.client->SubmitMany(plan->specs);
  if (!jobs.ok()) return Fail(jobs.status());
  if (wait) {
    std::vector<std::pair<std::string, std::string>> submitted;
    for (size_t i = 0; i < jobs->size(); ++i) {
      if (!g.structured()) std::cout << plan->names[i] << " " << (*jobs)[i].id() << "\n";
      submitted.emplace_back(plan->names[i], (*jobs)[i].id());
    }
    std::cout << std::flush;
    return WaitForPipeline(g, std::move(submitted), *wait_timeout);
  }
  if (g.structured()) {
    v1::ListJobsResponse all;
    for (const v1::Job& job : *jobs) *all.add_jobs() = job;
    std::cout << Structured(g, all);
    return kExitOk;
  }
  for (size_t i = 0; i < jobs->size(); ++i) {
    std::cout << plan->names[i] << " " << (*jobs)[i].id() << "\n";
  }
  return kExitOk;
}

int RunSubmit(Globals& g, const ParsedArgs& args) {
  if (std::optional<std::string> file = args.Get("file")) {
    absl::StatusOr<std::string> text = ReadFileOrStdin(*file, YamlLimits().max_bytes);
    if (!text.ok()) return Fail(text.status());
    if (IsPipelineText(*text)) return RunSubmitPipeline(g, args, *file, *text);
  }
  absl::StatusOr<SubmitPlan> plan = BuildSubmitPlan(args);
  if (!plan.ok()) return Fail(plan.status());
  absl::StatusOr<absl::Duration> wait_timeout =
      DurationFlag(args, "wait-timeout", absl::InfiniteDuration());
  if (!wait_timeout.ok()) return Fail(wait_timeout.status());
  if (args.Has("wait-timeout") && !args.Switch("wait")) {
    return Fail(absl::InvalidArgumentError("--wait-timeout needs --wait"));
  }
  for (const InputFile& input : plan->uploads) {
    absl::StatusOr<v1::BlobRef> ref = g.client->UploadFile(input.path, input.name);
    if (!ref.ok()) return Fail(ref.status());
    *plan->spec.add_inputs() = *std::move(ref);
  }
  absl::StatusOr<v1::Job> job = g.client->Submit(plan->spec);
  if (!job.ok()) return Fail(job.status());
  if (!args.Switch("wait")) {
    std::cout << (g.structured() ? Structured(g, *job) : job->id() + "\n");
    return kExitOk;
  }
  // With --wait, stdout still gets only the id (first, so a script has it even if the
  // wait fails) or, with -o json, only the final job.
  if (!g.structured()) std::cout << job->id() << std::endl;
  absl::StatusOr<v1::Job> final_job = WaitWithProgress(*g.client, job->id(), *wait_timeout);
  if (!final_job.ok()) return Fail(final_job.status(), ExitCodeForWaitStatus(final_job.status()));
  if (g.structured()) {
    std::cout << Structured(g, *final_job);
  } else {
    std::cerr << FormatOutcome(*final_job) << "\n";
  }
  return ExitCodeForJobState(final_job->state());
}

// Lists jobs (one page, or --limit/--all pages), filtered by --state and --label.
int ListJobs(Globals& g, const ParsedArgs& args) {
  v1::ListJobsRequest request;
  if (std::optional<std::string> state = args.Get("state")) {
    absl::StatusOr<v1::JobState> value = ParseJobState(*state);
    if (!value.ok()) return Fail(value.status());
    request.set_state(*value);
  }
  for (const std::string& label : args.GetAll("label")) {
    absl::StatusOr<std::pair<std::string, std::string>> kv = ParseKeyValue(label, "--label");
    if (!kv.ok()) return Fail(kv.status());
    (*request.mutable_labels())[kv->first] = kv->second;
  }
  int limit = 0;
  if (std::optional<std::string> text = args.Get("limit")) {
    if (!absl::SimpleAtoi(*text, &limit) || limit < 1) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--limit \"", *text, "\": expected a positive integer")));
    }
    request.set_page_size(std::min(limit, 1000));
  }
  const bool all = args.Switch("all");
  v1::ListJobsResponse merged;
  while (true) {
    absl::StatusOr<v1::ListJobsResponse> page = g.client->List(request);
    if (!page.ok()) return Fail(page.status());
    for (v1::Job& job : *page->mutable_jobs()) *merged.add_jobs() = std::move(job);
    merged.set_next_page_token(page->next_page_token());
    const bool want_more = all || (limit > 0 && merged.jobs_size() < limit);
    if (page->next_page_token().empty() || !want_more) break;
    request.set_page_token(page->next_page_token());
  }
  if (limit > 0 && merged.jobs_size() > limit) {
    merged.mutable_jobs()->DeleteSubrange(limit, merged.jobs_size() - limit);
  }
  if (g.structured()) {
    std::cout << Structured(g, merged);
    return kExitOk;
  }
  std::cout << FormatJobsTable({merged.jobs().begin(), merged.jobs().end()}, absl::Now(), g.wide());
  if (!merged.next_page_token().empty() && !all && limit == 0) {
    std::cerr << "(more jobs: use --all or --limit N)\n";
  }
  return kExitOk;
}

// Jobs by id: one job prints as itself (-o json: the Job), several as a list.
int GetJobsById(Globals& g, const std::vector<std::string>& ids) {
  v1::ListJobsResponse found;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Job> job = g.client->Get(id);
    if (!job.ok()) return Fail(job.status());
    *found.add_jobs() = *std::move(job);
  }
  if (g.structured()) {
    std::cout << (ids.size() == 1 ? Structured(g, found.jobs(0)) : Structured(g, found));
  } else {
    std::cout << FormatJobsTable({found.jobs().begin(), found.jobs().end()}, absl::Now(), g.wide());
  }
  return kExitOk;
}

absl::StatusOr<v1::WorkerInfo> FindWorker(Client& client, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(std::vector<v1::WorkerInfo> workers, client.ListWorkers());
  for (v1::WorkerInfo& worker : workers) {
    if (worker.id() == id) return std::move(worker);
  }
  return absl::NotFoundError(absl::StrCat("worker ", id, " not found"));
}

int GetWorkers(Globals& g, const std::vector<std::string>& ids) {
  std::vector<v1::WorkerInfo> workers;
  if (ids.empty()) {
    absl::StatusOr<std::vector<v1::WorkerInfo>> all = g.client->ListWorkers();
    if (!all.ok()) return Fail(all.status());
    workers = *std::move(all);
  } else {
    for (const std::string& id : ids) {
      absl::StatusOr<v1::WorkerInfo> worker = FindWorker(*g.client, id);
      if (!worker.ok()) return Fail(worker.status());
      workers.push_back(*std::move(worker));
    }
  }
  if (g.structured()) {
    if (ids.size() == 1) {
      std::cout << Structured(g, workers[0]);
      return kExitOk;
    }
    v1::ListWorkersResponse response;
    for (v1::WorkerInfo& w : workers) *response.add_workers() = std::move(w);
    std::cout << Structured(g, response);
  } else {
    std::cout << FormatWorkersTable(workers, absl::Now(), g.wide());
  }
  return kExitOk;
}

// The models workers advertise; -o json/yaml: {"models": [{name, version, runtime,
// workers: [ids that can run it], unavailable: [{worker, reason}]}]}.
int GetModels(Globals& g, const std::vector<std::string>& names) {
  absl::StatusOr<std::vector<v1::WorkerInfo>> workers = g.client->ListWorkers();
  if (!workers.ok()) return Fail(workers.status());
  std::vector<v1::WorkerInfo> filtered = *workers;
  if (!names.empty()) {
    // Keep only the named models ("name" or "name@version").
    for (v1::WorkerInfo& worker : filtered) {
      auto* models = worker.mutable_capabilities()->mutable_models();
      for (int i = models->size() - 1; i >= 0; --i) {
        const v1::ModelAvailability& m = models->Get(i);
        bool wanted = false;
        for (const std::string& name : names) {
          wanted |= name == m.name() || name == absl::StrCat(m.name(), "@", m.version());
        }
        if (!wanted) models->DeleteSubrange(i, 1);
      }
    }
    for (const std::string& name : names) {
      bool seen = false;
      for (const v1::WorkerInfo& worker : filtered) {
        for (const v1::ModelAvailability& m : worker.capabilities().models()) {
          seen |= name == m.name() || name == absl::StrCat(m.name(), "@", m.version());
        }
      }
      if (!seen) {
        return Fail(absl::NotFoundError(absl::StrCat("no worker advertises model ", name)));
      }
    }
  }
  if (!g.structured()) {
    std::cout << FormatModelsTable(filtered, g.wide());
    return kExitOk;
  }
  // Same aggregation as the table, as a Struct so that it prints through ToJson/ToYaml.
  std::map<std::pair<std::string, std::string>, google::protobuf::Struct> models;
  for (const v1::WorkerInfo& worker : filtered) {
    for (const v1::ModelAvailability& m : worker.capabilities().models()) {
      google::protobuf::Struct& entry = models[{m.name(), m.version()}];
      auto& fields = *entry.mutable_fields();
      fields["name"].set_string_value(m.name());
      fields["version"].set_string_value(m.version());
      fields["runtime"].set_string_value(m.runtime());
      fields["workers"].mutable_list_value();
      fields["unavailable"].mutable_list_value();
      if (m.unavailable_reason().empty()) {
        fields["workers"].mutable_list_value()->add_values()->set_string_value(worker.id());
      } else {
        google::protobuf::Struct* why =
            fields["unavailable"].mutable_list_value()->add_values()->mutable_struct_value();
        (*why->mutable_fields())["worker"].set_string_value(worker.id());
        (*why->mutable_fields())["reason"].set_string_value(m.unavailable_reason());
      }
    }
  }
  google::protobuf::Struct out;
  google::protobuf::ListValue* list = (*out.mutable_fields())["models"].mutable_list_value();
  for (auto& [key, entry] : models) *list->add_values()->mutable_struct_value() = entry;
  std::cout << Structured(g, out);
  return kExitOk;
}

// The kind a get/describe/drain names: "jobs"/"job" -> "job", etc.; "" when `word` is no kind.
std::string KindOf(absl::string_view word) {
  static const std::pair<const char*, const char*> kKinds[] = {
      {"job", "job"},        {"jobs", "job"},    {"worker", "worker"},
      {"workers", "worker"}, {"model", "model"}, {"models", "model"},
  };
  for (const auto& [name, kind] : kKinds) {
    if (word == name) return kind;
  }
  return "";
}

int RunGet(Globals& g, const ParsedArgs& args) {
  const std::vector<std::string>& pos = args.positional();
  if (pos.empty()) {
    return Fail(
        absl::InvalidArgumentError("missing what to get: jobs, workers, models or a JOB_ID"),
        kExitUsage);
  }
  std::string kind = KindOf(pos[0]);
  std::vector<std::string> names(pos.begin() + (kind.empty() ? 0 : 1), pos.end());
  if (kind.empty()) kind = "job";  // kilnctl get JOB_ID...
  if (kind != "job") {
    for (const char* flag : {"state", "label", "limit", "all"}) {
      if (args.Has(flag)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--", flag, " applies to jobs only")),
                    kExitUsage);
      }
    }
  }
  if (kind == "worker") return GetWorkers(g, names);
  if (kind == "model") return GetModels(g, names);
  return names.empty() ? ListJobs(g, args) : GetJobsById(g, names);
}

int RunList(Globals& g, const ParsedArgs& args) {
  if (absl::Status s = ExpectPositional(args, 0, ""); !s.ok()) return Fail(s);
  return ListJobs(g, args);
}

// "describe job ID", "describe worker ID", or "describe ID" (a job).
int RunDescribe(Globals& g, const ParsedArgs& args) {
  const std::vector<std::string>& pos = args.positional();
  std::string kind = pos.empty() ? "" : KindOf(pos[0]);
  const size_t want = kind.empty() ? 1 : 2;
  if (pos.size() != want) {
    return Fail(absl::InvalidArgumentError(
        pos.size() < want ? "missing what to describe: job ID, worker ID or a JOB_ID"
                          : absl::StrCat("unexpected argument \"", pos[want], "\"")));
  }
  const std::string& name = pos.back();
  if (kind == "worker") {
    absl::StatusOr<v1::WorkerInfo> worker = FindWorker(*g.client, name);
    if (!worker.ok()) return Fail(worker.status());
    std::cout << (g.structured() ? Structured(g, *worker)
                                 : DescribeWorker(*worker, absl::Now(), absl::LocalTimeZone()));
    return kExitOk;
  }
  if (kind == "model") {
    return Fail(absl::InvalidArgumentError("describe models: use 'kilnctl get models -o wide'"));
  }
  absl::StatusOr<v1::Job> job = g.client->Get(name);
  if (!job.ok()) return Fail(job.status());
  std::cout << (g.structured() ? Structured(g, *job)
                               : DescribeJob(*job, absl::Now(), absl::LocalTimeZone()));
  return kExitOk;
}

// "drain worker ID [--resume]" or "drain ID".
int RunDrain(Globals& g, const ParsedArgs& args) {
  const std::vector<std::string>& pos = args.positional();
  const bool named_kind = !pos.empty() && KindOf(pos[0]) == "worker";
  const size_t want = named_kind ? 2 : 1;
  if (!pos.empty() && !named_kind && !KindOf(pos[0]).empty()) {
    return Fail(absl::InvalidArgumentError("only workers can be drained: drain worker ID"));
  }
  if (pos.size() != want) {
    return Fail(absl::InvalidArgumentError(
        pos.size() < want ? "missing WORKER_ID"
                          : absl::StrCat("unexpected argument \"", pos[want], "\"")));
  }
  absl::StatusOr<v1::WorkerInfo> worker = g.client->DrainWorker(pos.back(), args.Switch("resume"));
  if (!worker.ok()) return Fail(worker.status());
  if (g.structured()) {
    std::cout << Structured(g, *worker);
  } else {
    std::cout << worker->id() << " " << WorkerStatus(*worker);
    if (worker->draining() && worker->job_ids_size() > 0) {
      std::cout << " (finishing " << worker->job_ids_size() << " job"
                << (worker->job_ids_size() == 1 ? "" : "s") << ")";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

int RunWatch(Globals& g, const ParsedArgs& args) {
  if (absl::Status s = ExpectPositional(args, 1, "JOB_ID"); !s.ok()) return Fail(s);
  absl::StatusOr<absl::Duration> timeout =
      DurationFlag(args, "wait-timeout", absl::InfiniteDuration());
  if (!timeout.ok()) return Fail(timeout.status());
  // On a terminal, table output is one progress line redrawn in place ("\r", clear to the
  // end of the line); scripts and pipes keep one line per change.
  const bool live = !g.structured() && !args.Switch("no-progress") && ::isatty(STDOUT_FILENO) == 1;
  // One column short of the terminal: writing the last column makes some terminals wrap.
  const int width = live ? TerminalWidth(STDOUT_FILENO) - 1 : 0;
  v1::Job last;
  const absl::Status status = g.client->Watch(
      args.positional()[0],
      [&](const v1::Job& job) {
        last = job;
        if (live) {
          std::cout << "\r\033[K" << FormatWatchProgress(job, absl::Now(), width) << std::flush;
          return true;
        }
        // json: one job per line (NDJSON); yaml: one document per change.
        if (g.output == Output::kJson) {
          std::cout << ToJson(job, false) << std::endl;
        } else if (g.output == Output::kYaml) {
          std::cout << "---\n" << ToYaml(job) << std::endl;
        } else {
          std::cout << FormatWatchLine(job, absl::LocalTimeZone()) << std::endl;
        }
        return true;
      },
      *timeout);
  // The last redraw stays as the final state line.
  if (live && last.state() != v1::JOB_STATE_UNSPECIFIED) std::cout << std::endl;
  if (!status.ok()) return Fail(status, ExitCodeForWaitStatus(status));
  return ExitCodeForJobState(last.state());
}

int RunCancel(Globals& g, const ParsedArgs& args) {
  if (absl::Status s = ExpectPositional(args, 1, "JOB_ID"); !s.ok()) return Fail(s);
  absl::StatusOr<v1::Job> job = g.client->Cancel(args.positional()[0], args.GetOr("reason", ""));
  if (!job.ok()) return Fail(job.status());
  std::cout << (g.structured() ? Structured(g, *job)
                               : absl::StrCat(job->id(), " ", JobStateName(job->state()), "\n"));
  return kExitOk;
}

int RunFetch(Globals& g, const ParsedArgs& args) {
  if (absl::Status s = ExpectPositional(args, 1, "JOB_ID"); !s.ok()) return Fail(s);
  absl::StatusOr<v1::Job> job = g.client->Get(args.positional()[0]);
  if (!job.ok()) return Fail(job.status());
  if (job->state() != v1::JOB_STATE_SUCCEEDED) {
    const int code = IsTerminal(job->state()) ? ExitCodeForJobState(job->state()) : kExitError;
    return Fail(
        absl::FailedPreconditionError(absl::StrCat(
            "job ", job->id(), " is ", JobStateName(job->state()),
            "; only a succeeded job has outputs",
            job->status_message().empty() ? "" : absl::StrCat(" (", job->status_message(), ")"))),
        code);
  }
  std::vector<const v1::BlobRef*> selected;
  const std::vector<std::string>& wanted = args.GetAll("output");
  for (const std::string& name : wanted) {
    const v1::BlobRef* found = nullptr;
    for (const v1::BlobRef& out : job->outputs()) {
      if (out.name() == name) found = &out;
    }
    if (found == nullptr) {
      std::vector<std::string> names;
      for (const v1::BlobRef& out : job->outputs()) names.push_back(out.name());
      return Fail(
          absl::NotFoundError(absl::StrCat("job ", job->id(), " has no output \"", name,
                                           "\" (it has: ", absl::StrJoin(names, ", "), ")")));
    }
    selected.push_back(found);
  }
  if (wanted.empty()) {
    for (const v1::BlobRef& out : job->outputs()) selected.push_back(&out);
  }
  const std::filesystem::path dir = args.GetOr("dir", ".");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return Fail(absl::Status(absl::ErrnoToStatusCode(error.value()),
                             absl::StrCat("cannot create ", dir.string(), ": ", error.message())));
  }
  for (const v1::BlobRef* out : selected) {
    // Output names are plain file names; refuse anything that would leave --dir.
    if (out->name().empty() || out->name() == "." || out->name() == ".." ||
        out->name().find('/') != std::string::npos) {
      return Fail(absl::InternalError(absl::StrCat("output name \"", out->name(), "\" is unsafe")));
    }
    const std::string path = (dir / out->name()).string();
    if (absl::Status s = g.client->DownloadBlob(out->sha256(), path); !s.ok()) return Fail(s);
    std::cout << path << "\n";
  }
  return kExitOk;
}

int RunWorkers(Globals& g, const ParsedArgs& args) {
  if (absl::Status s = ExpectPositional(args, 0, ""); !s.ok()) return Fail(s);
  return GetWorkers(g, {});
}

int RunLogs(Globals& g, const ParsedArgs& args) {
  absl::StatusOr<LogsArgs> logs = ParseLogsArgs(args);
  if (!logs.ok()) return Fail(logs.status(), kExitUsage);
  absl::StatusOr<v1::GetJobLogResponse> last = g.client->ReadLog(
      logs->job_id, logs->attempt, logs->follow,
      [](absl::string_view bytes) { std::cout.write(bytes.data(), bytes.size()) << std::flush; });
  if (!last.ok()) {
    // No such attempt is a "not found" to scripts, like no such job.
    return Fail(last.status(), last.status().code() == absl::StatusCode::kOutOfRange
                                   ? kExitNotFound
                                   : ExitCodeForStatus(last.status()));
  }
  if (!logs->follow) return kExitOk;
  std::cerr << "kilnctl: attempt " << last->attempt() << " of job " << logs->job_id << " ended ("
            << v1::ExitReason_Name(last->exit_reason()) << "); job "
            << JobStateName(last->job_state()) << "\n";
  return ExitCodeForJobState(last->job_state());
}

std::vector<Verb> Verbs() {
  std::vector<FlagSpec> submit_flags = JobSpecFlags();
  submit_flags.push_back({"wait", 'w', false, "", "wait for the job, showing progress on stderr"});
  submit_flags.push_back(
      {"wait-timeout", '\0', true, "DURATION", "with --wait: give up after this long (exit 7)"});
  return {
      {"submit", "TASK [flags] | -f FILE [TASK] [flags]", "submit a job",
       R"(Uploads the --input files, submits the job and prints its id (with -o json: the job).
With --wait, follows the job (a progress bar on stderr) and exits with its outcome;
stdout still holds only the id (with -o json: only the final job).

Examples:
  kilnctl submit mesh.extract --input volume.npy --param level=0.5 --wait
  kilnctl submit image_to_3d --model triposr --input input.png=chair.png \
      --accelerator gpu --min-cc 8.0 --min-memory 16GiB --label project=chairs
  kilnctl submit -f spec.json --priority 10 --params '{"resolution": 256}'
  kilnctl submit -f spec.yaml --wait        # YAML or JSON; flags override the file

A spec file holds a JobSpec's fields (docs/api.md), e.g. spec.yaml:
  task: mesh.extract
  parameters:
    shape: {type: sphere, radius: 1}
    resolution: 64
  requirements: {accelerator: ACCELERATOR_CPU}
  priority: 5
  labels: {project: chairs}
It is read as YAML when named .yaml/.yml, or when it does not start with '{'; errors
name the file, line:column and field.

A pipeline file (a top-level `jobs` list) submits several named jobs in one batch,
each after the jobs it depends_on, with their outputs as inputs (docs/pipelines.md);
kilnctl prints "NAME ID" per job; with --wait it then follows every job and the child
jobs they submit, printed as "PARENT/CHILD ID" when found (a one-command image -> 3D
scene: examples/pipelines/three_objects.yaml). A pipeline file:
  jobs:
    - name: mesh
      task: mesh.extract
      files: {volume.npy: data/volume.npy}   # uploaded, relative to the file
    - name: glb
      task: mesh.convert
      depends_on: [mesh]                      # or {name: mesh, run_on_failure: true}
)",
       submit_flags, RunSubmit},
      {"get",
       "jobs|workers|models [NAME...] [flags]",
       "list jobs, workers or models (or show some by name)",
       R"(Prints a table (-o wide: more columns; -o json|yaml: the API's messages).
  get jobs [JOB_ID...]     jobs, newest first (one page unless --limit or --all)
  get workers [WORKER_ID]  registered workers: devices, slots, status (ready, draining, lost)
  get models [NAME[@VER]]  the models workers advertise, and how many can run each
  get JOB_ID               one job (the kind may be left out for job ids)

Examples:
  kilnctl get jobs --state running -o wide
  kilnctl get jobs --label project=chairs --all -o json
  kilnctl get workers -o yaml
  kilnctl get models
  kilnctl get j-0123456789abcdef -o json
)",
       {{"state", '\0', true, "STATE", "jobs: queued|assigned|running|succeeded|failed|cancelled"},
        {"label", 'l', true, "K=V", "jobs: only those with this label (repeat: all must match)"},
        {"limit", '\0', true, "N", "jobs: show at most N (fetching more pages as needed)"},
        {"all", 'a', false, "", "jobs: follow page tokens to the last page"}},
       RunGet},
      {"list",
       "[flags]",
       "list jobs, newest first (same as 'get jobs')",
       R"(Without --all or --limit, shows one page (the scheduler's default page size).

Examples:
  kilnctl list --state running
  kilnctl list --label project=chairs --all -o json
)",
       {{"state", '\0', true, "STATE", "queued|assigned|running|succeeded|failed|cancelled"},
        {"label", 'l', true, "K=V", "only jobs with this label (repeat: all must match)"},
        {"limit", '\0', true, "N", "show at most N jobs (fetching more pages as needed)"},
        {"all", 'a', false, "", "follow page tokens to the last page"}},
       RunList},
      {"describe",
       "job|worker NAME",
       "show everything about a job or a worker",
       "A job: spec, requirements, state and pending reason, timestamps, every attempt (worker,\n"
       "device, tier, exit reason), outputs and result. A worker: devices (compute capability,\n"
       "memory, runnable or why not), slots with their tasks and models, status, its jobs.\n\n"
       "Examples:\n  kilnctl describe job j-0123456789abcdef\n"
       "  kilnctl describe j-0123456789abcdef      # job is the default kind\n"
       "  kilnctl describe worker gpu-07 -o yaml\n",
       {},
       RunDescribe},
      {"drain",
       "worker WORKER_ID [--resume]",
       "stop assigning jobs to a worker (or, with --resume, start again)",
       "The worker finishes the jobs it holds and gets no new ones; 'get workers' shows it\n"
       "as draining. The drain is stored by the scheduler: it survives scheduler restarts\n"
       "and the worker re-registering, until 'drain worker ID --resume'. Prints the worker id\n"
       "and its status (-o json|yaml: the worker).\n\n"
       "Examples:\n  kilnctl drain worker gpu-07\n"
       "  kilnctl get workers            # gpu-07 ... draining\n"
       "  kilnctl drain worker gpu-07 --resume\n",
       {{"resume", '\0', false, "", "end the drain: the worker is assigned jobs again"}},
       RunDrain},
      {"watch",
       "JOB_ID",
       "follow a job until it finishes",
       R"(On a terminal, a live progress line redrawn in place (bar, percent, state, elapsed,
progress message) that stays as the final state line. Piped or redirected, or with
--no-progress: one line per change (-o json: one JSON job per line; -o yaml: one document
per change). Exits with the outcome (0 succeeded, 4 failed, 5 cancelled).

Examples:
  kilnctl watch j-0123456789abcdef
      [##########----------]   50%  running  3s  slept 1.0 of 2.0 s
  kilnctl watch j-0123456789abcdef --no-progress | tee watch.log
  kilnctl watch j-0123456789abcdef -o json | jq .state
)",
       {{"wait-timeout", '\0', true, "DURATION", "give up after this long (exit 7)"},
        {"no-progress", '\0', false, "", "one line per change even on a terminal"}},
       RunWatch},
      {"cancel",
       "JOB_ID",
       "cancel a job that has not finished",
       "Prints the job id and its state after the cancel.\n\n"
       "Example:\n  kilnctl cancel j-0123456789abcdef --reason 'wrong model'\n",
       {{"reason", 'r', true, "TEXT", "why; recorded on the job"}},
       RunCancel},
      {"fetch",
       "JOB_ID [flags]",
       "download the outputs of a succeeded job",
       "Downloads (and verifies) the outputs into --dir; prints one path per line.\n\n"
       "Examples:\n  kilnctl fetch j-0123456789abcdef --dir out/\n"
       "  kilnctl fetch j-0123456789abcdef --output mesh.glb\n",
       {{"dir", 'd', true, "DIR", "where to put the files (default .; created if missing)"},
        {"output", '\0', true, "NAME", "only this output (repeat)"}},
       RunFetch},
      {"logs", "JOB_ID [flags]", "print what a job's attempt printed (stdout and stderr)",
       R"(Prints the output of the job's latest attempt (or --attempt N): from the attempt's
log blob once it ended (the last 4 MiB, with a first line saying so when cut), else
what the scheduler holds of it so far. With --follow, keeps printing while the attempt
runs and exits when it ends: 0, or 4/5 when the job failed or was cancelled.
Errors: no such job or attempt (exit 3), no attempt yet (exit 1).

Examples:
  kilnctl logs j-0123456789abcdef
  kilnctl logs j-0123456789abcdef --attempt 1
  id=$(kilnctl submit debug.sleep --params '{"seconds":5,"print":10}')
  kilnctl logs $id --follow
)",
       LogsFlags(), RunLogs},
      {"workers",
       "",
       "list registered workers (same as 'get workers')",
       "Devices show as id(compute capability,memory); '!' marks a device that is not runnable.\n\n"
       "Example:\n  kilnctl workers -o json\n",
       {},
       RunWorkers},
  };
}

void PrintMainHelp(std::ostream& out) {
  out << "kilnctl: submit and follow jobs on a Kiln render farm.\n\n"
         "Usage: kilnctl [global flags] COMMAND [args] [flags]\n\nCommands:\n";
  std::vector<std::vector<std::string>> rows;
  for (const Verb& verb : Verbs()) rows.push_back({verb.name, verb.summary});
  std::string table = FormatTable({"", ""}, rows);
  for (absl::string_view line : absl::StrSplit(absl::StripSuffix(table, "\n"), '\n')) {
    if (!absl::StripAsciiWhitespace(line).empty()) out << "  " << line << "\n";
  }
  out << "  help       show help for a command\n\nGlobal flags:\n"
      << FlagsHelp(GlobalFlags()) << "\n"
      << kExitCodesHelp << "\n"
      << kConfigHelp
      << "\nExamples:\n"
         "  id=$(kilnctl submit mesh.extract --input volume.npy --param level=0.5)\n"
         "  kilnctl watch $id && kilnctl fetch $id --dir out/\n"
         "  kilnctl --addr scheduler:7070 list --state queued\n\n"
         "Run 'kilnctl COMMAND --help' for the flags of a command.\n";
}

void PrintVerbHelp(const Verb& verb, std::ostream& out) {
  out << "Usage: kilnctl " << verb.name << (verb.usage.empty() ? "" : " ") << verb.usage << "\n\n"
      << verb.summary << ".\n"
      << verb.details;
  if (!verb.flags.empty()) out << "\nFlags:\n" << FlagsHelp(verb.flags);
  std::vector<FlagSpec> globals;
  for (const FlagSpec& flag : GlobalFlags()) {
    bool shadowed = false;
    for (const FlagSpec& own : verb.flags) shadowed |= own.name == flag.name;
    if (!shadowed) globals.push_back(flag);
  }
  out << "\nGlobal flags:\n" << FlagsHelp(globals) << "\n" << kExitCodesHelp << "\n" << kConfigHelp;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> all_args(argv + 1, argv + argc);
  auto [verb_name, rest] = ExtractVerb(GlobalFlags(), all_args);
  const std::vector<Verb> verbs = Verbs();

  if (verb_name.empty() || verb_name == "help") {
    absl::StatusOr<ParsedArgs> parsed = ParseArgs(GlobalFlags(), rest);
    if (!parsed.ok()) return Fail(parsed.status(), kExitUsage);
    if (verb_name == "help" && !parsed->positional().empty()) {
      for (const Verb& verb : verbs) {
        if (verb.name == parsed->positional()[0]) {
          PrintVerbHelp(verb, std::cout);
          return kExitOk;
        }
      }
      return Fail(absl::InvalidArgumentError(
                      absl::StrCat("unknown command \"", parsed->positional()[0], "\"")),
                  kExitUsage);
    }
    if (verb_name.empty() && !parsed->Switch("help")) {
      PrintMainHelp(std::cerr);
      return kExitUsage;
    }
    PrintMainHelp(std::cout);
    return kExitOk;
  }

  const Verb* verb = nullptr;
  for (const Verb& v : verbs) {
    if (v.name == verb_name) verb = &v;
  }
  if (verb == nullptr) {
    std::cerr << "kilnctl: unknown command \"" << verb_name << "\"; run 'kilnctl --help'\n";
    return kExitUsage;
  }
  // A verb's flag shadows a global flag of the same long name (fetch --output NAME).
  auto verb_defines = [verb](absl::string_view name) {
    for (const FlagSpec& flag : verb->flags) {
      if (flag.name == name) return true;
    }
    return false;
  };
  std::vector<FlagSpec> flags = verb->flags;
  for (const FlagSpec& flag : GlobalFlags()) {
    if (!verb_defines(flag.name)) flags.push_back(flag);
  }
  absl::StatusOr<ParsedArgs> args = ParseArgs(flags, rest);
  if (!args.ok()) {
    std::cerr << "kilnctl " << verb->name << ": " << args.status().message() << "\nRun 'kilnctl "
              << verb->name << " --help' for usage.\n";
    return kExitUsage;
  }
  if (args->Switch("help")) {
    PrintVerbHelp(*verb, std::cout);
    return kExitOk;
  }

  // Settings: flag > environment > config file > default (kilnctl_config.h).
  auto getenv = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  };
  ConfigFile config;
  ConfigLocation location = FindConfigFile(getenv);
  if (std::optional<std::string> path = args->Get("config")) location = {*path, true};
  if (!location.path.empty()) {
    std::error_code error;
    const bool exists = std::filesystem::exists(location.path, error);
    if (!exists && location.required) {
      return Fail(absl::NotFoundError(absl::StrCat("config file ", location.path, " not found")),
                  kExitUsage);
    }
    if (exists) {
      std::ifstream in(location.path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        return Fail(
            absl::InvalidArgumentError(absl::StrCat("cannot read config file ", location.path)),
            kExitUsage);
      }
      absl::StatusOr<ConfigFile> parsed = ParseConfigFile(text.str(), location.path);
      if (!parsed.ok()) return Fail(parsed.status(), kExitUsage);
      config = *std::move(parsed);
    }
  }

  Globals globals;
  const std::string output = Resolve(verb_defines("output") ? std::nullopt : args->Get("output"),
                                     getenv("KILN_OUTPUT"), config, "output", "table");
  static const std::pair<const char*, Output> kOutputs[] = {{"table", Output::kTable},
                                                            {"wide", Output::kWide},
                                                            {"json", Output::kJson},
                                                            {"yaml", Output::kYaml}};
  bool known_output = false;
  for (const auto& [name, value] : kOutputs) {
    if (output == name) {
      globals.output = value;
      known_output = true;
    }
  }
  if (!known_output) {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("-o \"", output, "\": expected table, wide, json or yaml")),
                kExitUsage);
  }
  ClientOptions options;
  options.address =
      Resolve(args->Get("addr"), getenv("KILN_ADDR"), config, "addr", kDefaultAddress);
  options.token = Resolve(args->Get("token"), getenv("KILN_TOKEN"), config, "token", "");
  options.tls.ca_file = Resolve(args->Get("tls-ca"), getenv("KILN_TLS_CA"), config, "tls-ca", "");
  options.tls.cert_file =
      Resolve(args->Get("tls-cert"), getenv("KILN_TLS_CERT"), config, "tls-cert", "");
  options.tls.key_file =
      Resolve(args->Get("tls-key"), getenv("KILN_TLS_KEY"), config, "tls-key", "");
  options.tls.server_name = Resolve(args->Get("tls-server-name"), getenv("KILN_TLS_SERVER_NAME"),
                                    config, "tls-server-name", "");
  const std::string timeout_text = Resolve(args->Get("timeout"), std::nullopt, config, "timeout",
                                           absl::FormatDuration(options.default_deadline));
  absl::Duration timeout;
  if (!absl::ParseDuration(timeout_text, &timeout) || timeout <= absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
                    "timeout \"", timeout_text, "\": expected a positive duration, e.g. 30s, 1h")),
                kExitUsage);
  }
  options.default_deadline = timeout;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  if (!client.ok()) return Fail(client.status(), kExitUsage);
  globals.client = *std::move(client);
  return verb->run(globals, *args);
}

}  // namespace
}  // namespace kiln::kilnctl

int main(int argc, char** argv) { return kiln::kilnctl::Main(argc, argv); }
