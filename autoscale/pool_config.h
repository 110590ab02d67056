// Pool definitions of kiln-autoscale: which Slurm worker jobs to submit for which queued
// work. A pool serves the requirement classes its selectors match (the labels of the
// scheduler's kiln_queue_jobs series), submits its script with sbatch (partition, gres,
// constraint, extra arguments, environment) and keeps between min_workers and
// max_workers jobs. Parsed from JSON (see slurm/README.md); pure, any thread.
#ifndef KILN_AUTOSCALE_POOL_CONFIG_H_
#define KILN_AUTOSCALE_POOL_CONFIG_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autoscale/queue_demand.h"
#include "autoscale/scaling_policy.h"

namespace kiln::autoscale {

// Matches a requirement class when every label it names has one of the listed values
// (labels: task, accelerator, min_cc, memory, placement). An empty selector matches all.
struct ClassSelector {
  std::map<std::string, std::vector<std::string>> labels;
  bool Matches(const std::map<std::string, std::string>& series_labels) const;
};

struct PoolConfig {
  std::string name;  // [A-Za-z0-9._-]{1,64}; the Slurm job name is "kiln-<name>".
  std::vector<ClassSelector> classes;
  std::string script;                    // sbatch script (e.g. slurm/kiln-worker.sbatch)
  std::string partition;                 // --partition, empty: the cluster's default
  std::string gres;                      // --gres, e.g. gpu:h100:4
  std::string constraint;                // --constraint
  std::vector<std::string> sbatch_args;  // extra sbatch arguments
  std::vector<std::pair<std::string, std::string>> env;  // --export=ALL,K=V,...
  ScalingPolicy policy;
};

struct AutoscaleConfig {
  std::vector<PoolConfig> pools;
};

// Parses the JSON document {"pools": [...]}. InvalidArgument naming `source` and the
// field ("pools[1].max_workers: ...") for anything wrong or unknown.
absl::StatusOr<AutoscaleConfig> ParseAutoscaleConfig(absl::string_view json,
                                                     absl::string_view source);
// Reads and parses the file.
absl::StatusOr<AutoscaleConfig> LoadAutoscaleConfig(const std::string& path);

// Queued jobs the pool serves: the sum of the samples (kiln_queue_jobs) that one of its
// selectors matches, each sample counted once.
int64_t PoolDemand(const PoolConfig& pool, const std::vector<Sample>& queue_jobs);

// "kiln-<pool>": how the autoscaler finds its own jobs in squeue.
std::string SlurmJobName(const PoolConfig& pool);

}  // namespace kiln::autoscale

#endif  // KILN_AUTOSCALE_POOL_CONFIG_H_
