#include "models/exec_probe.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "models/contained_process.h"

namespace kiln::models {
namespace {

constexpr std::string_view kArchsPrefix = "kiln-archs:";
// The probe's output kept for parsing and for the failure message.
constexpr size_t kMaxProbeOutputBytes = 64 * 1024;
constexpr size_t kMaxQuotedOutputBytes = 1000;

std::string Quote(const std::string& output) {
  // The end of the output is where the error usually is.
  std::string tail = output.size() > kMaxQuotedOutputBytes
                         ? output.substr(output.size() - kMaxQuotedOutputBytes)
                         : output;
  while (!tail.empty() && (static_cast<unsigned char>(tail.front()) & 0xC0) == 0x80) {
    tail.erase(0, 1);
  }
  tail = std::string(absl::StripAsciiWhitespace(SanitizeUtf8(tail)));
  return tail.empty() ? "no output" : absl::StrCat("output: ", tail);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseArchsLine(std::string_view output) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(output.data(), output.size()), '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, absl::string_view(kArchsPrefix.data(), kArchsPrefix.size()))) {
      continue;
    }
    std::vector<std::string> archs;
    for (absl::string_view name :
         absl::StrSplit(line, absl::ByAnyChar(" \t\r,[]'\""), absl::SkipEmpty())) {
      std::string lower = absl::AsciiStrToLower(name);
      if (std::find(archs.begin(), archs.end(), lower) == archs.end()) archs.push_back(lower);
    }
    if (archs.empty()) return absl::InvalidArgumentError("the kiln-archs line lists nothing");
    return archs;
  }
  return absl::InvalidArgumentError("no \"kiln-archs:\" line in the probe's output");
}

bool ArchsCoverDevice(const std::vector<std::string>& archs, std::optional<int> cc,
                      std::string* why) {
  const std::string listed = absl::StrCat("kiln-archs: ", absl::StrJoin(archs, " "));
  if (!cc.has_value()) {
    const bool cpu = std::find(archs.begin(), archs.end(), "cpu") != archs.end();
    if (why != nullptr) {
      *why = cpu ? "cpu listed" : absl::StrCat("the exec probe does not list cpu (", listed, ")");
    }
    return cpu;
  }
  std::vector<std::string> sass;
  std::vector<std::string> ptx;
  for (const std::string& arch : archs) {
    if (absl::StartsWith(arch, "sm_")) sass.push_back(arch);
    if (absl::StartsWith(arch, "compute_")) ptx.push_back(arch);
  }
  std::string covered_by;
  if (device::ArchitectureCovered(*cc, sass, ptx, &covered_by)) {
    if (why != nullptr) *why = covered_by;
    return true;
  }
  if (why != nullptr) {
    *why = absl::StrCat("the exec probe lists nothing that runs on ", device::SmName(*cc), " (",
                        listed, ")");
  }
  return false;
}

ExecProbeResult ProbeExecModel(const ModelEntry& model, const ExecProbeOptions& options) {
  ExecProbeResult result;
  const kiln::v1::ExecSpec& spec = model.manifest.exec();
  if (spec.probe_command().empty()) {
    result.failure = "the manifest has no exec.probe_command, so no device is known to be covered";
    return result;
  }
  // Only {model_dir} means something to a probe; the other placeholders stay as written.
  const ExecPlaceholders values{.input_dir = "{input_dir}",
                                .output_dir = "{output_dir}",
                                .parameters = "{parameters}",
                                .model_dir = model.dir.string()};
  ContainedProcessOptions process;
  for (const std::string& arg : spec.probe_command()) {
    process.argv.push_back(SubstitutePlaceholders(arg, values));
  }
  process.env = ExecEnvironment(spec, values, options.runtime);
  process.working_dir =
      spec.working_dir().empty()
          ? model.dir
          : std::filesystem::path(SubstitutePlaceholders(spec.working_dir(), values));
  if (process.working_dir.is_relative()) process.working_dir = model.dir / process.working_dir;
  process.timeout = options.timeout;
  process.kill_grace = options.kill_grace;
  std::string output;
  process.on_output = [&](OutputStream, std::string_view line) {
    if (output.size() + line.size() + 1 > kMaxProbeOutputBytes) return;
    absl::StrAppend(&output, absl::string_view(line.data(), line.size()), "\n");
  };
  absl::StatusOr<ContainedProcessResult> ran = RunContainedProcess(process);
  if (!ran.ok()) {
    result.failure = absl::StrCat("the exec probe could not run: ", ran.status().message());
    return result;
  }
  if (!ran->ok()) {
    result.failure = absl::StrCat("the exec probe ", ran->Describe(), "; ", Quote(output));
    return result;
  }
  absl::StatusOr<std::vector<std::string>> archs = ParseArchsLine(output);
  if (!archs.ok()) {
    result.failure = absl::StrCat(archs.status().message(), "; ", Quote(output));
    return result;
  }
  result.archs = *std::move(archs);
  return result;
}

kiln::v1::ModelAvailability ExecModelAvailability(const ModelEntry& model,
                                                  const ExecProbeResult& probe,
                                                  const std::vector<device::DeviceProbe>& devices) {
  kiln::v1::ModelAvailability availability;
  availability.set_name(model.manifest.name());
  availability.set_version(model.manifest.version());
  availability.set_runtime(RuntimeName(model.manifest.runtime()));
  std::string reason;
  if (!probe.failure.empty()) {
    reason = probe.failure;
  } else if (!devices.empty() && !devices[0].runnable) {
    reason = absl::StrCat("device ", devices[0].name,
                          " is not runnable: ", devices[0].unrunnable_reason);
  } else {
    const std::optional<int> cc =
        devices.empty() ? std::nullopt : std::optional<int>(devices[0].compute_capability);
    std::string why;
    if (!ArchsCoverDevice(probe.archs, cc, &why)) reason = why;
  }
  availability.set_unavailable_reason(TruncateUtf8(reason, 2000));
  return availability;
}

std::vector<kiln::v1::ModelAvailability> ExecModelAvailabilities(
    const ModelRepository& repository, const std::vector<device::DeviceProbe>& devices,
    const ExecProbeOptions& options) {
  std::vector<kiln::v1::ModelAvailability> models;
  const absl::Time end = absl::Now() + options.total_timeout;
  for (const ModelEntry& model : repository.models()) {
    if (model.manifest.runtime() != kiln::v1::MODEL_RUNTIME_EXEC) continue;
    const absl::Duration left = end - absl::Now();
    ExecProbeResult probe;
    if (left <= absl::ZeroDuration()) {
      probe.failure =
          absl::StrCat("not probed: the exec probes before it used up the ",
                       absl::FormatDuration(options.total_timeout), " allowed at start");
    } else {
      ExecProbeOptions bounded = options;
      bounded.timeout = std::min(options.timeout, left);
      probe = ProbeExecModel(model, bounded);
    }
    models.push_back(ExecModelAvailability(model, probe, devices));
    const std::string& reason = models.back().unavailable_reason();
    KILN_LOG(INFO) << "exec model " << model.Key() << ": "
                   << (reason.empty() ? "runnable here" : "not runnable here: " + reason);
  }
  return models;
}

}  // namespace kiln::models
