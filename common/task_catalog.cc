#include "common/task_catalog.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cad_build_params.h"
#include "common/image_segment_params.h"
#include "common/image_to3d_params.h"
#include "common/mesh_convert_params.h"
#include "common/render_preview_params.h"
#include "common/scene_compose_params.h"
#include "common/status_macros.h"
#include "common/struct_fields.h"
#include "google/protobuf/util/json_util.h"

namespace kiln {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kMaxFailMessageLength = 4096;
using fields::CheckKeys;
using fields::Find;
using fields::FiniteNumber;
using fields::Invalid;
using fields::kMaxOutputNameLength;

absl::StatusOr<Vec3> Point(const Value& v, absl::string_view field) {
  return fields::Vector3(v, field, kSdfMaxMagnitude);
}

bool IsValidOutputName(absl::string_view name) { return fields::IsValidOutputName(name, {".ply"}); }

absl::StatusOr<Aabb> ParseBounds(const Value& v) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid("bounds", "must be an object {\"min\":[x,y,z], \"max\":[x,y,z]}");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(CheckKeys(s, "bounds.", {"max", "min"}));
  Aabb box;
  for (const auto& [key, point] : {std::pair<const char*, Vec3*>{"min", &box.min},
                                   std::pair<const char*, Vec3*>{"max", &box.max}}) {
    const Value* p = Find(s, key);
    if (p == nullptr) return Invalid(absl::StrCat("bounds.", key), "required");
    KILN_ASSIGN_OR_RETURN(*point, Point(*p, absl::StrCat("bounds.", key)));
  }
  for (int a = 0; a < 3; ++a) {
    if (!(box.min[a] < box.max[a])) {
      return Invalid("bounds", "min must be < max on every axis");
    }
  }
  return box;
}

// The shape's box padded by 5% of its extent (and by iso when the level set grows),
// then by 2 cells, where the cell is chosen so that the longest axis has exactly
// `resolution` cells.
Aabb DefaultBounds(const Aabb& shape, int resolution, double iso) {
  Aabb box;
  double longest = 0;
  for (int a = 0; a < 3; ++a) {
    const double pad = 0.05 * (shape.max[a] - shape.min[a]) + std::max(iso, 0.0);
    box.min[a] = shape.min[a] - pad;
    box.max[a] = shape.max[a] + pad;
    longest = std::max(longest, box.max[a] - box.min[a]);
  }
  const double cell = longest / (resolution - 4);
  for (int a = 0; a < 3; ++a) {
    box.min[a] -= 2 * cell;
    box.max[a] += 2 * cell;
  }
  return box;
}

// Positive finite spacing: one number for all axes or a list of 3.
absl::StatusOr<Vec3> ParseSpacing(const Value& v, absl::string_view field) {
  Vec3 spacing;
  if (v.kind_case() == Value::kNumberValue) {
    KILN_ASSIGN_OR_RETURN(const double d, FiniteNumber(v, field));
    spacing = {d, d, d};
  } else if (v.kind_case() == Value::kListValue && v.list_value().values_size() == 3) {
    KILN_ASSIGN_OR_RETURN(spacing, Point(v, field));
  } else {
    return Invalid(field, "must be a positive number or a list of 3 positive numbers");
  }
  for (double d : spacing) {
    if (!(d > 0) || d > kSdfMaxMagnitude) {
      return Invalid(field, absl::StrCat("must be > 0 and <= ", kSdfMaxMagnitude));
    }
  }
  return spacing;
}

absl::StatusOr<MeshExtractVolume> ParseVolume(const Value& v, const TaskLimits& limits) {
  if (v.kind_case() != Value::kStructValue) {
    return Invalid("volume", R"(must be an object {"input": name, "format": "npy" | "raw", ...})");
  }
  const Struct& s = v.struct_value();
  KILN_RETURN_IF_ERROR(CheckKeys(s, "volume.", {"dims", "format", "input", "origin", "spacing"}));
  MeshExtractVolume volume;
  const Value* input = Find(s, "input");
  if (input == nullptr)
    return Invalid("volume.input", "required (the name of one of the job's inputs)");
  if (input->kind_case() != Value::kStringValue || input->string_value().empty() ||
      input->string_value().size() > kMaxOutputNameLength) {
    return Invalid("volume.input",
                   absl::StrCat("must be an input name of 1 to ", kMaxOutputNameLength, " bytes"));
  }
  volume.input = input->string_value();
  const Value* format = Find(s, "format");
  if (format == nullptr) return Invalid("volume.format", R"(required ("npy" or "raw"))");
  const std::string name = format->kind_case() == Value::kStringValue ? format->string_value() : "";
  if (name == "npy") {
    volume.format = VolumeFormat::kNpy;
  } else if (name == "raw") {
    volume.format = VolumeFormat::kRaw;
  } else {
    return Invalid("volume.format", R"(must be "npy" or "raw")");
  }
  // Samples per axis = cells + 1, so the cap matches the resolution cap on cells.
  const int max_samples = MaxVolumeSamplesPerAxis(limits);
  if (const Value* d = Find(s, "dims")) {
    if (d->kind_case() != Value::kListValue || d->list_value().values_size() != 3) {
      return Invalid("volume.dims", "must be a list of 3 integers [sx, sy, sz]");
    }
    std::array<int, 3> dims;
    for (int i = 0; i < 3; ++i) {
      const Value& item = d->list_value().values(i);
      const double n = item.number_value();
      if (item.kind_case() != Value::kNumberValue || n != std::floor(n) || n < 2 ||
          n > max_samples) {
        return Invalid(absl::StrCat("volume.dims[", i, "]"),
                       absl::StrCat("must be an integer from 2 to ", max_samples));
      }
      dims[i] = static_cast<int>(n);
    }
    volume.dims = dims;
  } else if (volume.format == VolumeFormat::kRaw) {
    return Invalid("volume.dims", "required for a raw volume ([sx, sy, sz] samples per axis)");
  }
  if (const Value* o = Find(s, "origin")) {
    KILN_ASSIGN_OR_RETURN(volume.origin, Point(*o, "volume.origin"));
  }
  if (const Value* sp = Find(s, "spacing")) {
    KILN_ASSIGN_OR_RETURN(volume.spacing, ParseSpacing(*sp, "volume.spacing"));
  }
  return volume;
}

}  // namespace

int MaxVolumeSamplesPerAxis(const TaskLimits& limits) {
  return std::max(limits.max_mesh_resolution, kMinMeshResolution) + 1;
}

namespace {

// One row per task kind: its name and its parameter check. A new task adds its row here
// and its parser in a file of its own (e.g. common/<task>_params.h).
struct CatalogEntry {
  std::string_view kind;
  absl::Status (*validate)(const Struct& parameters, const TaskLimits& limits);
};

const std::vector<CatalogEntry>& Catalog() {
  static const auto* catalog = new std::vector<CatalogEntry>{
      {kMeshExtractTask,
       [](const Struct& p, const TaskLimits& l) { return ParseMeshExtractParams(p, l).status(); }},
      {kDebugSleepTask,
       [](const Struct& p, const TaskLimits& l) { return ParseDebugSleepParams(p, l).status(); }},
      {kModelRunTask, [](const Struct& p, const TaskLimits&) { return ValidateModelRunParams(p); }},
      {kFieldDecodeTask,
       [](const Struct& p, const TaskLimits& l) { return ParseFieldDecodeParams(p, l).status(); }},
      {kMeshConvertTask,
       [](const Struct& p, const TaskLimits&) { return ParseMeshConvertParams(p).status(); }},
      {kImageTo3dTask,
       [](const Struct& p, const TaskLimits&) { return ParseImageTo3dParams(p).status(); }},
      {kImageSegmentTask,
       [](const Struct& p, const TaskLimits&) { return ParseImageSegmentParams(p).status(); }},
      {kSceneComposeTask,
       [](const Struct& p, const TaskLimits&) { return ParseSceneComposeParams(p).status(); }},
      {kCadBuildTask,
       [](const Struct& p, const TaskLimits&) { return ParseCadBuildParams(p).status(); }},
      {kRenderPreviewTask,
       [](const Struct& p, const TaskLimits&) { return ParseRenderPreviewParams(p).status(); }},
  };
  return *catalog;
}

const CatalogEntry* FindEntry(std::string_view task) {
  for (const CatalogEntry& e : Catalog()) {
    if (e.kind == task) return &e;
  }
  return nullptr;
}

}  // namespace

bool IsKnownTask(std::string_view task) { return FindEntry(task) != nullptr; }

std::vector<std::string> KnownTasks() {
  std::vector<std::string> tasks;
  for (const CatalogEntry& e : Catalog()) tasks.emplace_back(e.kind);
  std::sort(tasks.begin(), tasks.end());
  return tasks;
}

absl::Status ValidateTaskParameters(std::string_view task, const Struct& parameters,
                                    const TaskLimits& limits) {
  if (const CatalogEntry* e = FindEntry(task)) return e->validate(parameters, limits);
  return absl::InvalidArgumentError(
      absl::StrCat("task: unknown task kind \"", absl::string_view(task.data(), task.size()),
                   "\" (known: ", absl::StrJoin(KnownTasks(), ", "), ")"));
}

absl::StatusOr<MeshExtractParams> ParseMeshExtractParams(const Struct& parameters,
                                                         const TaskLimits& limits) {
  KILN_RETURN_IF_ERROR(CheckKeys(
      parameters, "",
      {"bounds", "iso", "normals", "output", "preview", "resolution", "shape", "volume"}));
  const Value* shape = Find(parameters, "shape");
  const Value* volume = Find(parameters, "volume");
  MeshExtractParams params;
  if (shape != nullptr && volume != nullptr) {
    return Invalid("volume", "give either shape or volume, not both");
  }
  if (shape == nullptr && volume == nullptr) {
    return Invalid("shape", "required (or parameters.volume)");
  }
  if (volume != nullptr) {
    // The volume's samples fix the grid.
    for (absl::string_view field : {"bounds", "resolution"}) {
      if (Find(parameters, field) != nullptr) {
        return Invalid(field,
                       "does not apply to a volume (its dims, origin and spacing fix the grid)");
      }
    }
    KILN_ASSIGN_OR_RETURN(params.volume, ParseVolume(*volume, limits));
  } else {
    KILN_ASSIGN_OR_RETURN(params.shape, SdfScene::Parse(*shape, "parameters.shape"));
  }

  if (const Value* v = Find(parameters, "resolution")) {
    const int max = std::max(limits.max_mesh_resolution, kMinMeshResolution);
    const double r = v->number_value();
    if (v->kind_case() != Value::kNumberValue || r != std::floor(r) || r < kMinMeshResolution ||
        r > max) {
      return Invalid("resolution",
                     absl::StrCat("must be an integer from ", kMinMeshResolution, " to ", max));
    }
    params.resolution = static_cast<int>(r);
  }
  if (const Value* v = Find(parameters, "iso")) {
    KILN_ASSIGN_OR_RETURN(params.iso, FiniteNumber(*v, "iso"));
    if (std::abs(params.iso) > kSdfMaxMagnitude) {
      return Invalid("iso", absl::StrCat("magnitude must be <= ", kSdfMaxMagnitude));
    }
  }
  if (const Value* v = Find(parameters, "output")) {
    if (v->kind_case() != Value::kStringValue || !IsValidOutputName(v->string_value())) {
      return Invalid("output", absl::StrCat("must be 1 to ", kMaxOutputNameLength,
                                            " characters of [A-Za-z0-9._-] ending in \".ply\""));
    }
    params.output = v->string_value();
  }
  if (const Value* v = Find(parameters, "normals")) {
    if (v->kind_case() != Value::kBoolValue) return Invalid("normals", "must be a bool");
    params.normals = v->bool_value();
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
  }
  if (const Value* v = Find(parameters, "bounds")) {
    KILN_ASSIGN_OR_RETURN(params.bounds, ParseBounds(*v));
  } else if (params.shape.has_value()) {
    params.bounds = DefaultBounds(params.shape->bounds(), params.resolution, params.iso);
  }
  return params;
}

absl::StatusOr<DebugSleepParams> ParseDebugSleepParams(const Struct& parameters,
                                                       const TaskLimits& limits) {
  KILN_RETURN_IF_ERROR(CheckKeys(parameters, "", {"children", "fail_message", "print", "seconds"}));
  DebugSleepParams params;
  const Value* seconds = Find(parameters, "seconds");
  if (seconds == nullptr) return Invalid("seconds", "required");
  if (seconds->kind_case() != Value::kNumberValue || !(seconds->number_value() >= 0) ||
      !(seconds->number_value() <= limits.max_sleep_seconds)) {
    return Invalid("seconds",
                   absl::StrCat("must be a number from 0 to ", limits.max_sleep_seconds));
  }
  params.seconds = seconds->number_value();
  if (const Value* v = Find(parameters, "fail_message")) {
    if (v->kind_case() != Value::kStringValue || v->string_value().empty() ||
        v->string_value().size() > kMaxFailMessageLength) {
      return Invalid("fail_message", absl::StrCat("must be a non-empty string of at most ",
                                                  kMaxFailMessageLength, " bytes"));
    }
    params.fail_message = v->string_value();
  }
  if (const Value* v = Find(parameters, "print")) {
    const double lines = v->kind_case() == Value::kNumberValue ? v->number_value() : -1;
    if (!(lines >= 0 && lines <= kMaxDebugSleepLines) || lines != static_cast<int>(lines)) {
      return Invalid("print",
                     absl::StrCat("must be a whole number from 0 to ", kMaxDebugSleepLines));
    }
    params.print = static_cast<int>(lines);
  }
  if (const Value* v = Find(parameters, "children")) {
    const double count = v->kind_case() == Value::kNumberValue ? v->number_value() : -1;
    if (!(count >= 0 && count <= kMaxDebugSleepChildren) || count != static_cast<int>(count)) {
      return Invalid("children",
                     absl::StrCat("must be a whole number from 0 to ", kMaxDebugSleepChildren));
    }
    params.children = static_cast<int>(count);
  }
  return params;
}

absl::Status ValidateModelRunParams(const Struct& parameters) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(parameters, &json).ok()) {
    return absl::InvalidArgumentError("parameters: cannot be written as JSON");
  }
  if (json.size() > kMaxModelRunParametersBytes) {
    return absl::InvalidArgumentError(absl::StrCat("parameters: ", json.size(),
                                                   " bytes of JSON, more than the ",
                                                   kMaxModelRunParametersBytes, " allowed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<FieldDecodeParams> ParseFieldDecodeParams(const Struct& parameters,
                                                         const TaskLimits& limits) {
  KILN_RETURN_IF_ERROR(CheckKeys(
      parameters, "",
      {"batch_size", "bounds", "dtype", "iso", "normals", "output", "preview", "resolution"}));
  FieldDecodeParams params;
  const auto integer = [](const Value& v, double min, double max) {
    return v.kind_case() == Value::kNumberValue &&
           v.number_value() == std::floor(v.number_value()) && v.number_value() >= min &&
           v.number_value() <= max;
  };
  if (const Value* v = Find(parameters, "resolution")) {
    const int max = std::max(limits.max_mesh_resolution, kMinMeshResolution);
    if (!integer(*v, kMinMeshResolution, max)) {
      return Invalid("resolution",
                     absl::StrCat("must be an integer from ", kMinMeshResolution, " to ", max));
    }
    params.resolution = static_cast<int>(v->number_value());
  }
  if (const Value* v = Find(parameters, "bounds")) {
    KILN_ASSIGN_OR_RETURN(params.bounds, ParseBounds(*v));
  }
  if (const Value* v = Find(parameters, "batch_size")) {
    if (!integer(*v, 1, static_cast<double>(kMaxFieldDecodeBatchSize))) {
      return Invalid("batch_size",
                     absl::StrCat("must be an integer from 1 to ", kMaxFieldDecodeBatchSize));
    }
    params.batch_size = static_cast<int64_t>(v->number_value());
  }
  if (const Value* v = Find(parameters, "dtype")) {
    const std::string dtype = v->kind_case() == Value::kStringValue ? v->string_value() : "";
    if (dtype != "bfloat16" && dtype != "float16" && dtype != "float32") {
      return Invalid("dtype", "must be \"bfloat16\", \"float16\" or \"float32\"");
    }
    params.dtype = dtype;
  }
  if (const Value* v = Find(parameters, "output")) {
    const std::string output = v->kind_case() == Value::kStringValue ? v->string_value() : "";
    if (output == "mesh") {
      params.output = FieldDecodeOutput::kMesh;
    } else if (output == "volume") {
      params.output = FieldDecodeOutput::kVolume;
    } else {
      return Invalid("output", "must be \"mesh\" or \"volume\"");
    }
  }
  if (const Value* v = Find(parameters, "iso")) {
    KILN_ASSIGN_OR_RETURN(params.iso, FiniteNumber(*v, "iso"));
  }
  if (const Value* v = Find(parameters, "normals")) {
    if (v->kind_case() != Value::kBoolValue) return Invalid("normals", "must be a bool");
    params.normals = v->bool_value();
  }
  if (const Value* v = Find(parameters, "preview")) {
    KILN_ASSIGN_OR_RETURN(params.preview, ParsePreviewParams(*v, "preview"));
    if (params.preview.has_value() && params.output != FieldDecodeOutput::kMesh) {
      return Invalid("preview", "applies to output \"mesh\" only");
    }
  }
  return params;
}

}  // namespace kiln
