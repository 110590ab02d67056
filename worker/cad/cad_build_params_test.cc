#include "common/cad_build_params.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/task_catalog.h"
#include "common/testing/json_struct.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;

using ::kiln::testing::JsonStruct;

absl::Status ParseError(const std::string& json) {
  return ParseCadBuildParams(JsonStruct(json)).status();
}

TEST(CadBuildParamsTest, ParsesATreeWithPlacementsAndDefaults) {
  absl::StatusOr<CadBuildParams> p = ParseCadBuildParams(JsonStruct(R"({"shape": {"fillet": {
      "radius": 0.5, "child": {"difference": {"children": [
        {"box": {"size": [20, 10, 5], "center": true}},
        {"cylinder": {"radius": 2, "height": 10}, "translate": [1, 2, 3],
         "rotate": {"axis": [1, 0, 0], "degrees": 90}}]}}}}})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->shape.kind, CadNodeKind::kFillet);
  ASSERT_EQ(p->shape.children.size(), 1u);
  const CadNode& diff = p->shape.children[0];
  EXPECT_EQ(diff.kind, CadNodeKind::kDifference);
  ASSERT_EQ(diff.children.size(), 2u);
  EXPECT_TRUE(diff.children[0].center);
  EXPECT_EQ(diff.children[0].size, (std::array<double, 3>{20, 10, 5}));
  const CadNode& cyl = diff.children[1];
  EXPECT_EQ(cyl.radius, 2);
  EXPECT_EQ(cyl.height, 10);
  ASSERT_TRUE(cyl.translate.has_value() && cyl.rotate.has_value());
  EXPECT_EQ(*cyl.translate, (std::array<double, 3>{1, 2, 3}));
  EXPECT_EQ(cyl.rotate->degrees, 90);
  EXPECT_EQ(p->step_output, "part.step");
  EXPECT_EQ(p->mesh_output, "part.glb");
  EXPECT_EQ(p->drawing_output, "drawing.dxf");
  EXPECT_EQ(p->projection, CadProjection::kThirdAngle);
  EXPECT_TRUE(p->hidden_lines);
  EXPECT_FALSE(p->linear_deflection.has_value());
}

TEST(CadBuildParamsTest, ParsesOptions) {
  absl::StatusOr<CadBuildParams> p =
      ParseCadBuildParams(JsonStruct(R"({"shape": {"sphere": {"radius": 1}},
      "tessellation": {"linear_deflection": 0.01, "angular_deflection": 0.2},
      "drawing": {"projection": "first-angle", "hidden": false},
      "outputs": {"step": "a.stp", "mesh": "a.ply", "drawing": "a.dxf"}})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->linear_deflection, 0.01);
  EXPECT_EQ(p->angular_deflection, 0.2);
  EXPECT_EQ(p->projection, CadProjection::kFirstAngle);
  EXPECT_FALSE(p->hidden_lines);
  EXPECT_EQ(p->step_output, "a.stp");
  EXPECT_EQ(p->mesh_output, "a.ply");
  EXPECT_FALSE(p->preview.has_value());
  absl::StatusOr<CadBuildParams> with_preview =
      ParseCadBuildParams(JsonStruct(R"({"shape": {"sphere": {"radius": 1}}, "preview": true})"));
  ASSERT_TRUE(with_preview.ok()) << with_preview.status();
  EXPECT_TRUE(with_preview->preview.has_value());
}

TEST(CadBuildParamsTest, ErrorsNameTheField) {
  struct Case {
    std::string json;
    std::string field;
  };
  const Case cases[] = {
      {R"({})", "parameters.shape: required"},
      {R"({"shape": {}})", "parameters.shape: needs one of"},
      {R"({"shape": 3})", "parameters.shape: must be an object"},
      {R"({"shape": {"cube": {}}})", "parameters.shape.cube: unknown field"},
      {R"({"shape": {"box": {"size": [1, 1, 1]}, "sphere": {"radius": 1}}})", "exactly one kind"},
      {R"({"shape": {"box": {"size": [1, 0, 1]}}})", "parameters.shape.box.size"},
      {R"({"shape": {"box": {"size": [1, 1]}}})", "parameters.shape.box.size"},
      {R"({"shape": {"box": {"size": [1, 1, 2e6]}}})", "parameters.shape.box.size"},
      {R"({"shape": {"sphere": {"radius": -1}}})", "parameters.shape.sphere.radius"},
      {R"({"shape": {"cylinder": {"radius": 1}}})", "parameters.shape.cylinder.height: required"},
      {R"({"shape": {"union": {"children": [{"sphere": {"radius": 1}}]}}})",
       "parameters.shape.union.children: must be a list of 2"},
      {R"({"shape": {"difference": {"children": [{"sphere": {"radius": 1}}, {"box": 1}]}}})",
       "parameters.shape.difference.children[1].box: must be an object"},
      {R"({"shape": {"fillet": {"radius": 1}}})", "parameters.shape.fillet.child: required"},
      {R"({"shape": {"sphere": {"radius": 1}, "rotate": {"axis": [0, 0, 0], "degrees": 5}}})",
       "parameters.shape.rotate.axis: must not be zero"},
      {R"({"shape": {"sphere": {"radius": 1}, "translate": [0, "x", 0]}})",
       "parameters.shape.translate"},
      {R"({"shape": {"sphere": {"radius": 1}}, "outputs": {"mesh": "x.obj"}})",
       "parameters.outputs.mesh"},
      {R"({"shape": {"sphere": {"radius": 1}}, "outputs": {"step": "../x.step"}})",
       "parameters.outputs.step"},
      {R"({"shape": {"sphere": {"radius": 1}}, "outputs": {"step": "a.step", "mesh": "a.ply",
          "drawing": "b.dxf"}, "drawing": {"projection": "second-angle"}})",
       "parameters.drawing.projection"},
      {R"({"shape": {"sphere": {"radius": 1}}, "tessellation": {"linear_deflection": 0}})",
       "parameters.tessellation.linear_deflection"},
      {R"({"shape": {"sphere": {"radius": 1}}, "colour": 1})", "parameters.colour: unknown field"},
      {R"({"shape": {"sphere": {"radius": 1}}, "preview": {"frames": 0}})",
       "parameters.preview.frames"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ParseError(c.json);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(status.message(), HasSubstr(c.field)) << c.json;
  }
}

TEST(CadBuildParamsTest, EnforcesDepthAndNodeLimits) {
  // Built as a Struct: protobuf's JSON parser refuses this nesting before we see it.
  google::protobuf::Struct deep = JsonStruct(R"({"sphere": {"radius": 1}})");
  for (int i = 0; i < kMaxCadDepth; ++i) {
    google::protobuf::Struct fillet = JsonStruct(R"({"fillet": {"radius": 0.1}})");
    (*(*fillet.mutable_fields())["fillet"].mutable_struct_value()->mutable_fields())["child"]
        .mutable_struct_value()
        ->Swap(&deep);
    deep.Swap(&fillet);
  }
  google::protobuf::Struct parameters;
  (*parameters.mutable_fields())["shape"].mutable_struct_value()->Swap(&deep);
  const absl::Status too_deep = ParseCadBuildParams(parameters).status();
  EXPECT_EQ(too_deep.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_deep.message(), HasSubstr("deeper than 16 levels"));

  // 5 unions of 64 spheres each: 1 + 5 * 65 > kMaxCadNodes.
  std::string spheres;
  for (int i = 0; i < kMaxCadChildren; ++i) {
    absl::StrAppend(&spheres, i ? "," : "", R"({"sphere": {"radius": 1}})");
  }
  const std::string one_union = absl::StrCat(R"({"union": {"children": [)", spheres, "]}}");
  std::string unions;
  for (int i = 0; i < 5; ++i) absl::StrAppend(&unions, i ? "," : "", one_union);
  const absl::Status too_many =
      ParseError(absl::StrCat(R"({"shape": {"union": {"children": [)", unions, "]}}}"));
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many.message(), HasSubstr("more than 256 nodes"));

  // Just inside both limits parses.
  std::string ok = R"({"sphere": {"radius": 1}})";
  for (int i = 1; i < kMaxCadDepth; ++i) {
    ok = absl::StrCat(R"({"fillet": {"radius": 0.1, "child": )", ok, "}}");
  }
  EXPECT_TRUE(ParseCadBuildParams(JsonStruct(absl::StrCat(R"({"shape": )", ok, "}"))).ok());
}

TEST(CadBuildParamsTest, CatalogKnowsTheTask) {
  EXPECT_TRUE(IsKnownTask(kCadBuildTask));
  EXPECT_TRUE(ValidateTaskParameters(kCadBuildTask,
                                     JsonStruct(R"({"shape": {"box": {"size": [1,2,3]}}})"),
                                     TaskLimits{})
                  .ok());
  EXPECT_THAT(ValidateTaskParameters(kCadBuildTask, JsonStruct("{}"), TaskLimits{}).message(),
              HasSubstr("parameters.shape"));
}

}  // namespace
}  // namespace kiln
