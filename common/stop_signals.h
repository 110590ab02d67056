// SIGTERM and SIGINT handled without signal handlers: main blocks them before it
// starts any thread (threads inherit the mask), and one thread waits for them
// with sigwait and starts an orderly shutdown.
#ifndef KILN_COMMON_STOP_SIGNALS_H_
#define KILN_COMMON_STOP_SIGNALS_H_

#include <pthread.h>
#include <signal.h>

namespace kiln {

inline sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Call from main before any thread exists.
inline void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Waits for the next SIGTERM or SIGINT and returns its number.
inline int WaitForStopSignal() {
  const sigset_t set = StopSignals();
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

}  // namespace kiln

#endif  // KILN_COMMON_STOP_SIGNALS_H_
