// LiveLogForwarder: while an attempt runs, a thread ("log-N" for slot N) that every
// `interval` takes the attempt's new output from an AttemptLogCapture (at most
// `max_chunk_bytes`) and hands it to `send` (the worker sends it with ReportProgress,
// log_only). Best effort: a chunk `send` fails on is not repeated, so a slow or absent
// scheduler never holds up the task; the log blob is the complete copy.
//
// Ownership: borrows the capture, which must outlive Stop(). Threads: the constructor
// starts the thread, Stop() (or the destructor) ends and joins it; both on one thread.
#ifndef KILN_WORKER_AGENT_LIVE_LOG_FORWARDER_H_
#define KILN_WORKER_AGENT_LIVE_LOG_FORWARDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/agent/attempt_log_capture.h"

namespace kiln::agent {

struct LiveLogForwarderOptions {
  // How often new output is sent.
  absl::Duration interval = absl::Milliseconds(500);
  // Most bytes per send.
  int64_t max_chunk_bytes = 64 << 10;
  // More output than this waiting: skip to the newest (see AttemptLogCapture::Next).
  int64_t skip_after_bytes = 1 << 20;
  // Thread name (at most 15 characters are kept).
  std::string thread_name = "log";
};

class LiveLogForwarder {
 public:
  using SendFn = std::function<void(const AttemptLogCapture::Chunk&)>;

  LiveLogForwarder(const LiveLogForwarderOptions& options, AttemptLogCapture* capture, SendFn send);
  ~LiveLogForwarder() { Stop(); }
  LiveLogForwarder(const LiveLogForwarder&) = delete;
  LiveLogForwarder& operator=(const LiveLogForwarder&) = delete;

  // Ends the thread without a last send (the log blob follows). Idempotent.
  void Stop();

 private:
  void Loop();

  const LiveLogForwarderOptions options_;
  AttemptLogCapture* const capture_;
  const SendFn send_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_LIVE_LOG_FORWARDER_H_
