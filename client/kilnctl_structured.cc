#include "client/kilnctl_structured.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_quote.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::kilnctl {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::vector<std::string> SortedKeys(const Struct& object) {
  std::vector<std::string> keys;
  keys.reserve(object.fields().size());
  for (const auto& [key, unused] : object.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// Shortest text that reads back as the same double; integers without a fraction.
std::string FormatNumber(double number) {
  if (!std::isfinite(number)) return "null";  // JSON has no NaN/Inf; proto JSON never makes them.
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), number);
  return std::string(buffer, result.ptr);
}

// A scalar (or empty container) as JSON/YAML flow text; false for a non-empty container.
bool Scalar(const Value& value, std::string& out) {
  switch (value.kind_case()) {
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      out = "null";
      return true;
    case Value::kBoolValue:
      out = value.bool_value() ? "true" : "false";
      return true;
    case Value::kNumberValue:
      out = FormatNumber(value.number_value());
      return true;
    case Value::kStringValue:
      out = JsonQuote(value.string_value());
      return true;
    case Value::kListValue:
      if (value.list_value().values().empty()) {
        out = "[]";
        return true;
      }
      return false;
    case Value::kStructValue:
      if (value.struct_value().fields().empty()) {
        out = "{}";
        return true;
      }
      return false;
  }
  return false;
}

void AppendJson(const Value& value, bool multiline, int depth, std::string& out) {
  std::string scalar;
  if (Scalar(value, scalar)) {
    out += scalar;
    return;
  }
  const std::string inner = multiline ? "\n" + std::string(2 * (depth + 1), ' ') : "";
  const std::string outer = multiline ? "\n" + std::string(2 * depth, ' ') : "";
  if (value.kind_case() == Value::kListValue) {
    out += "[";
    bool first = true;
    for (const Value& item : value.list_value().values()) {
      absl::StrAppend(&out, first ? "" : ",", inner);
      first = false;
      AppendJson(item, multiline, depth + 1, out);
    }
    absl::StrAppend(&out, outer, "]");
    return;
  }
  out += "{";
  bool first = true;
  for (const std::string& key : SortedKeys(value.struct_value())) {
    absl::StrAppend(&out, first ? "" : ",", inner, JsonQuote(key), multiline ? ": " : ":");
    first = false;
    AppendJson(value.struct_value().fields().at(key), multiline, depth + 1, out);
  }
  absl::StrAppend(&out, outer, "}");
}

// Appends `value` as the YAML block that follows "key:" or "- " at `indent`.
void AppendYaml(const Value& value, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (value.kind_case() == Value::kListValue) {
    for (const Value& item : value.list_value().values()) {
      std::string scalar;
      if (Scalar(item, scalar)) {
        absl::StrAppend(&out, pad, "- ", scalar, "\n");
      } else if (item.kind_case() == Value::kStructValue) {
        // "- key: value" with the object's other keys lined up under the first.
        std::string block;
        AppendYaml(item, indent + 2, block);
        absl::StrAppend(&out, pad, "- ", block.substr(indent + 2));
      } else {
        absl::StrAppend(&out, pad, "-\n");
        AppendYaml(item, indent + 2, out);
      }
    }
    return;
  }
  for (const std::string& key : SortedKeys(value.struct_value())) {
    const Value& field = value.struct_value().fields().at(key);
    std::string scalar;
    // Keys of proto JSON are identifiers; a Struct's may be anything, so quote those.
    const bool plain_key = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    const std::string name = plain_key ? key : JsonQuote(key);
    if (Scalar(field, scalar)) {
      absl::StrAppend(&out, pad, name, ": ", scalar, "\n");
    } else {
      absl::StrAppend(&out, pad, name, ":\n");
      AppendYaml(field, indent + 2, out);
    }
  }
}

}  // namespace

Value ToValueTree(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  Value value;
  // A well-formed message always prints (no Any fields to resolve) and its JSON parses.
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok() ||
      !google::protobuf::util::JsonStringToMessage(json, &value).ok()) {
    value.set_string_value("<unprintable message>");
  }
  return value;
}

std::string ValueToJson(const Value& value, bool multiline) {
  std::string out;
  AppendJson(value, multiline, 0, out);
  return out;
}

std::string ValueToYaml(const Value& value) {
  std::string scalar;
  if (Scalar(value, scalar)) return scalar;
  std::string out;
  AppendYaml(value, 0, out);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace kiln::kilnctl
