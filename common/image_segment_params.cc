#include "common/image_segment_params.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {

using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<ImageSegmentParams> ParseImageSegmentParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(fields::CheckKeys(parameters, "",
                                         {"background", "cleanup", "input", "mask", "max_objects",
                                          "min_area", "padding", "tolerance"}));
  ImageSegmentParams params;
  const Value* input = Find(parameters, "input");
  if (input == nullptr) {
    return Invalid("input", "required (the name of the job input holding the PNG)");
  }
  KILN_ASSIGN_OR_RETURN(params.input,
                        fields::String(*input, "input", fields::kMaxOutputNameLength));
  if (const Value* v = Find(parameters, "mask")) {
    KILN_ASSIGN_OR_RETURN(const std::string mask, fields::OneOf(*v, "mask", {"alpha", "key"}));
    params.mask = mask == "alpha" ? ImageMaskMode::kAlpha : ImageMaskMode::kKey;
  }
  const Value* background = Find(parameters, "background");
  const Value* tolerance = Find(parameters, "tolerance");
  if (params.mask == ImageMaskMode::kAlpha) {
    if (background != nullptr) return Invalid("background", "applies only to mask \"key\"");
    if (tolerance != nullptr) return Invalid("tolerance", "applies only to mask \"key\"");
  }
  if (background != nullptr) {
    KILN_ASSIGN_OR_RETURN(params.background, fields::RgbColor(*background, "background"));
    params.mask = ImageMaskMode::kKey;
  }
  if (tolerance != nullptr) {
    KILN_ASSIGN_OR_RETURN(params.tolerance, fields::NumberIn(*tolerance, "tolerance", 0, 1));
  }
  if (const Value* v = Find(parameters, "cleanup")) {
    KILN_ASSIGN_OR_RETURN(params.cleanup, fields::IntegerIn(*v, "cleanup", 0, kMaxSegmentCleanup));
  }
  if (const Value* v = Find(parameters, "min_area")) {
    KILN_ASSIGN_OR_RETURN(params.min_area,
                          fields::IntegerIn(*v, "min_area", 1, kMaxImageTo3dPixels));
  }
  if (const Value* v = Find(parameters, "max_objects")) {
    KILN_ASSIGN_OR_RETURN(params.max_objects,
                          fields::IntegerIn(*v, "max_objects", 1, kMaxSegmentObjects));
  }
  if (const Value* v = Find(parameters, "padding")) {
    KILN_ASSIGN_OR_RETURN(params.padding, fields::IntegerIn(*v, "padding", 0, kMaxSegmentPadding));
  }
  return params;
}

}  // namespace kiln
