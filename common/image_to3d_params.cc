#include "common/image_to3d_params.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {

using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status ParseImageForeground(const Struct& parameters, std::string& input_name,
                                  ImageMaskMode& mask_mode,
                                  std::optional<std::array<uint8_t, 3>>& background_color,
                                  double& key_tolerance) {
  const Value* input = Find(parameters, "input");
  if (input == nullptr) {
    return Invalid("input", "required (the name of the job input holding the PNG)");
  }
  KILN_ASSIGN_OR_RETURN(input_name, fields::String(*input, "input", fields::kMaxOutputNameLength));
  if (const Value* v = Find(parameters, "mask")) {
    KILN_ASSIGN_OR_RETURN(const std::string mask, fields::OneOf(*v, "mask", {"alpha", "key"}));
    mask_mode = mask == "alpha" ? ImageMaskMode::kAlpha : ImageMaskMode::kKey;
  }
  const Value* background = Find(parameters, "background");
  const Value* tolerance = Find(parameters, "tolerance");
  if (mask_mode == ImageMaskMode::kAlpha) {
    if (background != nullptr) return Invalid("background", "applies only to mask \"key\"");
    if (tolerance != nullptr) return Invalid("tolerance", "applies only to mask \"key\"");
  }
  if (background != nullptr) {
    KILN_ASSIGN_OR_RETURN(background_color, fields::RgbColor(*background, "background"));
    mask_mode = ImageMaskMode::kKey;
  }
  if (tolerance != nullptr) {
    KILN_ASSIGN_OR_RETURN(key_tolerance, fields::NumberIn(*tolerance, "tolerance", 0, 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageTo3dParams> ParseImageTo3dParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(
      fields::CheckKeys(parameters, "",
                        {"background", "components", "depth", "input", "mask", "output", "preview",
                         "resolution", "size", "smoothing", "tolerance"}));
  ImageTo3dParams params;
  KILN_RETURN_IF_ERROR(ParseImageForeground(parameters, params.input, params.mask,
                                            params.background, params.tolerance));
  if (const Value* v = Find(parameters, "depth")) {
    KILN_ASSIGN_OR_RETURN(params.depth, fields::NumberIn(*v, "depth", 0.05, 4));
  }
  if (const Value* v = Find(parameters, "resolution")) {
    KILN_ASSIGN_OR_RETURN(params.resolution,
                          fields::IntegerIn(*v, "resolution", 8, kMaxImageTo3dResolution));
  }
  if (const Value* v = Find(parameters, "smoothing")) {
    KILN_ASSIGN_OR_RETURN(params.smoothing, fields::IntegerIn(*v, "smoothing", 0, 100));
  }
  if (const Value* v = Find(parameters, "components")) {
    KILN_ASSIGN_OR_RETURN(params.components,
                          fields::IntegerIn(*v, "components", 1, kMaxImageTo3dComponents));
  }
  if (const Value* v = Find(parameters, "size")) {
    KILN_ASSIGN_OR_RETURN(params.size, fields::NumberIn(*v, "size", 0, 1e6));
    if (!(params.size > 0)) return Invalid("size", "must be > 0");
  }
  if (const Value* v = Find(parameters, "output")) {
    KILN_ASSIGN_OR_RETURN(params.output, fields::OutputName(*v, "output", {".glb"}));
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
  }
  return params;
}

}  // namespace kiln
