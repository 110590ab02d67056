// TcpProxy: a loopback TCP proxy a test controls, to cut one process off from
// another (a worker from its scheduler) without touching either. It listens on
// 127.0.0.1 port 0 and forwards every accepted connection to `target`.
//
// Cut() is a black hole, as a network partition looks to gRPC: connections stay
// open but nothing is forwarded either way (bytes wait in the kernel's buffers),
// and new connections are accepted but not served. Restore() forwards again, what
// waited included, so a report sent during the cut arrives late.
//
// One thread ("kiln-tcp-proxy", poll) moves the bytes; the public methods may be
// called from any thread. The destructor stops it and closes every socket.
#ifndef KILN_TESTS_SUPPORT_TCP_PROXY_H_
#define KILN_TESTS_SUPPORT_TCP_PROXY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kiln::testing {

class TcpProxy {
 public:
  // `target_port` on 127.0.0.1.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Create(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // "127.0.0.1:<port>" to give the client instead of the target.
  std::string address() const;
  void Cut();
  void Restore();
  // Connections accepted so far.
  int accepted() const;

 private:
  struct Pair;
  TcpProxy(int listen_fd, int port, int target_port, int wake_read, int wake_write);
  void Loop();
  void Wake();

  const int listen_fd_;
  const int port_;
  const int target_port_;
  const int wake_read_;
  const int wake_write_;
  mutable absl::Mutex mu_;
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int accepted_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_TCP_PROXY_H_
