// A small command-line parser for kilnctl: GNU-style long flags (--name value,
// --name=value), single-letter aliases (-o json, -ojson), switches (--wait), repeated flags
// (--label a=b --label c=d), "--" to end flags, and the verb found among global flags.
// Pure functions and values; any thread.
#ifndef KILN_CLIENT_KILNCTL_ARGS_H_
#define KILN_CLIENT_KILNCTL_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::kilnctl {

// One flag a verb accepts.
struct FlagSpec {
  // Long name without the dashes, e.g. "output".
  std::string name;
  // Single-letter alias without the dash, e.g. 'o'; '\0' for none.
  char short_name = '\0';
  // False for a switch such as --wait (which also accepts --wait=true|false).
  bool has_value = true;
  // Shown in help after the flag, e.g. "K=V"; empty for switches.
  std::string value_name;
  // One line of help.
  std::string help;
};

// The result of parsing: flag values by long name (every occurrence, in order; switches
// hold "true" or "false") and the positional arguments.
class ParsedArgs {
 public:
  bool Has(absl::string_view name) const { return values_.contains(std::string(name)); }
  // The last value given; flags given once keep the last one ("-o json -o table" = table).
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, absl::string_view fallback) const;
  // Every value given, in order; empty when the flag was not given.
  const std::vector<std::string>& GetAll(absl::string_view name) const;
  // True when the switch was given and not set to false.
  bool Switch(absl::string_view name) const { return GetOr(name, "false") == "true"; }
  const std::vector<std::string>& positional() const { return positional_; }

  void Add(const std::string& name, std::string value) {
    values_[name].push_back(std::move(value));
  }
  void AddPositional(std::string value) { positional_.push_back(std::move(value)); }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (without the program name) against `flags`. An unknown flag or a missing
// value is INVALID_ARGUMENT with a message fit for the user.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& flags,
                                     const std::vector<std::string>& args);

// Finds the verb: the first argument that is neither a flag of `global_flags` nor the value
// of one. Returns the verb ("" when there is none) and the other arguments in order.
std::pair<std::string, std::vector<std::string>> ExtractVerb(
    const std::vector<FlagSpec>& global_flags, const std::vector<std::string>& args);

// Help lines for `flags`, one per flag, aligned: "  -o, --output FORMAT   help".
std::string FlagsHelp(const std::vector<FlagSpec>& flags);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_ARGS_H_
