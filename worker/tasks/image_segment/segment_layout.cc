#include "worker/tasks/image_segment/segment_layout.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_quote.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::tasks {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Larger than any image side or pixel count image.segment accepts, with room for padding.
constexpr double kMaxLayoutNumber = 1e12;

std::string BoxJson(const PixelBox& b) {
  return absl::StrFormat(R"({"x": %d, "y": %d, "width": %d, "height": %d})", b.x, b.y, b.width,
                         b.height);
}

// Reads fields of one JSON object, naming the file and the field's path in errors.
class Reader {
 public:
  Reader(std::string_view name, std::string path) : name_(name), path_(std::move(path)) {}

  absl::Status Error(std::string_view field, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(absl::string_view(name_.data(), name_.size()),
                                                   ": ", Path(field), ": ",
                                                   absl::string_view(what.data(), what.size())));
  }
  std::string Path(std::string_view field) const {
    const std::string f(field);
    return path_.empty() ? f : absl::StrCat(path_, ".", f);
  }
  absl::StatusOr<const Value*> Get(const Struct& s, std::string_view field) const {
    auto it = s.fields().find(std::string(field));
    if (it == s.fields().end()) return Error(field, "missing");
    return &it->second;
  }
  absl::StatusOr<const Struct*> Object(const Struct& s, std::string_view field) const {
    KILN_ASSIGN_OR_RETURN(const Value* v, Get(s, field));
    if (v->kind_case() != Value::kStructValue) return Error(field, "must be an object");
    return &v->struct_value();
  }
  absl::StatusOr<double> Number(const Value& v, std::string_view field) const {
    if (v.kind_case() != Value::kNumberValue || !std::isfinite(v.number_value()) ||
        std::abs(v.number_value()) > kMaxLayoutNumber) {
      return Error(field, "must be a finite number");
    }
    return v.number_value();
  }
  // An integer in [min, max].
  absl::StatusOr<int64_t> Integer(const Struct& s, std::string_view field, int64_t min,
                                  int64_t max) const {
    KILN_ASSIGN_OR_RETURN(const Value* v, Get(s, field));
    KILN_ASSIGN_OR_RETURN(const double d, Number(*v, field));
    if (d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
      return Error(field, absl::StrCat("must be an integer from ", min, " to ", max));
    }
    return static_cast<int64_t>(d);
  }
  absl::StatusOr<std::string> String(const Struct& s, std::string_view field) const {
    KILN_ASSIGN_OR_RETURN(const Value* v, Get(s, field));
    if (v->kind_case() != Value::kStringValue || v->string_value().empty()) {
      return Error(field, "must be a non-empty string");
    }
    return v->string_value();
  }
  absl::StatusOr<PixelBox> Box(const Struct& s, std::string_view field) const {
    KILN_ASSIGN_OR_RETURN(const Struct* box, Object(s, field));
    const Reader sub(name_, Path(field));
    constexpr int64_t kMax = 1 << 30;
    PixelBox b;
    KILN_ASSIGN_OR_RETURN(b.x, sub.Integer(*box, "x", -kMax, kMax));
    KILN_ASSIGN_OR_RETURN(b.y, sub.Integer(*box, "y", -kMax, kMax));
    KILN_ASSIGN_OR_RETURN(b.width, sub.Integer(*box, "width", 1, kMax));
    KILN_ASSIGN_OR_RETURN(b.height, sub.Integer(*box, "height", 1, kMax));
    return b;
  }

 private:
  std::string_view name_;
  std::string path_;
};

}  // namespace

std::string SegmentLayoutToJson(const SegmentLayout& layout) {
  std::string out = absl::StrFormat(
      "{\"format\": %s,\n \"image\": {\"width\": %d, \"height\": %d},\n \"objects\": [",
      JsonQuote(absl::string_view(kSegmentLayoutFormat.data(), kSegmentLayoutFormat.size())),
      layout.width, layout.height);
  for (size_t i = 0; i < layout.objects.size(); ++i) {
    const SegmentLayoutObject& o = layout.objects[i];
    absl::StrAppendFormat(&out,
                          "%s\n  {\"index\": %d, \"bbox\": %s, \"centroid\": [%.3f, %.3f], "
                          "\"area\": %d,\n   \"crop\": %s, \"crop_box\": %s, \"mask\": %s}",
                          i == 0 ? "" : ",", o.index, BoxJson(o.bbox), o.centroid[0], o.centroid[1],
                          o.area, JsonQuote(o.crop), BoxJson(o.crop_box), JsonQuote(o.mask));
  }
  out += "]}\n";
  return out;
}

absl::StatusOr<SegmentLayout> ParseSegmentLayout(std::string_view json, std::string_view name) {
  const Reader top(name, "");
  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::string_view(name.data(), name.size()),
        ": not a JSON object (image.segment's objects.json): ", std::string(parsed.message())));
  }
  KILN_ASSIGN_OR_RETURN(const std::string format, top.String(root, "format"));
  if (format != kSegmentLayoutFormat) {
    return top.Error("format", absl::StrCat("is \"", format, "\", expected \"",
                                            std::string(kSegmentLayoutFormat), "\""));
  }
  SegmentLayout layout;
  KILN_ASSIGN_OR_RETURN(const Struct* image, top.Object(root, "image"));
  const Reader image_reader(name, "image");
  KILN_ASSIGN_OR_RETURN(layout.width, image_reader.Integer(*image, "width", 1, 1 << 30));
  KILN_ASSIGN_OR_RETURN(layout.height, image_reader.Integer(*image, "height", 1, 1 << 30));
  KILN_ASSIGN_OR_RETURN(const Value* objects, top.Get(root, "objects"));
  if (objects->kind_case() != Value::kListValue) return top.Error("objects", "must be a list");
  for (int i = 0; i < objects->list_value().values_size(); ++i) {
    const std::string path = absl::StrCat("objects[", i, "]");
    const Value& v = objects->list_value().values(i);
    if (v.kind_case() != Value::kStructValue) return top.Error(path, "must be an object");
    const Struct& s = v.struct_value();
    const Reader r(name, path);
    SegmentLayoutObject& o = layout.objects.emplace_back();
    KILN_ASSIGN_OR_RETURN(o.index, r.Integer(s, "index", 0, 1 << 30));
    KILN_ASSIGN_OR_RETURN(o.bbox, r.Box(s, "bbox"));
    KILN_ASSIGN_OR_RETURN(o.crop_box, r.Box(s, "crop_box"));
    KILN_ASSIGN_OR_RETURN(o.area, r.Integer(s, "area", 1, int64_t{1} << 40));
    KILN_ASSIGN_OR_RETURN(o.crop, r.String(s, "crop"));
    KILN_ASSIGN_OR_RETURN(o.mask, r.String(s, "mask"));
    KILN_ASSIGN_OR_RETURN(const Value* centroid, r.Get(s, "centroid"));
    if (centroid->kind_case() != Value::kListValue || centroid->list_value().values_size() != 2) {
      return r.Error("centroid", "must be a list [x, y]");
    }
    for (int a = 0; a < 2; ++a) {
      KILN_ASSIGN_OR_RETURN(o.centroid[a], r.Number(centroid->list_value().values(a), "centroid"));
    }
  }
  return layout;
}

}  // namespace kiln::tasks
