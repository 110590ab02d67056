#include "worker/agent/live_log_forwarder.h"

#include <pthread.h>

#include <utility>

namespace kiln::agent {

LiveLogForwarder::LiveLogForwarder(const LiveLogForwarderOptions& options,
                                   AttemptLogCapture* capture, SendFn send)
    : options_(options), capture_(capture), send_(std::move(send)) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), options_.thread_name.substr(0, 15).c_str());
    Loop();
  });
}

void LiveLogForwarder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void LiveLogForwarder::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval)) return;
    }
    AttemptLogCapture::Chunk chunk =
        capture_->Next(options_.max_chunk_bytes, options_.skip_after_bytes);
    if (!chunk.bytes.empty()) send_(chunk);
  }
}

}  // namespace kiln::agent
