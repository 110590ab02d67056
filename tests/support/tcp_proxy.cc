#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::testing {
namespace {

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

// One proxied connection: client side `a`, target side `b`, and the bytes read from
// one side that the other has not taken yet.
struct TcpProxy::Pair {
  int fd[2] = {-1, -1};
  std::string pending[2];  // pending[i]: read from fd[i], to be written to fd[1 - i]
  bool closed = false;
};

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Create(int target_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_in addr = Loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0) {
    absl::Status status = Errno("bind/listen");
    ::close(fd);
    return status;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    absl::Status status = Errno("pipe");
    ::close(fd);
    return status;
  }
  SetNonBlocking(fd);
  return std::unique_ptr<TcpProxy>(
      new TcpProxy(fd, ntohs(addr.sin_port), target_port, wake[0], wake[1]));
}

TcpProxy::TcpProxy(int listen_fd, int port, int target_port, int wake_read, int wake_write)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      wake_read_(wake_read),
      wake_write_(wake_write),
      thread_([this] { Loop(); }) {}

TcpProxy::~TcpProxy() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  Wake();
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

std::string TcpProxy::address() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpProxy::Cut() {
  {
    absl::MutexLock lock(&mu_);
    cut_ = true;
  }
  Wake();
}

void TcpProxy::Restore() {
  {
    absl::MutexLock lock(&mu_);
    cut_ = false;
  }
  Wake();
}

int TcpProxy::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

void TcpProxy::Wake() {
  const char byte = 0;
  [[maybe_unused]] ssize_t n = ::write(wake_write_, &byte, 1);
}

void TcpProxy::Loop() {
  pthread_setname_np(pthread_self(), "kiln-tcp-proxy");
  std::vector<std::unique_ptr<Pair>> pairs;
  // Where each poll entry points: (pair index, side), or -1 for the pipe and listener.
  std::vector<std::pair<int, int>> owners;
  std::vector<pollfd> fds;
  for (;;) {
    bool cut;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      cut = cut_;
    }
    fds.clear();
    owners.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    owners.push_back({-1, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    owners.push_back({-1, 1});
    for (size_t p = 0; p < pairs.size() && !cut; ++p) {
      for (int side = 0; side < 2; ++side) {
        // Read a side while its bytes are delivered; otherwise wait to write them.
        Pair& pair = *pairs[p];
        if (pair.pending[side].empty()) {
          fds.push_back({pair.fd[side], POLLIN, 0});
        } else {
          fds.push_back({pair.fd[1 - side], POLLOUT, 0});
        }
        owners.push_back({static_cast<int>(p), side});
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const auto [p, side] = owners[i];
      if (p < 0 && side == 0) {
        char drain[64];
        while (::read(wake_read_, drain, sizeof(drain)) > 0) {
        }
        continue;
      }
      if (p < 0) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in target = Loopback(target_port_);
        if (upstream < 0 ||
            ::connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
          ::close(client);
          if (upstream >= 0) ::close(upstream);
          continue;
        }
        const int one = 1;
        for (int fd : {client, upstream}) {
          SetNonBlocking(fd);
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        auto pair = std::make_unique<Pair>();
        pair->fd[0] = client;
        pair->fd[1] = upstream;
        pairs.push_back(std::move(pair));
        absl::MutexLock lock(&mu_);
        ++accepted_;
        continue;
      }
      Pair& pair = *pairs[p];
      if (pair.closed) continue;
      if (pair.pending[side].empty()) {
        char buffer[65536];
        const ssize_t n = ::read(pair.fd[side], buffer, sizeof(buffer));
        if (n > 0) {
          pair.pending[side].assign(buffer, n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          pair.closed = true;
        }
      } else {
        const ssize_t n = ::send(pair.fd[1 - side], pair.pending[side].data(),
                                 pair.pending[side].size(), MSG_NOSIGNAL);
        if (n > 0) {
          pair.pending[side].erase(0, n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          pair.closed = true;
        }
      }
    }
    // A side that closed (or failed) ends the whole connection.
    for (auto it = pairs.begin(); it != pairs.end();) {
      if ((*it)->closed) {
        ::close((*it)->fd[0]);
        ::close((*it)->fd[1]);
        it = pairs.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& pair : pairs) {
    ::close(pair->fd[0]);
    ::close(pair->fd[1]);
  }
}

}  // namespace kiln::testing
