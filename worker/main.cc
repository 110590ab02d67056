// kiln-worker: one per host. Registers one slot per GPU it uses plus its CPU slots with
// kiln-scheduler, runs each job on a long-lived kiln-exec child per slot (a GPU slot's
// child sees only its GPU), and survives the children's crashes.
//   kiln-worker --scheduler=host:port --work-dir=/var/lib/kiln-worker [--slots=N]
//               [--gpus=auto|none|0,2] [--fake-devices=SPEC] [--reprobe-interval=10m]
//               [--tls-ca=ca.pem [--tls-cert=worker.pem --tls-key=worker.key]]
// SIGTERM/SIGINT (scancel sends SIGTERM, then SIGKILL after Slurm's KillWait): drain:
// stop taking jobs, let running ones finish for up to --drain-grace, hand back (to the
// queue, without using up an attempt) what still runs then, exit 0. A second signal
// exits at once.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/flag_names.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "worker/agent/worker_agent.h"
#include "worker/metrics/worker_metrics.h"

ABSL_FLAG(std::string, scheduler, "", "Scheduler address, host:port (required).");
ABSL_FLAG(std::string, work_dir, "", "Directory for job files and executor logs (required).");
ABSL_FLAG(int, slots, 1,
          "Number of CPU slots (one kiln-exec each); 0 is allowed when a GPU slot exists.");
ABSL_FLAG(std::string, gpus, "auto",
          "GPUs that get a slot: auto (every GPU kiln-exec --probe lists), none, or indices "
          "such as 0,2.");
ABSL_FLAG(std::string, fake_devices, "",
          "Simulated GPUs for tests and demos, e.g. sm_120:32GiB,sm_86:24GiB:nokernel, or a "
          "file of them; forwarded to every kiln-exec.");
ABSL_FLAG(absl::Duration, reprobe_interval, absl::Minutes(10),
          "How often to probe the GPUs again (0: never).");
ABSL_FLAG(std::string, worker_id, "",
          "Worker id; default: hostname-<hash of the absolute work dir>.");
ABSL_FLAG(std::string, exec_path, "", "kiln-exec binary; default: next to kiln-worker.");
ABSL_FLAG(std::string, model_repo, "",
          "Model repository (<repo>/<name>/<version>/manifest.json) for the executors; "
          "default: the built-in models of this build or install (../models from the binary).");
ABSL_FLAG(absl::Duration, acquire_wait, absl::Seconds(10), "Long-poll wait of one AcquireJob.");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(20),
          "On SIGTERM/SIGINT, how long running jobs may go on before they are handed back "
          "to the queue (0: at once). Keep it below Slurm's KillWait (default 30s).");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port for Prometheus /metrics (empty: no metrics endpoint).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates that the scheduler's certificate must chain to; turns TLS on.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate (with --tls-key) for a scheduler that requires mutual TLS "
          "(--tls-client-ca); turns TLS on.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert (unencrypted).");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the scheduler's certificate must carry, instead of the host in --scheduler; "
          "turns TLS on.");
ABSL_FLAG(std::string, token, "",
          "Worker token for a scheduler with --auth-tokens (visible in ps: prefer --token-file "
          "or KILN_TOKEN).");
ABSL_FLAG(std::string, token_file, "",
          "File holding the worker token (surrounding whitespace ignored); else --token, else "
          "the environment variable KILN_TOKEN.");
ABSL_FLAG(std::string, log_format, "text",
          "Log lines as text (glog-like) or json (one object a line); kiln-exec children "
          "inherit it.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "kiln-worker --scheduler=host:port --work-dir=DIR [--slots=N] [--gpus=auto|none|0,2]: "
      "runs Kiln jobs");
  // Debian's Abseil builds check lock order on every Mutex::Lock; the cost shows in
  // profiles and the code is covered by tests and lock annotations instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  kiln::NormalizeFlagDashes(argc, argv);
  absl::ParseCommandLine(argc, argv);

  kiln::BlockStopSignals();
  absl::StatusOr<kiln::LogFormat> log_format =
      kiln::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    std::fprintf(stderr, "kiln-worker: %s\n", std::string(log_format.status().message()).c_str());
    return 2;
  }
  kiln::SetLogFormat(*log_format);  // Also exported to the kiln-exec children.

  kiln::agent::WorkerAgentOptions options;
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_token_file));
    if (!in) {
      std::fprintf(stderr, "kiln-worker: --token-file: cannot read %s\n",
                   absl::GetFlag(FLAGS_token_file).c_str());
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    options.token = std::string(absl::StripAsciiWhitespace(text.str()));
    if (options.token.empty()) {
      std::fprintf(stderr, "kiln-worker: --token-file: %s is empty\n",
                   absl::GetFlag(FLAGS_token_file).c_str());
      return 2;
    }
  } else if (!absl::GetFlag(FLAGS_token).empty()) {
    options.token = absl::GetFlag(FLAGS_token);
  } else if (const char* env = std::getenv("KILN_TOKEN"); env != nullptr) {
    options.token = env;
  }
  if (options.scheduler_address.empty() || absl::GetFlag(FLAGS_work_dir).empty()) {
    std::fprintf(stderr, "kiln-worker: --scheduler and --work-dir are required\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(absl::GetFlag(FLAGS_work_dir), ec);
  const std::filesystem::path work_dir =
      std::filesystem::weakly_canonical(std::filesystem::absolute(absl::GetFlag(FLAGS_work_dir)));
  options.work_dir = work_dir.string();
  options.slots = absl::GetFlag(FLAGS_slots);
  absl::StatusOr<std::optional<std::vector<int>>> gpus =
      kiln::agent::ParseGpuSelection(absl::GetFlag(FLAGS_gpus));
  if (!gpus.ok()) {
    std::fprintf(stderr, "kiln-worker: %s\n", std::string(gpus.status().message()).c_str());
    return 2;
  }
  options.gpus = *std::move(gpus);
  options.fake_devices = absl::GetFlag(FLAGS_fake_devices);
  options.reprobe_interval = absl::GetFlag(FLAGS_reprobe_interval);
  options.worker_id = absl::GetFlag(FLAGS_worker_id);
  if (options.worker_id.empty()) options.worker_id = kiln::agent::DefaultWorkerId(options.work_dir);
  options.exec_path = absl::GetFlag(FLAGS_exec_path);
  if (options.exec_path.empty()) options.exec_path = kiln::agent::DefaultExecPath();
  options.model_repo = absl::GetFlag(FLAGS_model_repo);
  if (options.model_repo.empty()) options.model_repo = kiln::agent::DefaultModelRepository();
  options.acquire_wait = absl::GetFlag(FLAGS_acquire_wait);

  // Metrics first: their observer goes into the agent's options.
  std::unique_ptr<kiln::worker_metrics::WorkerMetrics> metrics;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    kiln::worker_metrics::WorkerMetricsOptions metrics_options;
    metrics_options.listen = absl::GetFlag(FLAGS_metrics_listen);
    metrics_options.worker_id = options.worker_id;
    metrics_options.version = options.version;
    auto created = kiln::worker_metrics::WorkerMetrics::Create(metrics_options);
    if (!created.ok()) {
      KILN_LOG(ERROR) << "kiln-worker: " << created.status();
      return 1;
    }
    metrics = *std::move(created);
    options.observer = metrics->observer();
  }

  absl::StatusOr<std::unique_ptr<kiln::agent::WorkerAgent>> agent =
      kiln::agent::WorkerAgent::Create(options);
  if (!agent.ok()) {
    KILN_LOG(ERROR) << "kiln-worker: " << agent.status();
    return 1;
  }
  if (metrics != nullptr) {
    metrics->Attach(agent->get());
    KILN_LOG(INFO) << "kiln-worker: metrics on port " << metrics->port()
                   << (metrics->has_nvml() ? " (with NVML)" : "");
  }

  kiln::agent::WorkerAgent* raw = agent->get();
  const absl::Duration drain_grace = absl::GetFlag(FLAGS_drain_grace);
  std::thread([raw, drain_grace] {
    pthread_setname_np(pthread_self(), "signal");
    const int sig = kiln::WaitForStopSignal();
    KILN_LOG(INFO) << "signal " << sig << " (SIG" << sigabbrev_np(sig) << "): draining, grace "
                   << absl::FormatDuration(drain_grace);
    raw->Drain(drain_grace);
    kiln::WaitForStopSignal();
    KILN_LOG(WARNING) << "second signal: exiting now";
    std::_Exit(1);
  }).detach();

  const absl::Status status = (*agent)->Run();
  // Scrapes read the agent: stop serving them first.
  if (metrics != nullptr) metrics->StopServing();
  agent->reset();  // Stops the executors before exit.
  if (!status.ok()) {
    KILN_LOG(ERROR) << "kiln-worker: " << status;
    return 1;
  }
  return 0;
}
