// The `exec` model runtime: runs a model that lives in another environment (a Python
// TRELLIS or TripoSR install) as the command its manifest gives (ExecSpec), for one task.
// The command comes only from the manifest on the worker, never from a job; the job
// supplies parameters (written to a JSON file) and input files.
//
// For one run:
//  - argv, env values and working_dir get "{input_dir}" (a scratch directory holding a
//    link per input, named as the job named it), "{output_dir}", "{parameters}" (the
//    JSON file of the job's parameters) and "{model_dir}" substituted;
//  - the environment is PATH, HOME and LANG from the executor, then the manifest's env,
//    then CUDA_VISIBLE_DEVICES from the executor (the slot's pinning wins); nothing else
//    of the executor's environment (e.g. KILN_TOKEN) reaches the command;
//  - it runs contained (models/contained_process.h) under the manifest's timeout;
//  - lines "kiln-progress: <fraction 0..1> [message]" on stdout or stderr become task
//    progress; all output goes to a log file in the output directory (the last
//    max_log_bytes of it) and its last lines go into the error when the command fails;
//  - regular files the command left directly in the output directory (names
//    [A-Za-z0-9._-], links only when they stay inside it) become the task's outputs.
// RunExecModel() is synchronous and keeps no state; call it from kiln-exec's main thread
// (see contained_process.h on the keeper's death signal).
#ifndef KILN_MODELS_EXEC_RUNTIME_H_
#define KILN_MODELS_EXEC_RUNTIME_H_

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "kiln/v1/executor.pb.h"
#include "kiln/v1/model.pb.h"
#include "models/model_repository.h"

namespace kiln::models {

struct ExecRuntimeOptions {
  // Taken from the executor's environment when set.
  std::vector<std::string> inherited_env = {"PATH", "HOME", "LANG"};
  // Taken from the executor's environment over the manifest's (the slot's GPU pinning).
  std::vector<std::string> pinned_env = {"CUDA_VISIBLE_DEVICES"};
  // Used when the manifest's timeout_seconds is 0 (the job's own timeout still applies:
  // the worker kills kiln-exec, and with it the command's group).
  absl::Duration default_timeout = absl::InfiniteDuration();
  // Between SIGTERM and SIGKILL when the timeout expires.
  absl::Duration kill_grace = absl::Seconds(5);
  // The log file in the output directory keeps the last this many bytes of output.
  std::string log_file_name = "exec.log";
  size_t max_log_bytes = 1 << 20;
  // Lines of output quoted in the error of a failed run.
  int error_tail_lines = 20;
  // Where the per-run scratch directory (parameters file, input links) is made;
  // empty: $TMPDIR, else /tmp.
  std::filesystem::path scratch_root;
};

struct ExecRunRequest {
  // Files staged for the task; each appears as {input_dir}/<name>.
  std::vector<kiln::v1::LocalFile> inputs;
  // Existing directory the command writes its outputs into.
  std::filesystem::path output_dir;
  // The job's parameters, written to {parameters} as JSON.
  google::protobuf::Struct parameters;
  // Progress from the command's "kiln-progress:" lines; may be empty.
  std::function<void(double fraction, std::string_view message)> report_progress;
};

struct ExecRunResult {
  // Files in output_dir (the log file included), sorted by name.
  std::vector<kiln::v1::LocalFile> outputs;
  // Entries of output_dir that are not outputs, as "name: why".
  std::vector<std::string> skipped_outputs;
  absl::Duration elapsed;
  int exit_code = 0;
};

// Runs `model` (runtime exec) once. Errors (each names the model):
//  - FailedPrecondition: not an exec model, the command binary or working directory is
//    missing (named);
//  - InvalidArgument: an input name that is not a plain file name, parameters larger
//    than kMaxModelRunParametersBytes (common/task_catalog.h) as JSON;
//  - DeadlineExceeded: the timeout expired (the group was killed);
//  - Aborted: the command exited non-zero or died of a signal (named), with the last
//    lines of its output.
absl::StatusOr<ExecRunResult> RunExecModel(const ModelEntry& model, const ExecRunRequest& request,
                                           const ExecRuntimeOptions& options);

// --- Pieces, exposed for tests and for the probe ---------------------------------------

struct ExecPlaceholders {
  std::string input_dir;
  std::string output_dir;
  std::string parameters;
  std::string model_dir;
};

// Replaces every "{input_dir}", "{output_dir}", "{parameters}" and "{model_dir}" in
// `text`; other braces are left alone.
std::string SubstitutePlaceholders(std::string_view text, const ExecPlaceholders& values);

// The command's complete environment (see the file comment); `lookup` reads the
// executor's environment (getenv by default).
std::map<std::string, std::string> ExecEnvironment(
    const kiln::v1::ExecSpec& spec, const ExecPlaceholders& values,
    const ExecRuntimeOptions& options,
    const std::function<const char*(const char*)>& lookup = nullptr);

struct ProgressLine {
  double fraction = 0;
  std::string message;
};

// Parses "kiln-progress: <fraction> [message]" (leading blanks allowed). nullopt for
// other lines and for a fraction that is not a number in [0,1].
std::optional<ProgressLine> ParseProgressLine(std::string_view line);

// `text` with every byte that is not part of valid UTF-8 replaced by '?', so it can go
// into a proto string field.
std::string SanitizeUtf8(std::string_view text);

}  // namespace kiln::models

#endif  // KILN_MODELS_EXEC_RUNTIME_H_
