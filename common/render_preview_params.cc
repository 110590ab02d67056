#include "common/render_preview_params.h"

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

// The view fields shared by "preview" objects and render.preview; `prefix` is "" or
// "preview.".
absl::Status ParseViewFields(const Struct& s, const std::string& prefix, PreviewParams* out) {
  if (const Value* v = Find(s, "frames")) {
    KILN_ASSIGN_OR_RETURN(
        const int64_t frames,
        fields::IntegerIn(*v, prefix + "frames", kMinPreviewFrames, kMaxPreviewFrames));
    out->frames = static_cast<int>(frames);
  }
  if (const Value* v = Find(s, "size")) {
    const std::string field = prefix + "size";
    if (v->kind_case() != Value::kListValue || v->list_value().values_size() != 2) {
      return Invalid(field, "must be [width, height]");
    }
    for (int i = 0; i < 2; ++i) {
      KILN_ASSIGN_OR_RETURN(
          const int64_t side,
          fields::IntegerIn(v->list_value().values(i), field, kMinPreviewSide, kMaxPreviewSide));
      out->size[i] = static_cast<int>(side);
    }
  }
  if (const Value* v = Find(s, "background")) {
    const std::string field = prefix + "background";
    if (v->kind_case() != Value::kListValue || v->list_value().values_size() != 4) {
      return Invalid(field, "must be [r, g, b, a], each 0..255");
    }
    for (int i = 0; i < 4; ++i) {
      KILN_ASSIGN_OR_RETURN(const int64_t c,
                            fields::IntegerIn(v->list_value().values(i), field, 0, 255));
      out->background[i] = static_cast<uint8_t>(c);
    }
  }
  if (const Value* v = Find(s, "elevation")) {
    KILN_ASSIGN_OR_RETURN(out->elevation_degrees,
                          fields::NumberIn(*v, prefix + "elevation", -89, 89));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<PreviewParams>> ParsePreviewParams(const Value& value,
                                                                absl::string_view field) {
  if (value.kind_case() == Value::kBoolValue) {
    if (!value.bool_value()) return std::optional<PreviewParams>();
    return std::optional<PreviewParams>(PreviewParams{});
  }
  if (value.kind_case() != Value::kStructValue) {
    return Invalid(field,
                   "must be true, false or {\"frames\", \"size\", \"background\", \"elevation\"}");
  }
  const std::string prefix = absl::StrCat(field, ".");
  KILN_RETURN_IF_ERROR(
      CheckKeys(value.struct_value(), prefix, {"background", "elevation", "frames", "size"}));
  PreviewParams params;
  KILN_RETURN_IF_ERROR(ParseViewFields(value.struct_value(), prefix, &params));
  return std::optional<PreviewParams>(params);
}

absl::StatusOr<RenderPreviewParams> ParseRenderPreviewParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(CheckKeys(
      parameters, "", {"background", "elevation", "frames", "input", "input_format", "size"}));
  RenderPreviewParams params;
  const Value* input = Find(parameters, "input");
  if (input == nullptr) return Invalid("input", "required (the name of one of the job's inputs)");
  KILN_ASSIGN_OR_RETURN(params.input,
                        fields::String(*input, "input", fields::kMaxOutputNameLength));
  if (const Value* v = Find(parameters, "input_format")) {
    KILN_ASSIGN_OR_RETURN(params.input_format,
                          fields::OneOf(*v, "input_format", {"obj", "ply", "stl", "glb"}));
  }
  KILN_RETURN_IF_ERROR(ParseViewFields(parameters, "", &params.view));
  return params;
}

}  // namespace kiln
