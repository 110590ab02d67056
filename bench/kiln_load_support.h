// Building blocks of bench/kiln-load, the scheduler load generator:
// - SchedulerProcess: a real kiln-scheduler child on 127.0.0.1 port 0 (port read
//   from --port-file), started with posix_spawn and timed from exec to serving.
//   One thread owns it; the destructor SIGKILLs and reaps a child still running.
// - SampleProcess: CPU seconds (utime+stime) and VmRSS of a pid from /proc.
// - LatencyRecorder: thread-safe sample store with percentiles.
// - TimerThread: runs callbacks at given times on one thread; after Shutdown,
//   pending and new callbacks run at once on the caller's thread, so a chain of
//   work that waits on the timer always finishes.
#ifndef KILN_BENCH_KILN_LOAD_SUPPORT_H_
#define KILN_BENCH_KILN_LOAD_SUPPORT_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "tests/support/subprocess.h"

namespace kiln::bench {

struct ProcessSample {
  double cpu_seconds = 0;  // user + system, all threads
  int64_t rss_bytes = 0;   // VmRSS
};

// Reads /proc/<pid>/stat and /proc/<pid>/status.
absl::StatusOr<ProcessSample> SampleProcess(pid_t pid);

class SchedulerProcess {
 public:
  struct Options {
    std::string binary;    // path of kiln-scheduler
    std::string data_dir;  // --data-dir (created by the scheduler if missing)
    std::string work_dir;  // port file and log go here
    std::vector<std::string> extra_flags;
    // GetJob of this id must answer OK before the scheduler counts as serving;
    // empty: any answer other than UNAVAILABLE (NOT_FOUND included) does.
    std::string probe_job_id;
    absl::Duration start_timeout = absl::Seconds(120);
    // How the readiness probe connects (match the TLS flags in extra_flags).
    kiln::ClientTlsOptions tls;
  };

  // Spawns the scheduler and blocks until it serves (or fails / times out).
  static absl::StatusOr<std::unique_ptr<SchedulerProcess>> Start(const Options& options);
  ~SchedulerProcess();

  pid_t pid() const { return process_->pid(); }
  int port() const { return port_; }
  std::string address() const;
  // From just before posix_spawn to the port file appearing / GetJob answering.
  absl::Duration time_to_port_file() const { return time_to_port_file_; }
  absl::Duration time_to_serving() const { return time_to_serving_; }
  // The scheduler's log (stderr).
  std::string Log() const;

  // Sends `signal` and waits up to `timeout` for the exit; returns the exit
  // code (128+signal for a signal death).
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);

 private:
  SchedulerProcess() = default;

  std::unique_ptr<kiln::testing::Subprocess> process_;
  int port_ = 0;
  std::string log_path_;
  absl::Duration time_to_port_file_;
  absl::Duration time_to_serving_;
};

class LatencyRecorder {
 public:
  void Add(absl::Duration d);
  size_t count() const;
  // q in [0, 1]; zero duration when empty.
  absl::Duration Percentile(double q) const;

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<int64_t> micros_ ABSL_GUARDED_BY(mu_);
  mutable bool sorted_ ABSL_GUARDED_BY(mu_) = true;
};

class TimerThread {
 public:
  TimerThread();
  ~TimerThread();  // Shutdown()

  // Runs `fn` at `when` on the timer thread (at once on the caller's thread after Shutdown).
  void At(absl::Time when, std::function<void()> fn);
  // Runs what is pending now, on the caller's thread, and stops the thread.
  void Shutdown();

 private:
  void Loop();

  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> pending_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Creates a fresh directory under $TMPDIR (or /tmp); empty on failure.
std::string MakeTempDir(const std::string& prefix);

}  // namespace kiln::bench

#endif  // KILN_BENCH_KILN_LOAD_SUPPORT_H_
