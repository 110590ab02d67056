#include "client/job_spec_yaml.h"

// GCC 12 misreads yaml-cpp 0.7's iterator proxies (false -Wdangling-pointer and
// -Wmaybe-uninitialized in its headers).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <yaml-cpp/yaml.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "kiln/v1/job.pb.h"

namespace kiln::kilnctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Value;

constexpr char kYamlTagPrefix[] = "tag:yaml.org,2002:";

// What a scalar means under YAML 1.2's core schema (or its explicit tag).
struct Scalar {
  enum Kind { kNull, kBool, kInt, kFloat, kString } kind = kString;
  bool boolean = false;
  double number = 0;
  std::string text;  // As written.
};

bool IsCoreNull(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> CoreBool(absl::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// Integers: decimal with an optional sign, 0x hex, 0o octal (YAML 1.2 core).
bool ParseCoreInt(absl::string_view s, int64_t* value, uint64_t* unsigned_value, bool* negative) {
  int base = 10;
  absl::string_view digits = s;
  *negative = absl::StartsWith(digits, "-");
  if (absl::ConsumePrefix(&digits, "0x")) {
    base = 16;
  } else if (absl::ConsumePrefix(&digits, "0o")) {
    base = 8;
  } else {
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  }
  if (digits.empty()) return false;
  for (char c : digits) {
    const bool ok = base == 16 ? absl::ascii_isxdigit(static_cast<unsigned char>(c))
                               : (c >= '0' && c < '0' + base);
    if (!ok) return false;
  }
  // Fits int64 or (non-negative) uint64; otherwise it is not a usable integer.
  uint64_t magnitude = 0;
  for (char c : digits) {
    const int d = absl::ascii_isdigit(static_cast<unsigned char>(c))
                      ? c - '0'
                      : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    if (magnitude > (std::numeric_limits<uint64_t>::max() - d) / base) return false;
    magnitude = magnitude * base + d;
  }
  *unsigned_value = magnitude;
  if (*negative) {
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) return false;
    *value = magnitude == static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1
                 ? std::numeric_limits<int64_t>::min()
                 : -static_cast<int64_t>(magnitude);
  } else {
    *value = magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                 ? std::numeric_limits<int64_t>::max()
                 : static_cast<int64_t>(magnitude);
  }
  return true;
}

std::optional<double> CoreFloat(absl::string_view s) {
  absl::string_view body = s;
  const bool negative = absl::ConsumePrefix(&body, "-");
  if (!negative) absl::ConsumePrefix(&body, "+");
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0;
  size_t mantissa_digits = 0;
  while (i < body.size() && absl::ascii_isdigit(static_cast<unsigned char>(body[i]))) ++i;
  mantissa_digits = i;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && absl::ascii_isdigit(static_cast<unsigned char>(body[i]))) {
      ++i;
      ++mantissa_digits;
    }
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    const size_t exponent_start = i;
    while (i < body.size() && absl::ascii_isdigit(static_cast<unsigned char>(body[i]))) ++i;
    if (i == exponent_start) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  double value = 0;
  if (!absl::SimpleAtod(s, &value)) return std::nullopt;
  return value;
}

// A -1 mark (yaml-cpp's "no position") prints as nothing.
std::string Where(absl::string_view source, const YAML::Mark& mark) {
  if (mark.is_null()) return std::string(source);
  return absl::StrCat(source, ":", mark.line + 1, ":", mark.column + 1);
}

std::string KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Null:
      return "null";
    default:
      return absl::StrCat("\"", node.Scalar(), "\"");
  }
}

class Converter {
 public:
  Converter(absl::string_view source, const YamlLimits& limits)
      : source_(source), limits_(limits) {}

  // A mapping of `type`'s fields -> a JSON object.
  // Keys in `skip` are left to the caller (a pipeline job's name and depends_on).
  absl::Status Message(const YAML::Node& node, const Descriptor& type, const std::string& path,
                       int depth, Value* out, const std::set<std::string>* skip = nullptr) {
    KILN_RETURN_IF_ERROR(Count(node, path, depth));
    if (node.IsNull()) {
      out->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    }
    if (!node.IsMap()) {
      return Error(node, path,
                   absl::StrCat("expected a mapping of ", type.full_name(), " fields, found ",
                                KindName(node)));
    }
    auto& fields = *out->mutable_struct_value()->mutable_fields();
    std::map<int, YAML::Mark> seen;  // Field number -> where it was first given.
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy (a handle): yaml-cpp's operator-> returns a temporary proxy, so a reference to
      // it->first dangles after this line (ASan: stack-use-after-scope).
      const YAML::Node key = it->first;
      if (!key.IsScalar()) return Error(key, path, "a key must be a plain name");
      const std::string& name = key.Scalar();
      if (skip != nullptr && skip->contains(name)) continue;
      const FieldDescriptor* field = type.FindFieldByName(name);
      for (int i = 0; field == nullptr && i < type.field_count(); ++i) {
        if (type.field(i)->json_name() == name) field = type.field(i);  // e.g. minComputeCapability
      }
      const std::string field_path = path.empty() ? name : absl::StrCat(path, ".", name);
      if (field == nullptr) {
        std::vector<std::string> known;
        for (int i = 0; i < type.field_count(); ++i) known.push_back(type.field(i)->name());
        return Error(key, field_path,
                     absl::StrCat("unknown field of ", type.full_name(),
                                  " (known: ", absl::StrJoin(known, ", "), ")"));
      }
      if (auto [first, inserted] = seen.emplace(field->number(), key.Mark()); !inserted) {
        return Error(key, field_path,
                     absl::StrCat("given twice (first at line ", first->second.line + 1, ")"));
      }
      KILN_RETURN_IF_ERROR(
          Field(it->second, *field, field_path, depth + 1, &fields[field->name()]));
    }
    return absl::OkStatus();
  }

 private:
  // A whole field: a list for repeated fields, an object for maps, else one value.
  absl::Status Field(const YAML::Node& node, const FieldDescriptor& field, const std::string& path,
                     int depth, Value* out) {
    if (node.IsNull()) {
      out->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    }
    if (field.is_map()) {
      KILN_RETURN_IF_ERROR(Count(node, path, depth));
      if (!node.IsMap()) {
        return Error(node, path, absl::StrCat("expected a mapping, found ", KindName(node)));
      }
      const FieldDescriptor& value_field = *field.message_type()->map_value();
      auto& entries = *out->mutable_struct_value()->mutable_fields();
      std::map<std::string, YAML::Mark> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) return Error(it->first, path, "a key must be a scalar");
        const std::string& key = it->first.Scalar();
        const std::string entry_path = absl::StrCat(path, ".", key);
        if (auto [first, inserted] = seen.emplace(key, it->first.Mark()); !inserted) {
          return Error(it->first, entry_path,
                       absl::StrCat("given twice (first at line ", first->second.line + 1, ")"));
        }
        KILN_RETURN_IF_ERROR(Single(it->second, value_field, entry_path, depth + 1, &entries[key]));
      }
      return absl::OkStatus();
    }
    if (field.is_repeated()) {
      KILN_RETURN_IF_ERROR(Count(node, path, depth));
      if (!node.IsSequence()) {
        return Error(node, path, absl::StrCat("expected a sequence, found ", KindName(node)));
      }
      google::protobuf::ListValue* list = out->mutable_list_value();
      for (size_t i = 0; i < node.size(); ++i) {
        KILN_RETURN_IF_ERROR(
            Single(node[i], field, absl::StrCat(path, "[", i, "]"), depth + 1, list->add_values()));
      }
      return absl::OkStatus();
    }
    return Single(node, field, path, depth, out);
  }

  // One value of `field`'s type (an element, for repeated fields).
  absl::Status Single(const YAML::Node& node, const FieldDescriptor& field, const std::string& path,
                      int depth, Value* out) {
    if (field.type() == FieldDescriptor::TYPE_MESSAGE ||
        field.type() == FieldDescriptor::TYPE_GROUP) {
      return MessageValue(node, *field.message_type(), path, depth, out);
    }
    KILN_RETURN_IF_ERROR(Count(node, path, depth));
    if (node.IsNull()) {
      out->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    }
    if (!node.IsScalar()) {
      return Error(node, path, absl::StrCat("expected a single value, found ", KindName(node)));
    }
    KILN_ASSIGN_OR_RETURN(Scalar scalar, Resolve(node, path));
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        out->set_string_value(node.Scalar());  // The text as written, whatever it looks like.
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_BOOL:
        if (scalar.kind != Scalar::kBool) {
          return Error(node, path, absl::StrCat("expected true or false, found ", KindName(node)));
        }
        out->set_bool_value(scalar.boolean);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_ENUM: {
        const std::string& text = node.Scalar();
        int64_t number = 0;
        uint64_t unsigned_number = 0;
        bool negative = false;
        if (ParseCoreInt(text, &number, &unsigned_number, &negative) &&
            number >= std::numeric_limits<int32_t>::min() &&
            number <= std::numeric_limits<int32_t>::max()) {
          out->set_number_value(static_cast<double>(number));
          return absl::OkStatus();
        }
        if (field.enum_type()->FindValueByName(text) == nullptr) {
          std::vector<std::string> names;
          for (int i = 0; i < field.enum_type()->value_count(); ++i) {
            names.push_back(field.enum_type()->value(i)->name());
          }
          return Error(node, path,
                       absl::StrCat("\"", text, "\" is not one of ", absl::StrJoin(names, ", ")));
        }
        out->set_string_value(text);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_FLOAT:
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        std::optional<double> number = CoreFloat(node.Scalar());
        if (!number)
          return Error(node, path, absl::StrCat("expected a number, found ", KindName(node)));
        // Protobuf JSON spells the non-finite values as strings.
        if (std::isnan(*number)) {
          out->set_string_value("NaN");
        } else if (std::isinf(*number)) {
          out->set_string_value(*number > 0 ? "Infinity" : "-Infinity");
        } else {
          out->set_number_value(*number);
        }
        return absl::OkStatus();
      }
      default: {  // The integer types.
        int64_t number = 0;
        uint64_t unsigned_number = 0;
        bool negative = false;
        if (!ParseCoreInt(node.Scalar(), &number, &unsigned_number, &negative)) {
          return Error(node, path, absl::StrCat("expected an integer, found ", KindName(node)));
        }
        bool fits = true;
        switch (field.cpp_type()) {
          case FieldDescriptor::CPPTYPE_INT32:
            fits = !(negative ? number < std::numeric_limits<int32_t>::min()
                              : unsigned_number > std::numeric_limits<int32_t>::max());
            break;
          case FieldDescriptor::CPPTYPE_UINT32:
            fits = !negative && unsigned_number <= std::numeric_limits<uint32_t>::max();
            break;
          case FieldDescriptor::CPPTYPE_INT64:
            fits = negative || unsigned_number <= std::numeric_limits<int64_t>::max();
            break;
          default:  // UINT64
            fits = !negative;
            break;
        }
        if (!fits) {
          return Error(node, path,
                       absl::StrCat(node.Scalar(), " is out of range for ", field.cpp_type_name()));
        }
        // As a decimal string: exact for 64-bit values, and accepted for every integer type.
        out->set_string_value(negative ? absl::StrCat(number) : absl::StrCat(unsigned_number));
        return absl::OkStatus();
      }
    }
  }

  // A message-typed value: the well-known types have their own JSON forms.
  absl::Status MessageValue(const YAML::Node& node, const Descriptor& type, const std::string& path,
                            int depth, Value* out) {
    const std::string& name = type.full_name();
    if (name == "google.protobuf.Struct" || name == "google.protobuf.Value" ||
        name == "google.protobuf.ListValue") {
      if (name == "google.protobuf.Struct" && !node.IsNull() && !node.IsMap()) {
        return Error(node, path, absl::StrCat("expected a mapping, found ", KindName(node)));
      }
      if (name == "google.protobuf.ListValue" && !node.IsNull() && !node.IsSequence()) {
        return Error(node, path, absl::StrCat("expected a sequence, found ", KindName(node)));
      }
      return Untyped(node, path, depth, out);
    }
    if (name == "google.protobuf.Duration" || name == "google.protobuf.Timestamp" ||
        name == "google.protobuf.FieldMask") {
      KILN_RETURN_IF_ERROR(Count(node, path, depth));
      if (node.IsNull()) {
        out->set_null_value(google::protobuf::NULL_VALUE);
        return absl::OkStatus();
      }
      if (!node.IsScalar()) {
        return Error(node, path, absl::StrCat("expected a single value, found ", KindName(node)));
      }
      if (name == "google.protobuf.Duration") {
        absl::string_view seconds = node.Scalar();
        double ignored = 0;
        if (!absl::ConsumeSuffix(&seconds, "s") || !absl::SimpleAtod(seconds, &ignored)) {
          return Error(node, path,
                       absl::StrCat("expected a duration in seconds, e.g. \"600s\" or \"1.5s\"; "
                                    "found ",
                                    KindName(node)));
        }
      }
      out->set_string_value(node.Scalar());
      return absl::OkStatus();
    }
    if (absl::StartsWith(name, "google.protobuf.") && absl::EndsWith(name, "Value")) {
      return Single(node, *type.FindFieldByName("value"), path, depth, out);  // Wrappers.
    }
    if (name == "google.protobuf.Any") {
      return Error(node, path, "google.protobuf.Any is not supported in YAML specs");
    }
    return Message(node, type, path, depth, out);
  }

  // google.protobuf.Value: YAML's own typing (core schema and explicit tags).
  absl::Status Untyped(const YAML::Node& node, const std::string& path, int depth, Value* out) {
    KILN_RETURN_IF_ERROR(Count(node, path, depth));
    switch (node.Type()) {
      case YAML::NodeType::Map: {
        auto& fields = *out->mutable_struct_value()->mutable_fields();
        std::map<std::string, YAML::Mark> seen;
        for (auto it = node.begin(); it != node.end(); ++it) {
          if (!it->first.IsScalar()) return Error(it->first, path, "a key must be a scalar");
          const std::string& key = it->first.Scalar();
          const std::string entry_path = path.empty() ? key : absl::StrCat(path, ".", key);
          if (auto [first, inserted] = seen.emplace(key, it->first.Mark()); !inserted) {
            return Error(it->first, entry_path,
                         absl::StrCat("given twice (first at line ", first->second.line + 1, ")"));
          }
          KILN_RETURN_IF_ERROR(Untyped(it->second, entry_path, depth + 1, &fields[key]));
        }
        if (node.size() == 0) out->mutable_struct_value();
        return absl::OkStatus();
      }
      case YAML::NodeType::Sequence: {
        google::protobuf::ListValue* list = out->mutable_list_value();
        for (size_t i = 0; i < node.size(); ++i) {
          KILN_RETURN_IF_ERROR(
              Untyped(node[i], absl::StrCat(path, "[", i, "]"), depth + 1, list->add_values()));
        }
        return absl::OkStatus();
      }
      case YAML::NodeType::Scalar: {
        KILN_ASSIGN_OR_RETURN(Scalar scalar, Resolve(node, path));
        switch (scalar.kind) {
          case Scalar::kNull:
            out->set_null_value(google::protobuf::NULL_VALUE);
            break;
          case Scalar::kBool:
            out->set_bool_value(scalar.boolean);
            break;
          case Scalar::kInt:
          case Scalar::kFloat:
            if (!std::isfinite(scalar.number)) {
              return Error(node, path, absl::StrCat(node.Scalar(), " has no JSON form"));
            }
            out->set_number_value(scalar.number);
            break;
          case Scalar::kString:
            out->set_string_value(scalar.text);
            break;
        }
        return absl::OkStatus();
      }
      default:
        out->set_null_value(google::protobuf::NULL_VALUE);
        return absl::OkStatus();
    }
  }

  // The meaning of a scalar: quoted ("!") is a string, plain ("?") follows the core
  // schema, and the core tags (!!str, !!int, ...) force their type.
  absl::StatusOr<Scalar> Resolve(const YAML::Node& node, const std::string& path) {
    Scalar scalar;
    scalar.text = node.Scalar();
    const std::string& tag = node.Tag();
    absl::string_view core_tag = tag;
    const bool core = absl::ConsumePrefix(&core_tag, kYamlTagPrefix);
    if (tag == "!" || (core && core_tag == "str")) return scalar;
    if (tag != "?" && tag != "" && !core) {
      return Error(node, path, absl::StrCat("unsupported tag ", tag));
    }
    const bool any = !core;
    if ((any || core_tag == "null") && IsCoreNull(scalar.text)) {
      scalar.kind = Scalar::kNull;
      return scalar;
    }
    if (any || core_tag == "bool") {
      if (std::optional<bool> b = CoreBool(scalar.text)) {
        scalar.kind = Scalar::kBool;
        scalar.boolean = *b;
        return scalar;
      }
    }
    if (any || core_tag == "int") {
      int64_t number = 0;
      uint64_t unsigned_number = 0;
      bool negative = false;
      if (ParseCoreInt(scalar.text, &number, &unsigned_number, &negative)) {
        scalar.kind = Scalar::kInt;
        scalar.number =
            negative ? static_cast<double>(number) : static_cast<double>(unsigned_number);
        return scalar;
      }
    }
    if (any || core_tag == "float") {
      if (std::optional<double> d = CoreFloat(scalar.text)) {
        scalar.kind = Scalar::kFloat;
        scalar.number = *d;
        return scalar;
      }
    }
    if (any) return scalar;
    return Error(node, path, absl::StrCat("\"", scalar.text, "\" is not a valid !!", core_tag));
  }

  absl::Status Count(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > limits_.max_depth) {
      return Error(node, path, absl::StrCat("nested deeper than ", limits_.max_depth, " levels"));
    }
    if (++values_ > limits_.max_values) {
      return Error(node, path,
                   absl::StrCat("more than ", limits_.max_values,
                                " values (do anchors and aliases expand too much?)"));
    }
    return absl::OkStatus();
  }

  // Public for the pipeline reader, which reports in the same form.
 public:
  absl::Status Error(const YAML::Node& node, const std::string& path, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_, node.Mark()), ": ", path.empty() ? "" : path + ": ", why));
  }

 private:
  const std::string source_;
  const YamlLimits limits_;
  int values_ = 0;
};

// yaml-cpp's message, plus the usual cause when the line indents with a tab.
std::string ParseErrorMessage(absl::string_view yaml, absl::string_view source,
                              const YAML::Mark& mark, const std::string& message) {
  std::string text = absl::StrCat(Where(source, mark), ": ", message);
  if (!mark.is_null()) {
    std::vector<absl::string_view> lines = absl::StrSplit(yaml, '\n');
    if (mark.line >= 0 && static_cast<size_t>(mark.line) < lines.size()) {
      absl::string_view line = lines[mark.line];
      const size_t indent_end = line.find_first_not_of(" \t");
      if (line.substr(0, indent_end).find('\t') != absl::string_view::npos) {
        absl::StrAppend(&text, " (YAML does not allow tabs for indentation; use spaces)");
      }
    }
  }
  return text;
}

}  // namespace

bool IsYamlSpecFile(absl::string_view path, absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml")) return true;
  if (absl::EndsWith(lower, ".json")) return false;
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // A UTF-8 byte order mark.
  text = absl::StripLeadingAsciiWhitespace(text);
  return text.empty() || text[0] != '{';
}

absl::StatusOr<std::string> YamlToProtoJson(absl::string_view yaml, const Descriptor& type,
                                            absl::string_view source, const YamlLimits& limits) {
  if (static_cast<int64_t>(yaml.size()) > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": larger than ", limits.max_bytes, " bytes"));
  }
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(ParseErrorMessage(yaml, source, e.mark, e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
  if (documents.empty() || documents[0].IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": empty; expected a mapping of ", type.full_name(), " fields"));
  }
  if (documents.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, documents[1].Mark()),
                     ": more than one YAML document; a spec file holds one"));
  }
  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(source, root.Mark()), ": the top level must be a mapping of ", type.full_name(),
        " fields (task: ..., "
        "parameters: ...), found ",
        KindName(root)));
  }
  Value tree;
  try {
    KILN_RETURN_IF_ERROR(Converter(source, limits).Message(root, type, "", 1, &tree));
  } catch (const YAML::Exception& e) {  // Not expected once loaded; never let one escape.
    return absl::InvalidArgumentError(ParseErrorMessage(yaml, source, e.mark, e.msg));
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  auto printed = google::protobuf::util::MessageToJsonString(tree, &json, options);
  if (!printed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot express as JSON: ", printed.message().ToString()));
  }
  return json;
}

bool IsPipelineText(absl::string_view text) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return root.IsMap() && root["jobs"].IsDefined() && !root["task"].IsDefined();
  } catch (const std::exception&) {
    return false;
  }
}

absl::StatusOr<std::vector<PipelineJobJson>> YamlPipelineToJson(absl::string_view yaml,
                                                                absl::string_view source,
                                                                const YamlLimits& limits) {
  if (static_cast<int64_t>(yaml.size()) > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": larger than ", limits.max_bytes, " bytes"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(ParseErrorMessage(yaml, source, e.mark, e.msg));
  }
  Converter converter(source, limits);
  const std::set<std::string> pipeline_keys = {"name", "depends_on", "files"};
  std::vector<PipelineJobJson> jobs;
  try {
    if (!root.IsMap() || !root["jobs"].IsSequence()) {
      return converter.Error(root, "jobs", "a pipeline file is a mapping with a sequence `jobs`");
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it->first.Scalar() != "jobs") {
        return converter.Error(it->first, it->first.Scalar(),
                               "unknown key of a pipeline file (known: jobs)");
      }
    }
    const YAML::Node list = root["jobs"];
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node job = list[i];
      const std::string path = absl::StrCat("jobs[", i, "]");
      if (!job.IsMap()) return converter.Error(job, path, "expected a mapping of JobSpec fields");
      PipelineJobJson out;
      out.line = job.Mark().line + 1;
      const YAML::Node name = job["name"];
      if (!name.IsDefined() || !name.IsScalar() || name.Scalar().empty()) {
        return converter.Error(job, path + ".name", "required: a name other jobs can depend on");
      }
      out.name = name.Scalar();
      if (const YAML::Node deps = job["depends_on"]; deps.IsDefined() && !deps.IsNull()) {
        if (!deps.IsSequence()) {
          return converter.Error(deps, path + ".depends_on", "expected a sequence of job names");
        }
        for (size_t j = 0; j < deps.size(); ++j) {
          const YAML::Node dep = deps[j];
          const std::string at = absl::StrCat(path, ".depends_on[", j, "]");
          PipelineDependencyText parsed;
          if (dep.IsScalar()) {
            parsed.name = dep.Scalar();
          } else if (dep.IsMap()) {
            for (auto kv = dep.begin(); kv != dep.end(); ++kv) {
              const std::string key = kv->first.Scalar();
              if (key == "name" && kv->second.IsScalar()) {
                parsed.name = kv->second.Scalar();
              } else if (key == "run_on_failure" && kv->second.IsScalar()) {
                std::optional<bool> value = CoreBool(kv->second.Scalar());
                if (!value.has_value()) {
                  return converter.Error(kv->second, at + ".run_on_failure",
                                         "expected true or false");
                }
                parsed.run_on_failure = *value;
              } else if (key == "input_prefix" && kv->second.IsScalar()) {
                parsed.input_prefix = kv->second.Scalar();
              } else {
                return converter.Error(kv->first, at + "." + key,
                                       "unknown key (known: name, run_on_failure, input_prefix)");
              }
            }
          } else {
            return converter.Error(dep, at, "expected a job name or {name: ..., ...}");
          }
          if (parsed.name.empty()) return converter.Error(dep, at + ".name", "required");
          out.depends_on.push_back(std::move(parsed));
        }
      }
      if (const YAML::Node files = job["files"]; files.IsDefined() && !files.IsNull()) {
        if (!files.IsMap()) {
          return converter.Error(files, path + ".files", "expected a mapping NAME: PATH");
        }
        for (auto kv = files.begin(); kv != files.end(); ++kv) {
          if (!kv->first.IsScalar() || !kv->second.IsScalar()) {
            return converter.Error(kv->first, path + ".files", "expected NAME: PATH");
          }
          out.files.emplace_back(kv->first.Scalar(), kv->second.Scalar());
        }
      }
      Value tree;
      KILN_RETURN_IF_ERROR(
          converter.Message(job, *kiln::v1::JobSpec::descriptor(), path, 2, &tree, &pipeline_keys));
      google::protobuf::util::JsonPrintOptions options;
      auto printed = google::protobuf::util::MessageToJsonString(tree, &out.spec_json, options);
      if (!printed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": ", path, ": cannot express as JSON: ", printed.message().ToString()));
      }
      jobs.push_back(std::move(out));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(ParseErrorMessage(yaml, source, e.mark, e.msg));
  }
  return jobs;
}

}  // namespace kiln::kilnctl
