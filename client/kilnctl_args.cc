#include "client/kilnctl_args.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kiln::kilnctl {
namespace {

const FlagSpec* FindLong(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindShort(const std::vector<FlagSpec>& flags, char name) {
  for (const FlagSpec& flag : flags) {
    if (flag.short_name != '\0' && flag.short_name == name) return &flag;
  }
  return nullptr;
}

// A lone "-" is an argument (stdin by convention), not a flag.
bool LooksLikeFlag(absl::string_view arg) { return arg.size() > 1 && arg[0] == '-'; }

}  // namespace

std::optional<std::string> ParsedArgs::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string ParsedArgs::GetOr(absl::string_view name, absl::string_view fallback) const {
  std::optional<std::string> value = Get(name);
  return value ? *value : std::string(fallback);
}

const std::vector<std::string>& ParsedArgs::GetAll(absl::string_view name) const {
  static const std::vector<std::string> kEmpty;
  auto it = values_.find(name);
  return it == values_.end() ? kEmpty : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& flags,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) parsed.AddPositional(args[i]);
      break;
    }
    if (!LooksLikeFlag(arg)) {
      parsed.AddPositional(arg);
      continue;
    }
    const FlagSpec* flag = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;  // The flag as the user wrote it, for messages.
    if (absl::StartsWith(arg, "--")) {
      absl::string_view body = absl::string_view(arg).substr(2);
      const size_t eq = body.find('=');
      if (eq != absl::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      shown = absl::StrCat("--", body);
      flag = FindLong(flags, body);
    } else {
      shown = arg.substr(0, 2);
      flag = FindShort(flags, arg[1]);
      if (arg.size() > 2) {
        // "-ojson" and "-o=json" both mean "-o json".
        inline_value = arg.substr(arg[2] == '=' ? 3 : 2);
      }
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown));
    if (!flag->has_value) {
      std::string value = inline_value.value_or("true");
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat(shown, " is a switch; it takes no value (or =true/=false)"));
      }
      parsed.Add(flag->name, std::move(value));
      continue;
    }
    if (inline_value) {
      parsed.Add(flag->name, std::move(*inline_value));
    } else if (i + 1 < args.size()) {
      // The next argument is the value even if it starts with '-' (--priority -5).
      parsed.Add(flag->name, args[++i]);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(shown, " needs a value"));
    }
  }
  return parsed;
}

std::pair<std::string, std::vector<std::string>> ExtractVerb(
    const std::vector<FlagSpec>& global_flags, const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string verb;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!verb.empty() || arg == "--") {
      rest.insert(rest.end(), args.begin() + i, args.end());
      break;
    }
    if (!LooksLikeFlag(arg)) {
      verb = arg;
      continue;
    }
    rest.push_back(arg);
    // A global flag written without an inline value owns the next argument.
    const FlagSpec* flag = nullptr;
    if (absl::StartsWith(arg, "--")) {
      if (arg.find('=') == std::string::npos) flag = FindLong(global_flags, arg.substr(2));
    } else if (arg.size() == 2) {
      flag = FindShort(global_flags, arg[1]);
    }
    if (flag != nullptr && flag->has_value && i + 1 < args.size()) rest.push_back(args[++i]);
  }
  return {verb, rest};
}

std::string FlagsHelp(const std::vector<FlagSpec>& flags) {
  std::vector<std::string> names;
  size_t width = 0;
  for (const FlagSpec& flag : flags) {
    std::string name = flag.short_name != '\0'
                           ? absl::StrCat("-", std::string(1, flag.short_name), ", --", flag.name)
                           : absl::StrCat("    --", flag.name);
    if (flag.has_value)
      absl::StrAppend(&name, " ", flag.value_name.empty() ? "VALUE" : flag.value_name);
    width = std::max(width, name.size());
    names.push_back(std::move(name));
  }
  std::string out;
  for (size_t i = 0; i < flags.size(); ++i) {
    absl::StrAppend(&out, "  ", names[i], std::string(width - names[i].size() + 3, ' '),
                    flags[i].help, "\n");
  }
  return out;
}

}  // namespace kiln::kilnctl
