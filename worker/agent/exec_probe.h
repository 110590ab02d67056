// Running `kiln-exec --probe`: the worker's way to list the host's GPUs without linking
// CUDA itself. The probe runs in a short-lived child with the worker's environment (plus
// overrides), writes one ExecEvent{ready} frame and exits; RunExecProbe returns that
// ExecReady. Also the environment helper ExecutorSupervisor shares.
// Stateless free functions; any thread (the child is started with posix_spawn).
#ifndef KILN_WORKER_AGENT_EXEC_PROBE_H_
#define KILN_WORKER_AGENT_EXEC_PROBE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kiln/v1/capability.pb.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::agent {

// Environment overrides (name, value) for a child process.
using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// This process's environment with `overrides` replacing (or adding) their variables,
// as "NAME=value" strings.
std::vector<std::string> ChildEnvironment(const EnvOverrides& overrides);

struct ExecProbeOptions {
  // Path of the kiln-exec binary.
  std::string exec_path;
  // Forwarded as --fake-devices when not empty.
  std::string fake_devices;
  // Environment overrides, e.g. {"CUDA_VISIBLE_DEVICES", "1"}.
  EnvOverrides env;
  // The probe's stderr goes here (truncated first); its tail is quoted in errors. Empty:
  // it inherits ours.
  std::string log_path;
  // The probe is killed after this long (a hung driver must not hang the worker).
  absl::Duration timeout = absl::Seconds(60);
};

// Runs `kiln-exec --probe` and returns its ExecReady. InvalidArgument when kiln-exec
// refused its flags (exit status 2: e.g. a bad --fake-devices spec), Unavailable when it
// could not be started, crashed, timed out or wrote no frame; the message quotes the
// tail of its stderr log.
absl::StatusOr<kiln::v1::ExecReady> RunExecProbe(const ExecProbeOptions& options);

// The advertised Device for the GPU at `host_index`: `probed` (a device of some
// ExecReady) named "cuda:<host_index>". When `probed` is null (the process did not see
// the device), `last_known` (may be null) marked not runnable with `missing_reason`.
kiln::v1::Device AdvertisedGpuDevice(int host_index, const kiln::v1::Device* probed,
                                     const kiln::v1::Device* last_known,
                                     const std::string& missing_reason);

// True when `a` and `b` differ in what placement depends on: runnable, the reason, and,
// with `compare_memory`, total or free memory counted in whole GiB (so that the few MiB
// a probe's own context takes do not count as a change).
bool AdvertisedDeviceChanged(const kiln::v1::Device& a, const kiln::v1::Device& b,
                             bool compare_memory);

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_EXEC_PROBE_H_
