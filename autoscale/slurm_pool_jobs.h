// The Slurm side of kiln-autoscale: the worker jobs of a pool (squeue by job name
// "kiln-<pool>"), submitting one more (sbatch) and stopping some. A pending job is
// cancelled (scancel); a running one gets SIGTERM in its batch shell only
// (scancel --batch --signal=TERM), which kiln-worker.sbatch has exec'ed into kiln-worker:
// the worker drains and exits, and no other process of the job (a model.run command) is
// signalled. Commands are run from PATH (or `bin_dir`); blocking, one thread.
#ifndef KILN_AUTOSCALE_SLURM_POOL_JOBS_H_
#define KILN_AUTOSCALE_SLURM_POOL_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "autoscale/pool_config.h"
#include "autoscale/scaling_policy.h"

namespace kiln::autoscale {

struct SlurmOptions {
  // Directory of sbatch/squeue/scancel; empty: PATH.
  std::string bin_dir;
  absl::Duration command_timeout = absl::Seconds(30);
};

// Parses `squeue -h -o "%i|%T"` output: one "id|STATE" per line. Jobs that are ending
// (COMPLETING, CANCELLED, ...) are left out; PENDING/CONFIGURING count as pending.
// InvalidArgument for a malformed line.
absl::StatusOr<std::vector<WorkerJob>> ParseSqueue(absl::string_view text);

// The Slurm job id in a worker id that kiln-worker.sbatch chose ("kiln-<node>-<jobid>"),
// or "" for another kind of id (array tasks, "<array>_<task>", included).
std::string SlurmJobIdOfWorker(absl::string_view worker_id);

// The sbatch command line that starts one worker of `pool`.
std::vector<std::string> SbatchCommand(const SlurmOptions& options, const PoolConfig& pool);

class SlurmPoolJobs {
 public:
  explicit SlurmPoolJobs(SlurmOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::vector<WorkerJob>> List(const PoolConfig& pool) const;
  // The new job's id.
  absl::StatusOr<std::string> Submit(const PoolConfig& pool) const;
  // Cancels the pending jobs and signals the running ones (see above).
  absl::Status Stop(const std::vector<WorkerJob>& jobs) const;

 private:
  std::string Bin(absl::string_view name) const;
  SlurmOptions options_;
};

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_SLURM_POOL_JOBS_H_
