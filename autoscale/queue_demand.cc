#include "autoscale/queue_demand.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln::autoscale {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

// Parses `{a="x",b="y"}` from the start of `s`; advances `s` past it.
bool ParseLabels(absl::string_view& s, std::map<std::string, std::string>& labels) {
  s.remove_prefix(1);  // '{'
  for (;;) {
    s = absl::StripLeadingAsciiWhitespace(s);
    if (s.empty()) return false;
    if (s[0] == '}') {
      s.remove_prefix(1);
      return true;
    }
    size_t i = 0;
    while (i < s.size() && IsNameChar(s[i])) ++i;
    if (i == 0) return false;
    std::string key(s.substr(0, i));
    s.remove_prefix(i);
    s = absl::StripLeadingAsciiWhitespace(s);
    if (s.size() < 2 || s[0] != '=' || s[1] != '"') return false;
    s.remove_prefix(2);
    std::string value;
    for (;;) {
      if (s.empty()) return false;
      const char c = s[0];
      s.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (s.empty()) return false;
        const char e = s[0];
        s.remove_prefix(1);
        value.push_back(e == 'n' ? '\n' : e);
      } else {
        value.push_back(c);
      }
    }
    labels[std::move(key)] = std::move(value);
    s = absl::StripLeadingAsciiWhitespace(s);
    if (!s.empty() && s[0] == ',') s.remove_prefix(1);
  }
}

}  // namespace

absl::StatusOr<std::vector<Sample>> ParseMetricSamples(absl::string_view exposition,
                                                       absl::string_view name) {
  std::vector<Sample> samples;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i])) ++i;
    if (line.substr(0, i) != name) continue;
    const auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_number, " (", name, "): ", what));
    };
    absl::string_view rest = line.substr(i);
    Sample sample;
    if (!rest.empty() && rest[0] == '{' && !ParseLabels(rest, sample.labels)) {
      return bad("malformed labels");
    }
    rest = absl::StripLeadingAsciiWhitespace(rest);
    // The value, then an optional timestamp.
    const std::string value(rest.substr(0, rest.find(' ')));
    if (value.empty()) return bad("no value");
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size()) return bad(absl::StrCat("bad value \"", value, "\""));
    if (std::isnan(sample.value)) sample.value = 0;
    samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace kiln::autoscale
