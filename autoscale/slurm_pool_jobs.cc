#include "autoscale/slurm_pool_jobs.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "autoscale/command.h"

namespace kiln::autoscale {
namespace {

absl::Status CommandFailed(const std::vector<std::string>& argv, const CommandOutput& out) {
  std::string err(absl::StripAsciiWhitespace(out.err));
  if (err.size() > 500) err = err.substr(0, 500) + "...";
  return absl::UnavailableError(
      absl::StrCat(argv[0], " exited with ", out.exit_code, err.empty() ? "" : ": ", err));
}

}  // namespace

absl::StatusOr<std::vector<WorkerJob>> ParseSqueue(absl::string_view text) {
  std::vector<WorkerJob> jobs;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::vector<absl::string_view> parts = absl::StrSplit(line, '|');
    if (parts.size() != 2 || parts[0].empty() ||
        !std::all_of(parts[0].begin(), parts[0].end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "squeue line ", line_number, ": expected \"JOBID|STATE\", got \"", line, "\""));
    }
    const absl::string_view state = parts[1];
    const bool pending = state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" ||
                         state == "RESV_DEL_HOLD" || state == "REQUEUE_HOLD";
    const bool running = state == "RUNNING" || state == "SUSPENDED" || state == "RESIZING";
    if (!pending && !running) continue;  // ending or ended
    jobs.push_back(WorkerJob{std::string(parts[0]), pending});
  }
  return jobs;
}

std::string SlurmJobIdOfWorker(absl::string_view worker_id) {
  if (!absl::StartsWith(worker_id, "kiln-")) return "";
  const size_t dash = worker_id.rfind('-');
  const absl::string_view id = worker_id.substr(dash + 1);
  if (dash < 5 || id.empty() || !std::all_of(id.begin(), id.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return "";
  }
  return std::string(id);
}

std::vector<std::string> SbatchCommand(const SlurmOptions& options, const PoolConfig& pool) {
  std::vector<std::string> argv = {
      options.bin_dir.empty() ? "sbatch" : absl::StrCat(options.bin_dir, "/sbatch"), "--parsable",
      absl::StrCat("--job-name=", SlurmJobName(pool))};
  if (!pool.partition.empty()) argv.push_back(absl::StrCat("--partition=", pool.partition));
  if (!pool.gres.empty()) argv.push_back(absl::StrCat("--gres=", pool.gres));
  if (!pool.constraint.empty()) argv.push_back(absl::StrCat("--constraint=", pool.constraint));
  std::string exports = absl::StrCat("--export=ALL,KILN_POOL=", pool.name);
  for (const auto& [key, value] : pool.env) absl::StrAppend(&exports, ",", key, "=", value);
  argv.push_back(std::move(exports));
  argv.insert(argv.end(), pool.sbatch_args.begin(), pool.sbatch_args.end());
  argv.push_back(pool.script);
  return argv;
}

std::string SlurmPoolJobs::Bin(absl::string_view name) const {
  return options_.bin_dir.empty() ? std::string(name) : absl::StrCat(options_.bin_dir, "/", name);
}

absl::StatusOr<std::vector<WorkerJob>> SlurmPoolJobs::List(const PoolConfig& pool) const {
  const std::vector<std::string> argv = {Bin("squeue"), "-h",
                                         "--noconvert", absl::StrCat("--name=", SlurmJobName(pool)),
                                         "-o",          "%i|%T"};
  absl::StatusOr<CommandOutput> out = RunCommand(argv, options_.command_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return CommandFailed(argv, *out);
  return ParseSqueue(out->out);
}

absl::StatusOr<std::string> SlurmPoolJobs::Submit(const PoolConfig& pool) const {
  std::vector<std::string> argv = SbatchCommand(options_, pool);
  argv[0] = Bin("sbatch");
  absl::StatusOr<CommandOutput> out = RunCommand(argv, options_.command_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return CommandFailed(argv, *out);
  // --parsable: "jobid" or "jobid;cluster".
  std::string id(absl::StripAsciiWhitespace(out->out));
  id = id.substr(0, id.find(';'));
  if (id.empty()) return absl::UnavailableError("sbatch printed no job id");
  return id;
}

absl::Status SlurmPoolJobs::Stop(const std::vector<WorkerJob>& jobs) const {
  std::vector<std::string> pending = {Bin("scancel")};
  std::vector<std::string> running = {Bin("scancel"), "--batch", "--signal=TERM"};
  for (const WorkerJob& job : jobs) (job.pending ? pending : running).push_back(job.id);
  for (const std::vector<std::string>* argv : {&pending, &running}) {
    if (argv->size() == (argv == &pending ? 1u : 3u)) continue;
    absl::StatusOr<CommandOutput> out = RunCommand(*argv, options_.command_timeout);
    if (!out.ok()) return out.status();
    if (out->exit_code != 0) return CommandFailed(*argv, *out);
  }
  return absl::OkStatus();
}

}  // namespace kiln::autoscale
