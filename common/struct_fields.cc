#include "common/struct_fields.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::fields {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("parameters.", field, ": ", what));
}

absl::Status CheckKeys(const Struct& s, absl::string_view prefix,
                       std::vector<absl::string_view> known) {
  std::sort(known.begin(), known.end());
  std::vector<std::string> keys;
  for (const auto& [key, unused] : s.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    if (!std::binary_search(known.begin(), known.end(), absl::string_view(key))) {
      return Invalid(absl::StrCat(prefix, key),
                     absl::StrCat("unknown field (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

const Value* Find(const Struct& s, absl::string_view key) {
  auto it = s.fields().find(std::string(key));
  return it == s.fields().end() ? nullptr : &it->second;
}

absl::StatusOr<double> FiniteNumber(const Value& v, absl::string_view field) {
  if (v.kind_case() != Value::kNumberValue || !std::isfinite(v.number_value())) {
    return Invalid(field, "must be a finite number");
  }
  return v.number_value();
}

absl::StatusOr<double> NumberIn(const Value& v, absl::string_view field, double min, double max) {
  if (v.kind_case() != Value::kNumberValue || !(v.number_value() >= min) ||
      !(v.number_value() <= max)) {
    return Invalid(field, absl::StrCat("must be a number from ", min, " to ", max));
  }
  return v.number_value();
}

absl::StatusOr<int64_t> IntegerIn(const Value& v, absl::string_view field, int64_t min,
                                  int64_t max) {
  const double n = v.number_value();
  if (v.kind_case() != Value::kNumberValue || n != std::floor(n) ||
      !(n >= static_cast<double>(min)) || !(n <= static_cast<double>(max))) {
    return Invalid(field, absl::StrCat("must be an integer from ", min, " to ", max));
  }
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::array<uint8_t, 3>> RgbColor(const Value& v, absl::string_view field) {
  if (v.kind_case() != Value::kListValue || v.list_value().values_size() != 3) {
    return Invalid(field, "must be a list of 3 integers [r, g, b], each 0..255");
  }
  std::array<uint8_t, 3> color;
  for (int i = 0; i < 3; ++i) {
    const absl::StatusOr<int64_t> c =
        IntegerIn(v.list_value().values(i), absl::StrCat(field, "[", i, "]"), 0, 255);
    if (!c.ok()) return c.status();
    color[i] = static_cast<uint8_t>(*c);
  }
  return color;
}

absl::StatusOr<bool> Bool(const Value& v, absl::string_view field) {
  if (v.kind_case() != Value::kBoolValue) return Invalid(field, "must be true or false");
  return v.bool_value();
}

absl::StatusOr<std::string> String(const Value& v, absl::string_view field, size_t max_length) {
  if (v.kind_case() != Value::kStringValue || v.string_value().empty() ||
      v.string_value().size() > max_length) {
    return Invalid(field, absl::StrCat("must be a string of 1 to ", max_length, " bytes"));
  }
  return v.string_value();
}

absl::StatusOr<std::string> OneOf(const Value& v, absl::string_view field,
                                  std::initializer_list<absl::string_view> choices) {
  if (v.kind_case() == Value::kStringValue) {
    for (absl::string_view c : choices) {
      if (v.string_value() == c) return v.string_value();
    }
  }
  return Invalid(field, absl::StrCat("must be one of \"", absl::StrJoin(choices, "\", \""), "\""));
}

absl::StatusOr<std::array<double, 3>> Vector3(const Value& v, absl::string_view field,
                                              double max_magnitude) {
  if (v.kind_case() != Value::kListValue || v.list_value().values_size() != 3) {
    return Invalid(field, "must be a list of 3 numbers");
  }
  std::array<double, 3> p;
  for (int i = 0; i < 3; ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    const Value& x = v.list_value().values(i);
    if (x.kind_case() != Value::kNumberValue || !std::isfinite(x.number_value())) {
      return Invalid(item, "must be a finite number");
    }
    if (std::abs(x.number_value()) > max_magnitude) {
      return Invalid(item, absl::StrCat("magnitude must be <= ", max_magnitude));
    }
    p[i] = x.number_value();
  }
  return p;
}

bool IsValidOutputName(absl::string_view name,
                       std::initializer_list<absl::string_view> extensions) {
  if (name.empty() || name.size() > kMaxOutputNameLength || name[0] == '.') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  if (extensions.size() == 0) return true;
  for (absl::string_view ext : extensions) {
    if (name.size() > ext.size() && absl::EndsWithIgnoreCase(name, ext)) return true;
  }
  return false;
}

absl::StatusOr<std::string> OutputName(const Value& v, absl::string_view field,
                                       std::initializer_list<absl::string_view> extensions) {
  if (v.kind_case() != Value::kStringValue || !IsValidOutputName(v.string_value(), extensions)) {
    std::string what = absl::StrCat("must be 1 to ", kMaxOutputNameLength,
                                    " characters of [A-Za-z0-9._-], not starting with '.'");
    if (extensions.size() > 0) {
      absl::StrAppend(&what, ", ending in \"", absl::StrJoin(extensions, "\", \""), "\"");
    }
    return Invalid(field, what);
  }
  return v.string_value();
}

}  // namespace kiln::fields
