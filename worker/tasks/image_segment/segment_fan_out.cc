#include "worker/tasks/image_segment/segment_fan_out.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/image_to3d_params.h"
#include "common/scene_compose_params.h"

namespace kiln::tasks {

using google::protobuf::Struct;
using google::protobuf::Value;

std::vector<kiln::v1::ExecChildSpec> SegmentFanOutChildren(const SegmentFanOutParams& params,
                                                           const SegmentLayout& layout,
                                                           const std::string& dir,
                                                           const std::string& layout_name) {
  std::vector<kiln::v1::ExecChildSpec> children;
  // The mesh each image.to3d child writes (its `output`, "mesh.glb" unless set).
  const auto output = params.to3d.fields().find("output");
  const std::string mesh = output != params.to3d.fields().end() ? output->second.string_value()
                                                                : std::string("mesh.glb");
  kiln::v1::ExecChildSpec compose;
  kiln::v1::JobSpec& compose_spec = *compose.mutable_spec();
  compose_spec.set_task(std::string(kSceneComposeTask));
  compose_spec.set_client_request_id("segment-compose");
  Struct& compose_params = *compose_spec.mutable_parameters();
  Struct& layout_params = *(*compose_params.mutable_fields())["layout"].mutable_struct_value();
  (*layout_params.mutable_fields())["input"].set_string_value(layout_name);
  (*layout_params.mutable_fields())["width"].set_number_value(params.width);
  (*layout_params.mutable_fields())["mesh_size"].set_number_value(params.mesh_size);
  (*compose_params.mutable_fields())["output"].set_string_value(params.output);
  if (params.preview.has_value()) (*compose_params.mutable_fields())["preview"] = *params.preview;
  google::protobuf::ListValue& objects =
      *(*compose_params.mutable_fields())["objects"].mutable_list_value();
  kiln::v1::LocalFile& layout_file = *compose.add_files();
  layout_file.set_name(layout_name);
  layout_file.set_path((std::filesystem::path(dir) / layout_name).string());

  for (size_t i = 0; i < layout.objects.size(); ++i) {
    const SegmentLayoutObject& object = layout.objects[i];
    const std::string name = absl::StrCat("object-", object.index);
    kiln::v1::ExecChildSpec& child = children.emplace_back();
    kiln::v1::JobSpec& spec = *child.mutable_spec();
    spec.set_task(std::string(kImageTo3dTask));
    spec.set_client_request_id(absl::StrCat("segment-to3d-", object.index));
    *spec.mutable_parameters() = params.to3d;
    (*spec.mutable_parameters()->mutable_fields())["input"].set_string_value(object.crop);
    kiln::v1::LocalFile& crop = *child.add_files();
    crop.set_name(object.crop);
    crop.set_path((std::filesystem::path(dir) / object.crop).string());

    kiln::v1::Dependency& dependency = *compose_spec.add_dependencies();
    dependency.set_batch_index(static_cast<int32_t>(i));
    dependency.set_input_prefix(name + ".");
    Struct& entry = *objects.add_values()->mutable_struct_value();
    (*entry.mutable_fields())["input"].set_string_value(absl::StrCat(name, ".", mesh));
    (*entry.mutable_fields())["name"].set_string_value(name);
    (*entry.mutable_fields())["segment"].set_number_value(static_cast<double>(i));
  }
  children.push_back(std::move(compose));
  return children;
}

}  // namespace kiln::tasks
