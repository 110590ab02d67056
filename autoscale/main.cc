// kiln-autoscale: scales Slurm worker pools on queue demand.
//   kiln-autoscale --config=pools.json --scheduler-metrics=sched:9470 [--interval=30s]
//                  [--metrics-listen=0.0.0.0:9472] [--once] [--dry-run]
// Reads kiln_queue_jobs from the scheduler's /metrics every --interval and submits or
// cancels each pool's worker jobs (slurm/README.md). SIGTERM/SIGINT: stop after the
// current poll; the worker jobs stay as they are.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "autoscale/autoscaler.h"
#include "common/flag_names.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "prometheus/exposer.h"

ABSL_FLAG(std::string, config, "", "Pool definitions, JSON (required; see slurm/README.md).");
ABSL_FLAG(std::string, scheduler_metrics, "",
          "kiln-scheduler's --metrics-listen address, host:port (required).");
ABSL_FLAG(std::string, scheduler, "",
          "kiln-scheduler's gRPC address, host:port (optional): with it, scale-down cancels "
          "only idle workers.");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(30), "Time between polls.");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port for this process's Prometheus /metrics (empty: none).");
ABSL_FLAG(std::string, slurm_bin_dir, "", "Directory of sbatch/squeue/scancel (default: PATH).");
ABSL_FLAG(bool, once, false, "Poll once and exit (1 if the poll failed).");
ABSL_FLAG(bool, dry_run, false, "Log decisions without submitting or cancelling.");
ABSL_FLAG(std::string, log_format, "text", "Log lines as text or json.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "kiln-autoscale --config=pools.json --scheduler-metrics=host:port [--interval=30s]: "
      "scales Slurm worker pools on Kiln's queue demand");
  kiln::NormalizeFlagDashes(argc, argv);
  absl::ParseCommandLine(argc, argv);
  kiln::BlockStopSignals();
  absl::StatusOr<kiln::LogFormat> log_format =
      kiln::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    std::fprintf(stderr, "kiln-autoscale: %s\n",
                 std::string(log_format.status().message()).c_str());
    return 2;
  }
  kiln::SetLogFormat(*log_format);
  if (absl::GetFlag(FLAGS_config).empty() || absl::GetFlag(FLAGS_scheduler_metrics).empty()) {
    std::fprintf(stderr, "kiln-autoscale: --config and --scheduler-metrics are required\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_interval) < absl::Seconds(1)) {
    std::fprintf(stderr, "kiln-autoscale: --interval must be at least 1s\n");
    return 2;
  }
  absl::StatusOr<kiln::autoscale::AutoscaleConfig> config =
      kiln::autoscale::LoadAutoscaleConfig(absl::GetFlag(FLAGS_config));
  if (!config.ok()) {
    std::fprintf(stderr, "kiln-autoscale: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  kiln::autoscale::AutoscalerOptions options;
  options.config = *std::move(config);
  options.scheduler_metrics = absl::GetFlag(FLAGS_scheduler_metrics);
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.slurm.bin_dir = absl::GetFlag(FLAGS_slurm_bin_dir);
  options.dry_run = absl::GetFlag(FLAGS_dry_run);
  absl::StatusOr<std::unique_ptr<kiln::autoscale::Autoscaler>> autoscaler =
      kiln::autoscale::Autoscaler::Create(options);
  if (!autoscaler.ok()) {
    KILN_LOG(ERROR) << "kiln-autoscale: " << autoscaler.status();
    return 2;
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(absl::GetFlag(FLAGS_metrics_listen));
    } catch (const std::exception& e) {
      KILN_LOG(ERROR) << "kiln-autoscale: metrics_listen " << absl::GetFlag(FLAGS_metrics_listen)
                      << ": " << e.what();
      return 1;
    }
    exposer->RegisterCollectable((*autoscaler)->registry());
  }
  if (absl::GetFlag(FLAGS_once)) return (*autoscaler)->PollOnce().ok() ? 0 : 1;

  absl::Notification stop;
  std::thread([&stop] {
    pthread_setname_np(pthread_self(), "signal");
    kiln::WaitForStopSignal();
    stop.Notify();
  }).detach();
  KILN_LOG(INFO) << "kiln-autoscale: " << options.config.pools.size() << " pool(s), polling "
                 << options.scheduler_metrics << " every "
                 << absl::FormatDuration(absl::GetFlag(FLAGS_interval));
  while (!stop.HasBeenNotified()) {
    (void)(*autoscaler)->PollOnce();  // logged inside
    stop.WaitForNotificationWithTimeout(absl::GetFlag(FLAGS_interval));
  }
  KILN_LOG(INFO) << "kiln-autoscale: stopping";
  return 0;
}
