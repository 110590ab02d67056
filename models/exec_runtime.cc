#include "models/exec_runtime.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/task_catalog.h"
#include "common/utf8.h"
#include "google/protobuf/util/json_util.h"
#include "models/contained_process.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kProgressPrefix = "kiln-progress:";
constexpr size_t kMaxProgressMessageBytes = 200;
constexpr size_t kMaxTailLineBytes = 500;

bool IsPlainFileName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A directory removed with its contents when this goes out of scope.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create(const fs::path& root) {
    fs::path base = root;
    if (base.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string pattern = (base / "kiln-exec-run-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a scratch directory in ",
                                              base.string(), ": ", std::strerror(errno)));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit ScratchDir(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

// The last `max_bytes` of the command's output, line by line.
class OutputLog {
 public:
  explicit OutputLog(size_t max_bytes) : max_bytes_(max_bytes) {}

  void Add(std::string_view line) {
    lines_.emplace_back(line);
    bytes_ += line.size() + 1;
    while (bytes_ > max_bytes_ && !lines_.empty()) {
      bytes_ -= lines_.front().size() + 1;
      dropped_bytes_ += lines_.front().size() + 1;
      lines_.pop_front();
    }
  }

  // The last `count` lines, each cut to a readable length, as valid UTF-8.
  std::string Tail(int count) const {
    std::vector<std::string> tail;
    const size_t n = std::min(lines_.size(), static_cast<size_t>(std::max(count, 0)));
    for (size_t i = lines_.size() - n; i < lines_.size(); ++i) {
      tail.push_back(TruncateUtf8(SanitizeUtf8(lines_[i]), kMaxTailLineBytes));
    }
    return absl::StrJoin(tail, "\n");
  }

  // Writes the log to `path`, replacing whatever the command left there (a link to
  // elsewhere included: the link is removed, never followed).
  absl::Status WriteTo(const fs::path& path) const {
    ::unlink(path.c_str());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("cannot write ", path.string(), ": ", std::strerror(errno)));
    }
    std::string text;
    if (dropped_bytes_ > 0) {
      absl::StrAppend(&text, "[kiln: ", dropped_bytes_, " bytes of earlier output dropped]\n");
    }
    for (const std::string& line : lines_) absl::StrAppend(&text, line, "\n");
    size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    ::close(fd);
    if (written != text.size()) {
      return absl::InternalError(absl::StrCat("short write to ", path.string()));
    }
    return absl::OkStatus();
  }

 private:
  const size_t max_bytes_;
  std::deque<std::string> lines_;
  size_t bytes_ = 0;
  size_t dropped_bytes_ = 0;
};

absl::Status WriteFile(const fs::path& path, std::string_view contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot write ", path.string(), ": ", std::strerror(errno)));
  }
  const bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("short write to ", path.string()));
  return absl::OkStatus();
}

// Why the directory entry `entry` of `dir` (canonical) is not an output, or "" when it is.
std::string WhyNotAnOutput(const fs::directory_entry& entry, const fs::path& dir) {
  const std::string name = entry.path().filename().string();
  if (!IsPlainFileName(name)) return "name is not [A-Za-z0-9._-]{1,128}";
  std::error_code ec;
  const fs::file_status own = entry.symlink_status(ec);
  if (ec) return ec.message();
  if (fs::is_symlink(own)) {
    const fs::path target = fs::canonical(entry.path(), ec);
    if (ec) return "a symbolic link to nothing";
    const fs::path relative = target.lexically_relative(dir);
    if (relative.empty() || *relative.begin() == ".." || relative.has_parent_path()) {
      return "a symbolic link leading outside the output directory";
    }
    if (!fs::is_regular_file(target, ec)) return "a symbolic link to something not a file";
    return "";
  }
  if (fs::is_directory(own)) return "a directory (only files directly in it are outputs)";
  if (!fs::is_regular_file(own)) return "not a regular file";
  return "";
}

}  // namespace

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      length = 1;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      min = 0x10000;
    }
    bool valid = length > 0 && i + length <= text.size();
    uint32_t code = length == 1 ? c : (c & (0x7F >> length));
    for (size_t k = 1; valid && k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
    valid = valid && (length == 1 || code >= min) && code <= 0x10FFFF &&
            !(code >= 0xD800 && code <= 0xDFFF);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

std::string SubstitutePlaceholders(std::string_view text, const ExecPlaceholders& values) {
  const std::pair<std::string_view, const std::string*> names[] = {
      {"{input_dir}", &values.input_dir},
      {"{output_dir}", &values.output_dir},
      {"{parameters}", &values.parameters},
      {"{model_dir}", &values.model_dir},
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (text[i] == '{') {
      for (const auto& [name, value] : names) {
        if (text.substr(i, name.size()) == name) {
          out.append(*value);
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(text[i++]);
  }
  return out;
}

std::map<std::string, std::string> ExecEnvironment(
    const kiln::v1::ExecSpec& spec, const ExecPlaceholders& values,
    const ExecRuntimeOptions& options, const std::function<const char*(const char*)>& lookup) {
  const auto get = [&](const std::string& name) -> const char* {
    return lookup ? lookup(name.c_str()) : std::getenv(name.c_str());
  };
  std::map<std::string, std::string> env;
  for (const std::string& name : options.inherited_env) {
    if (const char* value = get(name)) env[name] = value;
  }
  // Without these a command misbehaves in ways that are hard to trace.
  env.emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
  env.emplace("LANG", "C.UTF-8");
  for (const auto& [name, value] : spec.env()) env[name] = SubstitutePlaceholders(value, values);
  for (const std::string& name : options.pinned_env) {
    if (const char* value = get(name)) {
      env[name] = value;
    } else {
      env.erase(name);
    }
  }
  return env;
}

std::optional<ProgressLine> ParseProgressLine(std::string_view line) {
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(AbslView(line));
  if (!absl::ConsumePrefix(&rest, AbslView(kProgressPrefix))) return std::nullopt;
  rest = absl::StripLeadingAsciiWhitespace(rest);
  const size_t space = rest.find_first_of(" \t");
  const absl::string_view number = rest.substr(0, space);
  double fraction = 0;
  if (!absl::SimpleAtod(number, &fraction) || !std::isfinite(fraction) || fraction < 0 ||
      fraction > 1) {
    return std::nullopt;
  }
  ProgressLine progress;
  progress.fraction = fraction;
  if (space != absl::string_view::npos) {
    progress.message =
        TruncateUtf8(SanitizeUtf8(std::string(absl::StripAsciiWhitespace(rest.substr(space)))),
                     kMaxProgressMessageBytes);
  }
  return progress;
}

absl::StatusOr<ExecRunResult> RunExecModel(const ModelEntry& model, const ExecRunRequest& request,
                                           const ExecRuntimeOptions& options) {
  const std::string key = model.Key();
  const auto fail = [&](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("model ", key, ": ", status.message()));
  };
  const kiln::v1::ModelManifest& manifest = model.manifest;
  if (manifest.runtime() != kiln::v1::MODEL_RUNTIME_EXEC || manifest.exec().command().empty()) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "has runtime ", RuntimeName(manifest.runtime()), ", not exec with a command")));
  }
  std::error_code ec;
  if (!fs::is_directory(request.output_dir, ec)) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("output directory ", request.output_dir.string(), " does not exist")));
  }
  std::string parameters_json;
  if (!google::protobuf::util::MessageToJsonString(request.parameters, &parameters_json).ok()) {
    return fail(absl::InvalidArgumentError("parameters: cannot be written as JSON"));
  }
  if (parameters_json.size() > kMaxModelRunParametersBytes) {
    return fail(absl::InvalidArgumentError(absl::StrCat("parameters: ", parameters_json.size(),
                                                        " bytes of JSON, more than the ",
                                                        kMaxModelRunParametersBytes, " allowed")));
  }

  // The scratch directory: {parameters} and {input_dir} live here, outside the output
  // directory, so they never become outputs.
  absl::StatusOr<ScratchDir> scratch = ScratchDir::Create(options.scratch_root);
  if (!scratch.ok()) return fail(scratch.status());
  const fs::path input_dir = scratch->path() / "inputs";
  const fs::path parameters_file = scratch->path() / "parameters.json";
  fs::create_directory(input_dir, ec);
  if (ec) return fail(absl::InternalError(absl::StrCat("cannot create ", input_dir.string())));
  for (const kiln::v1::LocalFile& input : request.inputs) {
    if (!IsPlainFileName(input.name())) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "input name \"", SanitizeUtf8(input.name()), "\" is not [A-Za-z0-9._-]{1,128}")));
    }
    fs::create_symlink(fs::absolute(input.path()), input_dir / input.name(), ec);
    if (ec) {
      return fail(absl::InvalidArgumentError(absl::StrCat("input ", input.name(), ": cannot link ",
                                                          input.path(), ": ", ec.message())));
    }
  }
  if (absl::Status status = WriteFile(parameters_file, parameters_json); !status.ok()) {
    return fail(status);
  }

  const fs::path output_dir = fs::canonical(request.output_dir, ec);
  if (ec)
    return fail(absl::InternalError(absl::StrCat("cannot resolve ", request.output_dir.string())));
  ExecPlaceholders values{.input_dir = input_dir.string(),
                          .output_dir = output_dir.string(),
                          .parameters = parameters_file.string(),
                          .model_dir = model.dir.string()};
  const kiln::v1::ExecSpec& spec = manifest.exec();
  ContainedProcessOptions process;
  for (const std::string& arg : spec.command()) {
    process.argv.push_back(SubstitutePlaceholders(arg, values));
  }
  process.env = ExecEnvironment(spec, values, options);
  process.working_dir = spec.working_dir().empty()
                            ? model.dir
                            : fs::path(SubstitutePlaceholders(spec.working_dir(), values));
  if (process.working_dir.is_relative()) process.working_dir = model.dir / process.working_dir;
  process.timeout =
      spec.timeout_seconds() > 0 ? absl::Seconds(spec.timeout_seconds()) : options.default_timeout;
  process.kill_grace = options.kill_grace;
  OutputLog log(options.max_log_bytes);
  process.on_output = [&](OutputStream, std::string_view line) {
    log.Add(line);
    if (!request.report_progress) return;
    if (std::optional<ProgressLine> progress = ParseProgressLine(line)) {
      request.report_progress(progress->fraction, progress->message);
    }
  };

  absl::StatusOr<ContainedProcessResult> ran = RunContainedProcess(process);
  if (!ran.ok()) return fail(ran.status());
  const fs::path log_path = output_dir / options.log_file_name;
  const absl::Status log_status = log.WriteTo(log_path);

  if (!ran->ok()) {
    std::string message =
        absl::StrCat("command ", SanitizeUtf8(process.argv[0]), " ", ran->Describe());
    const std::string tail = log.Tail(options.error_tail_lines);
    absl::StrAppend(&message, tail.empty() ? "; it printed nothing"
                                           : absl::StrCat("; last lines of its output:\n", tail));
    return fail(ran->timed_out ? absl::DeadlineExceededError(message)
                               : absl::AbortedError(message));
  }
  if (!log_status.ok()) return fail(log_status);

  ExecRunResult result;
  result.elapsed = ran->elapsed;
  result.exit_code = *ran->exit_code;
  std::vector<fs::directory_entry> entries;
  for (const fs::directory_entry& entry : fs::directory_iterator(output_dir, ec)) {
    entries.push_back(entry);
  }
  if (ec) return fail(absl::InternalError(absl::StrCat("cannot list ", output_dir.string())));
  std::sort(entries.begin(), entries.end());
  for (const fs::directory_entry& entry : entries) {
    const std::string name = entry.path().filename().string();
    const std::string why = WhyNotAnOutput(entry, output_dir);
    if (!why.empty()) {
      result.skipped_outputs.push_back(absl::StrCat(SanitizeUtf8(name), ": ", why));
      continue;
    }
    kiln::v1::LocalFile file;
    file.set_name(name);
    file.set_path(entry.path().string());
    result.outputs.push_back(std::move(file));
  }
  return result;
}

}  // namespace kiln::models
