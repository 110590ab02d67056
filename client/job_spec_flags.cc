#include "client/job_spec_flags.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/job_spec_yaml.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::kilnctl {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " \"", value, "\": ", why));
}

absl::StatusOr<int32_t> ParseInt(absl::string_view flag, absl::string_view text) {
  int32_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return Invalid(flag, text, "not an integer");
  return value;
}

// Blob names as the scheduler accepts them: [A-Za-z0-9._-], at most 128 characters.
bool IsValidBlobName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// Names the flag in a value parser's error: "--min-memory: size \"x\": ...".
template <typename T>
absl::StatusOr<T> ForFlag(absl::string_view flag, absl::StatusOr<T> result) {
  if (result.ok()) return result;
  return absl::Status(result.status().code(), absl::StrCat(flag, ": ", result.status().message()));
}

}  // namespace

std::vector<FlagSpec> JobSpecFlags() {
  return {
      {"file", 'f', true, "FILE",
       "JobSpec as YAML or protobuf JSON (\"-\" = stdin; at most 1 MiB); flags override it"},
      {"params", '\0', true, "JSON", "task parameters as one JSON object"},
      {"params-file", '\0', true, "FILE", "task parameters from a JSON file (\"-\" = stdin)"},
      {"param", 'p', true, "K=V", "one parameter; V is JSON if it parses, else a string (repeat)"},
      {"input", 'i', true, "NAME=PATH", "upload PATH and pass it as input NAME (repeat)"},
      {"model", 'm', true, "MODEL", "model from the model repository"},
      {"accelerator", '\0', true, "any|gpu|cpu", "kind of slot the job may run on"},
      {"min-cc", '\0', true, "X.Y", "lowest CUDA compute capability, e.g. 8.0"},
      {"max-cc", '\0', true, "X.Y", "highest CUDA compute capability, e.g. 9.0"},
      {"arch", '\0', true, "sm_NN", "allowed SM architecture, e.g. sm_90 (repeat or comma list)"},
      {"min-memory", '\0', true, "SIZE", "least device memory, e.g. 24GiB, 16000MB"},
      {"priority", '\0', true, "N", "higher runs first, -1000..1000 (default 0)"},
      {"max-attempts", '\0', true, "N", "attempts before the job fails (default: scheduler's)"},
      {"job-timeout", '\0', true, "DURATION", "wall time one attempt may run, e.g. 10m, 1h30m"},
      {"label", 'l', true, "K=V", "label for filtering (repeat)"},
      {"request-id", '\0', true, "ID", "idempotency key: resubmitting it returns the same job"},
  };
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  const absl::string_view original = text;
  text = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < text.size() && (absl::ascii_isdigit(text[digits]) || text[digits] == '.')) {
    ++digits;
  }
  double number = 0;
  if (digits == 0 || !absl::SimpleAtod(text.substr(0, digits), &number)) {
    return Invalid("size", original, "expected a number with an optional unit, e.g. 24GiB");
  }
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(digits)));
  static constexpr struct {
    const char* names[4];
    double factor;
  } kUnits[] = {
      {{"", "b"}, 1},
      {{"k", "kb"}, 1e3},
      {{"ki", "kib"}, 1024.0},
      {{"m", "mb"}, 1e6},
      {{"mi", "mib"}, 1024.0 * 1024},
      {{"g", "gb"}, 1e9},
      {{"gi", "gib"}, 1024.0 * 1024 * 1024},
      {{"t", "tb"}, 1e12},
      {{"ti", "tib"}, 1024.0 * 1024 * 1024 * 1024},
  };
  for (const auto& u : kUnits) {
    for (const char* name : u.names) {
      if (name == nullptr || unit != name) continue;
      const double bytes = std::round(number * u.factor);
      if (bytes > 9.0e18) return Invalid("size", original, "too large");
      return static_cast<int64_t>(bytes);
    }
  }
  return Invalid("size", original, "unknown unit (use B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)");
}

absl::StatusOr<int32_t> ParseComputeCapability(absl::string_view text) {
  const absl::string_view original = text;
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view rest = lower;
  const bool sm = absl::ConsumePrefix(&rest, "sm_");
  int32_t major = 0;
  int32_t minor = 0;
  int32_t value = 0;
  if (std::vector<absl::string_view> parts = absl::StrSplit(rest, '.'); parts.size() == 2) {
    if (sm || !absl::SimpleAtoi(parts[0], &major) || !absl::SimpleAtoi(parts[1], &minor) ||
        parts[1].size() != 1 || major < 1) {
      return Invalid("compute capability", original, "expected MAJOR.MINOR, e.g. 8.6");
    }
    value = major * 10 + minor;
  } else if (parts.size() == 1 && !rest.empty() && absl::SimpleAtoi(rest, &value) && value > 0) {
    // Bare "9" or "12" is a major version (there is no compute capability 0.9 or 1.2 left
    // to target); "90" or "120" is already major*10+minor.
    if (!sm && value < 20) value *= 10;
  } else {
    return Invalid("compute capability", original, "expected MAJOR.MINOR, e.g. 8.6");
  }
  if (value < 10 || value > 999) return Invalid("compute capability", original, "out of range");
  return value;
}

absl::StatusOr<std::string> ParseArchitecture(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view rest = lower;
  absl::ConsumePrefix(&rest, "sm_");
  size_t digits = 0;
  while (digits < rest.size() && absl::ascii_isdigit(rest[digits])) ++digits;
  // Digits, then at most one feature-set letter ("sm_90a", "sm_100f").
  const bool ok =
      digits >= 2 && digits <= 3 &&
      (rest.size() == digits || (rest.size() == digits + 1 && absl::ascii_isalpha(rest[digits])));
  if (!ok) return Invalid("architecture", text, "expected sm_NN, e.g. sm_90 or sm_120");
  return absl::StrCat("sm_", rest);
}

google::protobuf::Value ParseParamValue(absl::string_view text) {
  google::protobuf::Value value;
  if (!google::protobuf::util::JsonStringToMessage(std::string(text), &value).ok()) {
    value.Clear();
    value.set_string_value(std::string(text));
  }
  return value;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text,
                                                                  absl::string_view what) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) return Invalid(what, text, "expected KEY=VALUE");
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

absl::StatusOr<v1::Accelerator> ParseAccelerator(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "any") return v1::ACCELERATOR_ANY;
  if (lower == "gpu") return v1::ACCELERATOR_GPU;
  if (lower == "cpu") return v1::ACCELERATOR_CPU;
  return Invalid("--accelerator", text, "expected any, gpu or cpu");
}

absl::StatusOr<v1::JobState> ParseJobState(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (int i = v1::JobState_MIN; i <= v1::JobState_MAX; ++i) {
    const auto state = static_cast<v1::JobState>(i);
    if (state == v1::JOB_STATE_UNSPECIFIED || !v1::JobState_IsValid(i)) continue;
    if (absl::AsciiStrToLower(absl::StripPrefix(v1::JobState_Name(state), "JOB_STATE_")) == lower) {
      return state;
    }
  }
  return Invalid("--state", text,
                 "expected queued, assigned, running, succeeded, failed or cancelled");
}

absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path, int64_t max_bytes) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::istream& in = path == "-" ? std::cin : file;
  // Reads in chunks so that an endless stdin stops at the limit.
  std::string contents;
  char buffer[64 * 1024];
  while (in) {
    in.read(buffer, sizeof(buffer));
    contents.append(buffer, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(contents.size()) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path == "-" ? "stdin" : path, ": larger than ", max_bytes, " bytes"));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return contents;
}

absl::StatusOr<SubmitPlan> BuildSubmitPlan(const ParsedArgs& args) {
  SubmitPlan plan;
  v1::JobSpec& spec = plan.spec;
  if (std::optional<std::string> file = args.Get("file")) {
    const YamlLimits limits;
    KILN_ASSIGN_OR_RETURN(std::string text, ReadFileOrStdin(*file, limits.max_bytes));
    // YAML takes the JSON path too (job_spec_yaml.h), so both formats mean the same.
    const bool yaml = IsYamlSpecFile(*file, text);
    std::string json;
    if (yaml) {
      absl::StatusOr<std::string> converted = YamlToProtoJson(
          text, *v1::JobSpec::descriptor(), *file == "-" ? "<stdin>" : *file, limits);
      if (!converted.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("-f ", converted.status().message()));
      }
      json = *std::move(converted);
    } else {
      json = std::move(text);
    }
    auto parsed = google::protobuf::util::JsonStringToMessage(json, &spec);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("-f ", *file, ": not a JobSpec in ",
                                                     yaml ? "YAML" : "JSON", ": ",
                                                     parsed.message().ToString()));
    }
  }

  const std::vector<std::string>& positional = args.positional();
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[1], "\" (submit takes one TASK)"));
  }
  if (!positional.empty()) spec.set_task(positional[0]);
  if (spec.task().empty()) return absl::InvalidArgumentError("submit needs a TASK");

  // Parameters: whole object first, then single keys on top.
  if (args.Has("params") && args.Has("params-file")) {
    return absl::InvalidArgumentError("give --params or --params-file, not both");
  }
  std::optional<std::string> params_json = args.Get("params");
  std::string params_source = "--params";
  if (std::optional<std::string> params_file = args.Get("params-file")) {
    KILN_ASSIGN_OR_RETURN(params_json, ReadFileOrStdin(*params_file));
    params_source = absl::StrCat("--params-file ", *params_file);
  }
  if (params_json) {
    spec.clear_parameters();
    auto parsed =
        google::protobuf::util::JsonStringToMessage(*params_json, spec.mutable_parameters());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(params_source, ": expected a JSON object: ", parsed.message().ToString()));
    }
  }
  for (const std::string& param : args.GetAll("param")) {
    KILN_ASSIGN_OR_RETURN(auto kv, ParseKeyValue(param, "--param"));
    (*spec.mutable_parameters()->mutable_fields())[kv.first] = ParseParamValue(kv.second);
  }

  for (const std::string& input : args.GetAll("input")) {
    InputFile file;
    if (const size_t eq = input.find('='); eq != std::string::npos) {
      file.name = input.substr(0, eq);
      file.path = input.substr(eq + 1);
    } else {
      file.path = input;
      file.name = input.substr(input.find_last_of('/') + 1);
    }
    if (file.path.empty()) return Invalid("--input", input, "no path");
    if (!IsValidBlobName(file.name)) {
      return Invalid("--input", input,
                     "the name must be 1-128 characters of A-Z a-z 0-9 . _ - (use NAME=PATH)");
    }
    for (const InputFile& earlier : plan.uploads) {
      if (earlier.name == file.name) return Invalid("--input", input, "name given twice");
    }
    // A flag replaces an input of the same name from the spec file.
    auto* inputs = spec.mutable_inputs();
    for (int i = inputs->size() - 1; i >= 0; --i) {
      if (inputs->Get(i).name() == file.name) inputs->DeleteSubrange(i, 1);
    }
    plan.uploads.push_back(std::move(file));
  }

  if (std::optional<std::string> model = args.Get("model")) spec.set_model(*model);

  v1::Requirements& req = *spec.mutable_requirements();
  if (std::optional<std::string> accel = args.Get("accelerator")) {
    KILN_ASSIGN_OR_RETURN(v1::Accelerator value, ParseAccelerator(*accel));
    req.set_accelerator(value);
  }
  if (std::optional<std::string> cc = args.Get("min-cc")) {
    KILN_ASSIGN_OR_RETURN(int32_t value, ForFlag("--min-cc", ParseComputeCapability(*cc)));
    req.set_min_compute_capability(value);
  }
  if (std::optional<std::string> cc = args.Get("max-cc")) {
    KILN_ASSIGN_OR_RETURN(int32_t value, ForFlag("--max-cc", ParseComputeCapability(*cc)));
    req.set_max_compute_capability(value);
  }
  if (req.min_compute_capability() != 0 && req.max_compute_capability() != 0 &&
      req.min_compute_capability() > req.max_compute_capability()) {
    return absl::InvalidArgumentError("--min-cc is above --max-cc");
  }
  if (args.Has("arch")) {
    req.clear_architectures();
    for (const std::string& list : args.GetAll("arch")) {
      for (absl::string_view arch : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
        KILN_ASSIGN_OR_RETURN(std::string value, ForFlag("--arch", ParseArchitecture(arch)));
        req.add_architectures(std::move(value));
      }
    }
  }
  if (std::optional<std::string> memory = args.Get("min-memory")) {
    KILN_ASSIGN_OR_RETURN(int64_t bytes, ForFlag("--min-memory", ParseByteSize(*memory)));
    req.set_min_device_memory_bytes(bytes);
  }

  if (std::optional<std::string> priority = args.Get("priority")) {
    KILN_ASSIGN_OR_RETURN(int32_t value, ParseInt("--priority", *priority));
    spec.set_priority(value);
  }
  if (std::optional<std::string> attempts = args.Get("max-attempts")) {
    KILN_ASSIGN_OR_RETURN(int32_t value, ParseInt("--max-attempts", *attempts));
    if (value < 1) return Invalid("--max-attempts", *attempts, "must be at least 1");
    spec.set_max_attempts(value);
  }
  if (std::optional<std::string> timeout = args.Get("job-timeout")) {
    absl::Duration value;
    if (!absl::ParseDuration(*timeout, &value) || value <= absl::ZeroDuration()) {
      return Invalid("--job-timeout", *timeout, "expected a positive duration, e.g. 10m");
    }
    *spec.mutable_timeout() = ToProtoDuration(value);
  }
  for (const std::string& label : args.GetAll("label")) {
    KILN_ASSIGN_OR_RETURN(auto kv, ParseKeyValue(label, "--label"));
    (*spec.mutable_labels())[kv.first] = kv.second;
  }
  if (std::optional<std::string> id = args.Get("request-id")) spec.set_client_request_id(*id);
  return plan;
}

}  // namespace kiln::kilnctl
