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
  KILN_RETURN_IF_ERROR(ParseImageForeground(parameters, params.input, params.mask,
                                            params.background, params.tolerance));
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
