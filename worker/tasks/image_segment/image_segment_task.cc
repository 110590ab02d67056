#include "worker/tasks/image_segment/image_segment_task.h"

#include <filesystem>
#include <memory>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/image/png.h"
#include "worker/tasks/image_segment/segment_fan_out.h"
#include "worker/tasks/image_segment/segment_layout.h"
#include "worker/tasks/image_segment/segmentation.h"
#include "worker/tasks/input_png.h"
#include "worker/tasks/job_inputs.h"
#include "worker/tasks/mesh_summary.h"
#include "worker/tasks/meshio/mesh_file.h"
#include "worker/tasks/task_outputs.h"

namespace kiln::tasks {
namespace {

constexpr char kLayoutFile[] = "objects.json";

}  // namespace

absl::StatusOr<TaskOutput> ImageSegmentTask::Run(const TaskContext& context) const {
  const absl::Time start = absl::Now();
  if (context.request == nullptr) return absl::InvalidArgumentError("no request");
  const kiln::v1::RunTaskRequest& request = *context.request;
  auto report = [&](double fraction, std::string_view message) {
    if (context.report_progress) context.report_progress(fraction, message);
  };
  KILN_ASSIGN_OR_RETURN(const ImageSegmentParams params,
                        ParseImageSegmentParams(request.parameters()));
  if (request.output_dir().empty()) {
    return absl::FailedPreconditionError("the request has no output_dir");
  }
  KILN_ASSIGN_OR_RETURN(const std::string input_path,
                        FindJobInputPath(request, params.input, "input"));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path dir, AbsoluteOutputDir(request));

  report(0, absl::StrCat("reading ", params.input));
  TaskOutput output;
  SegmentLayout layout;
  try {
    KILN_ASSIGN_OR_RETURN(const image::Image source, ReadInputPng(input_path, params.input));
    report(0.2, "segmenting");
    absl::StatusOr<Segmentation> segmentation = SegmentImage(source, params);
    if (!segmentation.ok()) {
      return absl::Status(
          segmentation.status().code(),
          absl::StrCat("input \"", params.input, "\": ", segmentation.status().message()));
    }
    layout.width = segmentation->width;
    layout.height = segmentation->height;
    const int count = static_cast<int>(segmentation->objects.size());
    for (int i = 0; i < count; ++i) {
      report(0.3 + 0.6 * i / count, absl::StrCat("writing object ", i));
      const SegmentedObject& object = segmentation->objects[i];
      SegmentLayoutObject& entry = layout.objects.emplace_back();
      entry.index = i;
      entry.bbox = object.bbox;
      entry.centroid = object.centroid;
      entry.area = object.area;
      entry.crop = absl::StrCat("object-", i, ".png");
      entry.crop_box = CropBox(*segmentation, i, params.padding);
      entry.mask = absl::StrCat("mask-", i, ".png");
      for (const auto& [name, picture] :
           {std::pair{entry.crop, CropObject(source, *segmentation, i, params.padding)},
            std::pair{entry.mask, ObjectMask(*segmentation, i)}}) {
        const std::string path = (dir / name).string();
        KILN_RETURN_IF_ERROR(image::WritePng(picture, path));
        AddOutputFile(name, path, &output);
      }
    }
    auto& fields = *output.summary.mutable_fields();
    fields["objects"].set_number_value(count);
    fields["components"].set_number_value(segmentation->components);
    fields["dropped_small"].set_number_value(segmentation->dropped_small);
    fields["dropped_over_limit"].set_number_value(segmentation->dropped_over_limit);
    fields["foreground_pixels"].set_number_value(
        static_cast<double>(segmentation->foreground_pixels));
    fields["image_size"] =
        NumberList(std::array<int, 2>{segmentation->width, segmentation->height});
    const bool key = segmentation->mask_mode == ImageMaskMode::kKey;
    fields["mask"].set_string_value(key ? "key" : "alpha");
    if (key) fields["background"] = NumberList(segmentation->background);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while segmenting the image");
  }

  const std::string layout_path = (dir / kLayoutFile).string();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                        AtomicFileWriter::Create(layout_path));
  KILN_RETURN_IF_ERROR(writer->Append(SegmentLayoutToJson(layout)));
  KILN_RETURN_IF_ERROR(writer->Commit());
  AddOutputFile(kLayoutFile, layout_path, &output);

  if (params.fan_out.has_value()) {
    // The rest of the pipeline as children: the worker uploads the crops and objects.json
    // (the parent's outputs are not stored until it ends) and submits them.
    const std::vector<kiln::v1::ExecChildSpec> children =
        SegmentFanOutChildren(*params.fan_out, layout, dir.string(), kLayoutFile);
    report(0.95, absl::StrCat("submitting ", children.size(), " child jobs"));
    absl::StatusOr<std::vector<std::string>> ids =
        context.SubmitChildren(kSegmentFanOutCallId, children);
    if (!ids.ok()) {
      return absl::Status(ids.status().code(), absl::StrCat("fan_out: ", ids.status().message()));
    }
    auto& fields = *output.summary.mutable_fields();
    google::protobuf::ListValue& list = *fields["children"].mutable_list_value();
    for (const std::string& id : *ids) list.add_values()->set_string_value(id);
    fields["scene_job"].set_string_value(ids->back());
  }
  (*output.summary.mutable_fields())["seconds"].set_number_value(
      absl::ToDoubleSeconds(absl::Now() - start));
  report(1.0, absl::StrCat(layout.objects.size(), " objects"));
  return output;
}

}  // namespace kiln::tasks
