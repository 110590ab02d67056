#include "client/kilnctl_config.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kiln::kilnctl {
namespace {

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> keys = {"addr",     "output",  "timeout",         "tls-ca",
                                                "tls-cert", "tls-key", "tls-server-name", "token"};
  return keys;
}

// A scalar YAML value: plain, or in matching single or double quotes (no escapes inside).
absl::StatusOr<std::string> Unquote(absl::string_view value, const std::string& where) {
  if (value.size() >= 1 && (value.front() == '"' || value.front() == '\'')) {
    if (value.size() < 2 || value.back() != value.front()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unterminated quoted value"));
    }
    return std::string(value.substr(1, value.size() - 2));
  }
  // A plain value ends at " #" (a comment).
  const size_t comment = value.find(" #");
  if (comment != absl::string_view::npos) value = value.substr(0, comment);
  return std::string(absl::StripAsciiWhitespace(value));
}

}  // namespace

absl::StatusOr<ConfigFile> ParseConfigFile(absl::string_view text, absl::string_view path) {
  ConfigFile config;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const std::string where = absl::StrCat(path, ":", line_number);
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#' || trimmed == "---") continue;
    if (line.front() == ' ' || line.front() == '\t') {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": nested values are not supported; expected \"key: value\""));
    }
    const size_t colon = trimmed.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected \"key: value\", got \"", trimmed, "\""));
    }
    const std::string key(absl::StripAsciiWhitespace(trimmed.substr(0, colon)));
    bool known = false;
    for (const std::string& k : ConfigKeys()) known |= k == key;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown key \"", key, "\" (known: ", absl::StrJoin(ConfigKeys(), ", "), ")"));
    }
    absl::StatusOr<std::string> value =
        Unquote(absl::StripAsciiWhitespace(trimmed.substr(colon + 1)), where);
    if (!value.ok()) return value.status();
    if (!config.values.emplace(key, *std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" given twice"));
    }
  }
  return config;
}

ConfigLocation FindConfigFile(
    const std::function<std::optional<std::string>(const char*)>& getenv) {
  auto nonempty = [&](const char* name) -> std::optional<std::string> {
    std::optional<std::string> value = getenv(name);
    if (value.has_value() && value->empty()) return std::nullopt;
    return value;
  };
  if (std::optional<std::string> explicit_path = nonempty("KILN_CONFIG")) {
    return {*explicit_path, true};
  }
  if (std::optional<std::string> xdg = nonempty("XDG_CONFIG_HOME")) {
    return {absl::StrCat(*xdg, "/kiln/config.yaml"), false};
  }
  if (std::optional<std::string> home = nonempty("HOME")) {
    return {absl::StrCat(*home, "/.config/kiln/config.yaml"), false};
  }
  return {};
}

std::string Resolve(const std::optional<std::string>& flag, const std::optional<std::string>& env,
                    const ConfigFile& file, const std::string& key, const std::string& fallback) {
  if (flag.has_value()) return *flag;
  if (env.has_value() && !env->empty()) return *env;
  if (auto it = file.values.find(key); it != file.values.end()) return it->second;
  return fallback;
}

}  // namespace kiln::kilnctl
