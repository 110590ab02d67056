#include "common/image_segment_params.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/scene_compose_params.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"

namespace kiln {

using fields::Find;
using fields::Invalid;
using google::protobuf::Struct;
using google::protobuf::Value;

namespace {

// `status` from a nested parser with its "parameters." made "parameters.<prefix>".
absl::Status Nested(const absl::Status& status, absl::string_view prefix) {
  std::string message(status.message());
  if (absl::StartsWith(message, "parameters.")) {
    message = absl::StrCat("parameters.", prefix, message.substr(sizeof("parameters.") - 1));
  }
  return absl::Status(status.code(), message);
}

absl::StatusOr<SegmentFanOutParams> ParseFanOut(const Value& value) {
  if (value.kind_case() != Value::kStructValue) return Invalid("fan_out", "must be an object");
  const Struct& fan_out = value.struct_value();
  KILN_RETURN_IF_ERROR(fields::CheckKeys(fan_out, "fan_out.", {"compose", "to3d"}));
  SegmentFanOutParams params;
  if (const Value* v = Find(fan_out, "to3d")) {
    if (v->kind_case() != Value::kStructValue) {
      return Invalid("fan_out.to3d", "must be an object");
    }
    params.to3d = v->struct_value();
  }
  if (Find(params.to3d, "input") != nullptr) {
    return Invalid("fan_out.to3d.input", "is set for each object (its crop); leave it out");
  }
  Struct to3d = params.to3d;
  (*to3d.mutable_fields())["input"].set_string_value("object-0.png");
  absl::StatusOr<ImageTo3dParams> checked = ParseImageTo3dParams(to3d);
  if (!checked.ok()) return Nested(checked.status(), "fan_out.to3d.");
  params.mesh_size = checked->size;

  Struct compose;
  if (const Value* v = Find(fan_out, "compose")) {
    if (v->kind_case() != Value::kStructValue) {
      return Invalid("fan_out.compose", "must be an object");
    }
    compose = v->struct_value();
  }
  KILN_RETURN_IF_ERROR(
      fields::CheckKeys(compose, "fan_out.compose.", {"output", "preview", "width"}));
  if (const Value* v = Find(compose, "width")) {
    KILN_ASSIGN_OR_RETURN(params.width,
                          fields::NumberIn(*v, "fan_out.compose.width", 0, kMaxSceneMagnitude));
    if (!(params.width > 0)) return Invalid("fan_out.compose.width", "must be > 0");
  }
  if (const Value* v = Find(compose, "output")) {
    KILN_ASSIGN_OR_RETURN(params.output,
                          fields::OutputName(*v, "fan_out.compose.output", {".glb"}));
  }
  if (const Value* v = Find(compose, "preview")) {
    // Checked as scene.compose will parse it.
    Struct scene;
    (*scene.mutable_fields())["preview"] = *v;
    Struct& object = *(*scene.mutable_fields())["objects"]
                          .mutable_list_value()
                          ->add_values()
                          ->mutable_struct_value();
    (*object.mutable_fields())["input"].set_string_value("object-0.glb");
    absl::StatusOr<SceneComposeParams> parsed = ParseSceneComposeParams(scene);
    if (!parsed.ok()) return Nested(parsed.status(), "fan_out.compose.");
    params.preview = *v;
  }
  return params;
}

}  // namespace

absl::StatusOr<ImageSegmentParams> ParseImageSegmentParams(const Struct& parameters) {
  KILN_RETURN_IF_ERROR(fields::CheckKeys(parameters, "",
                                         {"background", "cleanup", "fan_out", "input", "mask",
                                          "max_objects", "min_area", "padding", "tolerance"}));
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
  if (const Value* v = Find(parameters, "fan_out")) {
    KILN_ASSIGN_OR_RETURN(params.fan_out, ParseFanOut(*v));
    if (params.max_objects > kMaxSegmentFanOutObjects) {
      return Invalid("max_objects", absl::StrCat("must be at most ", kMaxSegmentFanOutObjects,
                                                 " with fan_out (one child per object)"));
    }
  }
  return params;
}

}  // namespace kiln
