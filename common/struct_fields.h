// Reading job parameters (a google.protobuf.Struct, i.e. JSON) field by field with errors
// that name the field: the shared vocabulary of every task's parameter parser
// (common/task_catalog.h and the *_params.h files beside it). Pure functions.
#ifndef KILN_COMMON_STRUCT_FIELDS_H_
#define KILN_COMMON_STRUCT_FIELDS_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace kiln::fields {

// Longest output file name a task accepts.
inline constexpr size_t kMaxOutputNameLength = 128;

// InvalidArgument "parameters.<field>: <what>".
absl::Status Invalid(absl::string_view field, absl::string_view what);

// Rejects keys outside `known`, reporting the first in sorted order as
// "parameters.<prefix><key>: unknown field (known: ...)".
absl::Status CheckKeys(const google::protobuf::Struct& s, absl::string_view prefix,
                       std::vector<absl::string_view> known);

// The value under `key`, or nullptr.
const google::protobuf::Value* Find(const google::protobuf::Struct& s, absl::string_view key);

absl::StatusOr<double> FiniteNumber(const google::protobuf::Value& v, absl::string_view field);
// A finite number in [min, max].
absl::StatusOr<double> NumberIn(const google::protobuf::Value& v, absl::string_view field,
                                double min, double max);
// A whole number in [min, max].
absl::StatusOr<int64_t> IntegerIn(const google::protobuf::Value& v, absl::string_view field,
                                  int64_t min, int64_t max);
absl::StatusOr<bool> Bool(const google::protobuf::Value& v, absl::string_view field);
// A string of 1..max_length bytes.
absl::StatusOr<std::string> String(const google::protobuf::Value& v, absl::string_view field,
                                   size_t max_length);
// One of `choices`; the error lists them.
absl::StatusOr<std::string> OneOf(const google::protobuf::Value& v, absl::string_view field,
                                  std::initializer_list<absl::string_view> choices);
// An RGB colour: a list of 3 integers [r, g, b], each 0..255.
absl::StatusOr<std::array<uint8_t, 3>> RgbColor(const google::protobuf::Value& v,
                                                absl::string_view field);
// A list of 3 finite numbers, each of magnitude <= max_magnitude.
absl::StatusOr<std::array<double, 3>> Vector3(const google::protobuf::Value& v,
                                              absl::string_view field, double max_magnitude);

// A file name a task may write: 1..kMaxOutputNameLength bytes of [A-Za-z0-9._-], not
// starting with '.', ending in one of `extensions` (e.g. ".glb"; any when empty).
absl::StatusOr<std::string> OutputName(const google::protobuf::Value& v, absl::string_view field,
                                       std::initializer_list<absl::string_view> extensions);
bool IsValidOutputName(absl::string_view name, std::initializer_list<absl::string_view> extensions);

}  // namespace kiln::fields

#endif  // KILN_COMMON_STRUCT_FIELDS_H_
