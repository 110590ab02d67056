// LocalFarm: a real farm on loopback for end-to-end tests: kiln-scheduler on
// 127.0.0.1 port 0 (its port read from --port-file), kiln-worker processes
// (each spawning kiln-exec children), and kilnctl runs, all as separate
// processes from the build's bin directory. Everything lives under one temp
// directory; the destructor kills what still runs. Test-only, one thread.
#ifndef KILN_TESTS_SUPPORT_LOCAL_FARM_H_
#define KILN_TESTS_SUPPORT_LOCAL_FARM_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/kiln_client.h"
#include "common/testing/scoped_temp_dir.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {

class LocalFarm {
 public:
  LocalFarm();
  ~LocalFarm();

  // Starts (or restarts, on the same data dir) the scheduler and waits until it serves.
  absl::Status StartScheduler(const std::vector<std::string>& extra_flags = {});
  // SIGKILL (or another signal) and reap.
  void StopScheduler(int signal);
  Subprocess* scheduler() { return scheduler_.get(); }

  // Starts worker number `index` (its own work dir, id "worker-<index>") with
  // `slots` CPU slots and no GPUs unless the flags choose some (--gpus,
  // --fake-devices).
  absl::Status StartWorker(int index, int slots, const std::vector<std::string>& extra_flags = {});
  void StopWorker(int index, int signal);
  Subprocess* worker(int index) { return workers_.at(index).get(); }

  std::string address() const;
  const std::string& dir() const { return dir_.path(); }
  std::string Log(const std::string& name) const { return ReadFileOrEmpty(dir_.Sub(name)); }

  CommandResult Kilnctl(const std::vector<std::string>& args,
                        absl::Duration timeout = absl::Seconds(60));
  // An SDK client with the given retry budget.
  std::unique_ptr<Client> NewClient(int max_retries = 5);

 private:
  ScopedTempDir dir_;
  int port_ = 0;
  int scheduler_starts_ = 0;
  std::unique_ptr<Subprocess> scheduler_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

// Path of a binary of this build (kiln-scheduler, kiln-worker, kiln-exec, kilnctl).
std::string BinaryPath(const std::string& name);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_LOCAL_FARM_H_
