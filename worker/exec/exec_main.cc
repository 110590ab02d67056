// kiln-exec: the executor process. kiln-worker starts one per slot and speaks
// kiln/v1/executor.proto with it: ExecRequest frames on stdin, ExecEvent frames on
// stdout. Exits 0 when stdin closes. Not meant to be run by hand.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "common/log.h"
#include "worker/exec/executor.h"

int main(int argc, char** argv) {
  // The protocol gets a private dup of stdout, and fd 1 becomes stderr, so stray prints
  // from libraries (printf, std::cout) land in the slot log instead of corrupting frames.
  const int events_fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (events_fd < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::perror("kiln-exec: cannot set up the event stream");
    return 1;
  }
  // A vanished worker shows up as EPIPE from write(), not as a signal.
  ::signal(SIGPIPE, SIG_IGN);

  kiln::exec::Executor executor(kiln::exec::ExecutorOptions{});
  KILN_LOG(INFO) << "kiln-exec " << ::getpid() << " ready";
  const absl::Status status = executor.Serve(STDIN_FILENO, events_fd);
  if (!status.ok()) {
    KILN_LOG(ERROR) << "kiln-exec exiting: " << status;
    return 2;
  }
  return 0;
}
