// The exec-runtime probe: which devices an exec model's environment can run on. Its
// manifest's ExecSpec.probe_command runs once (contained, like the model itself, with
// a timeout) and prints a line
//   kiln-archs: sm_80 sm_86 sm_90 compute_90 cpu
// listing the SASS architectures (sm_XY), PTX (compute_XY) and "cpu" that the
// environment supports, e.g. from torch.cuda.get_arch_list(); commas, brackets and quotes
// between the names are ignored, so printing a Python list works too. A device of
// compute capability XY is covered as for our own kernels (worker/device/device_probe.h
// ArchitectureCovered: sm_80 SASS runs on sm_86, compute_90 PTX JITs for sm_120); a CPU
// slot needs "cpu".
// kiln-exec calls ExecModelAvailabilities() once at start, from its main thread, for
// ExecReady.models. Everything else here is a pure function.
#ifndef KILN_MODELS_EXEC_PROBE_H_
#define KILN_MODELS_EXEC_PROBE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kiln/v1/capability.pb.h"
#include "models/exec_runtime.h"
#include "models/model_repository.h"
#include "worker/device/device_probe.h"

namespace kiln::models {

struct ExecProbeOptions {
  // How long one probe may run before its group is killed.
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration kill_grace = absl::Seconds(2);
  // All probes of one ExecModelAvailabilities() call together: kiln-exec answers
  // ExecReady only after them, and the worker waits 60 s for it.
  absl::Duration total_timeout = absl::Seconds(45);
  // Environment rules, as for a run (exec_runtime.h).
  ExecRuntimeOptions runtime;
};

// What the environment of one exec model supports.
struct ExecProbeResult {
  // The names listed on the kiln-archs line, lowercased, in order; empty on failure.
  std::vector<std::string> archs;
  // Empty when the probe ran, exited 0 and printed a kiln-archs line; otherwise why
  // not, with the end of its output.
  std::string failure;
};

// Runs the probe of `model` (runtime exec). A manifest without probe_command gives a
// failure saying so: coverage is never assumed.
ExecProbeResult ProbeExecModel(const ModelEntry& model, const ExecProbeOptions& options);

// The names on the first "kiln-archs:" line of `output`; InvalidArgument when there is
// none or it lists nothing.
absl::StatusOr<std::vector<std::string>> ParseArchsLine(std::string_view output);

// Whether the listed names cover a device of compute capability `cc` (nullopt: a CPU
// slot). *why says which entry covers it or what is missing.
bool ArchsCoverDevice(const std::vector<std::string>& archs, std::optional<int> cc,
                      std::string* why);

// ModelAvailability of `model` for the device an executor's tasks use: devices[0], or
// the CPU when `devices` is empty. Runnable when unavailable_reason is empty. A device
// that failed our own self-test is not runnable either (the executor refuses every task
// on it).
kiln::v1::ModelAvailability ExecModelAvailability(const ModelEntry& model,
                                                  const ExecProbeResult& probe,
                                                  const std::vector<device::DeviceProbe>& devices);

// Probes every exec-runtime model of `repository` (one at a time, within
// total_timeout: a model whose turn comes after it is not runnable, saying so) and
// returns their availability on this executor's device, in repository order.
std::vector<kiln::v1::ModelAvailability> ExecModelAvailabilities(
    const ModelRepository& repository, const std::vector<device::DeviceProbe>& devices,
    const ExecProbeOptions& options);

}  // namespace kiln::models

#endif  // KILN_MODELS_EXEC_PROBE_H_
