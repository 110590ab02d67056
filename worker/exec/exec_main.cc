// kiln-exec: the executor process. kiln-worker starts one per slot and speaks
// kiln/v1/executor.proto with it: ExecRequest frames on stdin, ExecEvent frames on
// stdout. Exits 0 when stdin closes. Not meant to be run by hand.
//   kiln-exec [--fake-devices=SPEC]   serve tasks; ExecReady lists the probed devices
//   kiln-exec --probe [--fake-devices=SPEC]
//                                     write one ExecReady frame (with the devices this
//                                     process sees, self-tested) to stdout and exit 0
// SPEC replaces the CUDA calls with simulated devices (see worker/device/device_probe.h),
// e.g. "sm_120:32GiB,sm_90:80GiB:nokernel,sm_86:24GiB:cannot-run", or a file of them.
// Both modes honour CUDA_VISIBLE_DEVICES. Exit status 2: bad flags or device spec.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "common/log.h"
#include "worker/device/device_probe.h"
#include "worker/exec/executor.h"
#include "worker/exec/frame_io.h"

namespace {

constexpr char kUsage[] = "usage: kiln-exec [--probe] [--fake-devices=SPEC]\n";

struct Flags {
  bool probe = false;
  std::string fake_devices;
};

// Hand-parsed: two flags do not justify absl::flags in the compute-only build.
bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--probe") {
      flags->probe = true;
    } else if (arg.starts_with("--fake-devices=") || arg.starts_with("--fake_devices=")) {
      flags->fake_devices = std::string(arg.substr(std::strlen("--fake-devices=")));
    } else {
      std::fprintf(stderr, "kiln-exec: unknown argument \"%s\"\n%s", argv[i], kUsage);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;

  // The protocol gets a private dup of stdout, and fd 1 becomes stderr, so stray prints
  // from libraries (printf, std::cout) land in the slot log instead of corrupting frames.
  const int events_fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (events_fd < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::perror("kiln-exec: cannot set up the event stream");
    return 1;
  }
  // A vanished worker shows up as EPIPE from write(), not as a signal.
  ::signal(SIGPIPE, SIG_IGN);

  kiln::device::ProbeOptions probe_options;
  probe_options.fake_devices = flags.fake_devices;
  kiln::device::ProbeReport report = kiln::device::ProbeDevices(probe_options);
  if (report.invalid_options) {
    std::fprintf(stderr, "kiln-exec: --fake-devices: %s\n", report.error.c_str());
    return 2;
  }
  if (!report.error.empty()) KILN_LOG(INFO) << "kiln-exec: no GPU: " << report.error;
  for (const kiln::device::DeviceProbe& d : report.devices) {
    KILN_LOG(INFO) << "kiln-exec: device " << d.ordinal << ": " << d.name << ", "
                   << kiln::device::SmName(d.compute_capability) << ", "
                   << (d.runnable ? "runnable" : "not runnable: " + d.unrunnable_reason);
  }

  kiln::exec::ExecutorOptions options;
  options.devices = std::move(report.devices);
  kiln::exec::Executor executor(options);
  if (flags.probe) {
    kiln::v1::ExecEvent event;
    *event.mutable_ready() = executor.Ready();
    const absl::Status status = kiln::exec::WriteFrame(events_fd, event);
    if (!status.ok()) {
      KILN_LOG(ERROR) << "kiln-exec --probe: " << status;
      return 1;
    }
    return 0;
  }

  KILN_LOG(INFO) << "kiln-exec " << ::getpid() << " ready";
  const absl::Status status = executor.Serve(STDIN_FILENO, events_fd);
  if (!status.ok()) {
    KILN_LOG(ERROR) << "kiln-exec exiting: " << status;
    return 2;
  }
  return 0;
}
