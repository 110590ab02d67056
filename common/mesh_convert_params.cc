#include "common/mesh_convert_params.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {
namespace {

using fields::CheckKeys;
using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

// Metres per unit.
double MetresPer(absl::string_view unit) {
  if (unit == "mm") return 0.001;
  if (unit == "cm") return 0.01;
  if (unit == "in") return 0.0254;
  if (unit == "ft") return 0.3048;
  return 1;  // "m"
}

// An object {"from": a, "to": b} with both values among `choices`.
absl::StatusOr<std::pair<std::string, std::string>> FromTo(
    const Value& v, absl::string_view field, std::initializer_list<absl::string_view> choices) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid(field, "must be an object {\"from\": ..., \"to\": ...}");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(CheckKeys(s, absl::StrCat(field, "."), {"from", "to"}));
  std::pair<std::string, std::string> result;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"from", &result.first},
                          std::pair<const char*, std::string*>{"to", &result.second}}) {
    const std::string name = absl::StrCat(field, ".", key);
    const Value* item = Find(s, key);
    if (item == nullptr) return Invalid(name, "required");
    KILN_ASSIGN_OR_RETURN(*out, fields::OneOf(*item, name, choices));
  }
  return result;
}

bool HasMeshExtension(absl::string_view name) {
  for (absl::string_view ext : {".obj", ".ply", ".stl", ".glb", ".step", ".stp"}) {
    if (absl::EndsWithIgnoreCase(name, ext)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<MeshConvertParams> ParseMeshConvertParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(CheckKeys(
      parameters, "",
      {"ascii", "input", "input_format", "output", "preview", "scale", "units", "up_axis"}));
  MeshConvertParams params;
  const Value* input = Find(parameters, "input");
  if (input == nullptr) return Invalid("input", "required (the name of one of the job's inputs)");
  KILN_ASSIGN_OR_RETURN(params.input,
                        fields::String(*input, "input", fields::kMaxOutputNameLength));
  if (const Value* v = Find(parameters, "input_format")) {
    KILN_ASSIGN_OR_RETURN(params.input_format,
                          fields::OneOf(*v, "input_format", {"obj", "ply", "stl", "glb", "step"}));
  }
  if (params.input_format.empty() && !HasMeshExtension(params.input)) {
    return Invalid("input_format",
                   absl::StrCat("required, since the input name \"", params.input,
                                "\" has no mesh extension (.obj .ply .stl .glb .step .stp)"));
  }
  const Value* output = Find(parameters, "output");
  if (output == nullptr) {
    return Invalid("output", "required (a file name whose extension picks the format)");
  }
  KILN_ASSIGN_OR_RETURN(
      params.output,
      fields::OutputName(*output, "output", {".obj", ".ply", ".stl", ".glb", ".step", ".stp"}));
  if (const Value* v = Find(parameters, "ascii")) {
    KILN_ASSIGN_OR_RETURN(params.ascii, fields::Bool(*v, "ascii"));
  }
  double scale = 1;
  if (const Value* v = Find(parameters, "scale")) {
    KILN_ASSIGN_OR_RETURN(scale, fields::NumberIn(*v, "scale", 0, kMaxMeshConvertScale));
    if (!(scale > 0)) return Invalid("scale", "must be > 0");
  }
  double unit_factor = 1;
  if (const Value* v = Find(parameters, "units")) {
    KILN_ASSIGN_OR_RETURN(const auto units, FromTo(*v, "units", {"mm", "cm", "m", "in", "ft"}));
    unit_factor = MetresPer(units.first) / MetresPer(units.second);
  }
  params.factor = scale * unit_factor;
  if (const Value* v = Find(parameters, "up_axis")) {
    KILN_ASSIGN_OR_RETURN(const auto axes, FromTo(*v, "up_axis", {"y", "z"}));
    params.up_from = axes.first == "z" ? UpAxis::kZ : UpAxis::kY;
    params.up_to = axes.second == "z" ? UpAxis::kZ : UpAxis::kY;
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
  }
  return params;
}

}  // namespace kiln
