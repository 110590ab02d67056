// kiln-worker: one per host. Registers its CPU slots with kiln-scheduler, runs each job
// on a long-lived kiln-exec child per slot, and survives the children's crashes.
//   kiln-worker --scheduler=host:port --work-dir=/var/lib/kiln-worker [--slots=N]
// SIGTERM/SIGINT: stop taking jobs, fail running attempts back to the queue, exit 0.
// A second signal exits at once.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/flag_names.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "worker/agent/worker_agent.h"

ABSL_FLAG(std::string, scheduler, "", "Scheduler address, host:port (required).");
ABSL_FLAG(std::string, work_dir, "", "Directory for job files and executor logs (required).");
ABSL_FLAG(int, slots, 1, "Number of CPU slots (one kiln-exec each).");
ABSL_FLAG(std::string, worker_id, "",
          "Worker id; default: hostname-<hash of the absolute work dir>.");
ABSL_FLAG(std::string, exec_path, "", "kiln-exec binary; default: next to kiln-worker.");
ABSL_FLAG(absl::Duration, acquire_wait, absl::Seconds(10), "Long-poll wait of one AcquireJob.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "kiln-worker --scheduler=host:port --work-dir=DIR [--slots=N]: runs Kiln jobs");
  kiln::NormalizeFlagDashes(argc, argv);
  absl::ParseCommandLine(argc, argv);

  kiln::BlockStopSignals();

  kiln::agent::WorkerAgentOptions options;
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
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
  options.worker_id = absl::GetFlag(FLAGS_worker_id);
  if (options.worker_id.empty()) options.worker_id = kiln::agent::DefaultWorkerId(options.work_dir);
  options.exec_path = absl::GetFlag(FLAGS_exec_path);
  if (options.exec_path.empty()) options.exec_path = kiln::agent::DefaultExecPath();
  options.acquire_wait = absl::GetFlag(FLAGS_acquire_wait);

  absl::StatusOr<std::unique_ptr<kiln::agent::WorkerAgent>> agent =
      kiln::agent::WorkerAgent::Create(options);
  if (!agent.ok()) {
    std::fprintf(stderr, "kiln-worker: %s\n", agent.status().ToString().c_str());
    return 1;
  }

  kiln::agent::WorkerAgent* raw = agent->get();
  std::thread([raw] {
    pthread_setname_np(pthread_self(), "signal");
    const int sig = kiln::WaitForStopSignal();
    KILN_LOG(INFO) << "signal " << sig << " (SIG" << sigabbrev_np(sig) << "): shutting down";
    raw->Shutdown();
    kiln::WaitForStopSignal();
    KILN_LOG(WARNING) << "second signal: exiting now";
    std::_Exit(1);
  }).detach();

  const absl::Status status = (*agent)->Run();
  agent->reset();  // Stops the executors before exit.
  if (!status.ok()) {
    std::fprintf(stderr, "kiln-worker: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
