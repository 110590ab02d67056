#include "common/task_catalog.h"

#include <string>

#include "common/testing/json_struct.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

using ::kiln::testing::JsonStruct;

constexpr char kSphere[] = R"("shape":{"type":"sphere","radius":1})";

std::string MeshError(const std::string& fields, TaskLimits limits = {}) {
  const absl::Status status =
      ValidateTaskParameters("mesh.extract", JsonStruct("{" + fields + "}"), limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << fields;
  return std::string(status.message());
}

std::string SleepError(const std::string& json, TaskLimits limits = {}) {
  const absl::Status status = ValidateTaskParameters("debug.sleep", JsonStruct(json), limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(status.message());
}

TEST(TaskCatalogTest, KnownTasks) {
  EXPECT_THAT(KnownTasks(), ElementsAre("cad.build", "debug.sleep", "field.decode", "image.segment",
                                        "image.to3d", "mesh.convert", "mesh.extract", "model.run",
                                        "render.preview", "scene.compose"));
  EXPECT_TRUE(IsKnownTask("mesh.extract"));
  EXPECT_TRUE(IsKnownTask("debug.sleep"));
  EXPECT_FALSE(IsKnownTask("mesh"));
  EXPECT_FALSE(IsKnownTask(""));
}

TEST(TaskCatalogTest, UnknownTask) {
  const absl::Status status = ValidateTaskParameters("mesh.render", JsonStruct("{}"), {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "task: unknown task kind \"mesh.render\" (known: cad.build, debug.sleep, field.decode, "
            "image.segment, image.to3d, mesh.convert, mesh.extract, model.run, render.preview, "
            "scene.compose)");
}

TEST(TaskCatalogTest, MeshExtractDefaults) {
  auto params = ParseMeshExtractParams(JsonStruct(std::string("{") + kSphere + "}"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->resolution, 64);
  EXPECT_EQ(params->iso, 0);
  EXPECT_EQ(params->output, "mesh.ply");
  EXPECT_TRUE(params->normals);
  ASSERT_TRUE(params->shape.has_value());
  EXPECT_EQ(params->shape->node_count(), 1);
  EXPECT_FALSE(params->volume.has_value());
  // The unit sphere's box [-1,1]^3 padded by 5% (0.1) is 2.2 wide; 2 cells of
  // 2.2 / 60 on each side make exactly 64 cells of that size.
  const double cell = 2.2 / 60;
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(params->bounds.min[a], -1.1 - 2 * cell, 1e-12);
    EXPECT_NEAR(params->bounds.max[a], 1.1 + 2 * cell, 1e-12);
  }
  EXPECT_NEAR((params->bounds.max[0] - params->bounds.min[0]) / params->resolution, cell, 1e-12);
}

TEST(TaskCatalogTest, MeshExtractExplicitValues) {
  auto params = ParseMeshExtractParams(
      JsonStruct(std::string("{") + kSphere +
                 R"(,"resolution":128,"iso":0.25,"output":"out_1.v2-final.ply","normals":false,
                 "bounds":{"min":[-2,-2,-1],"max":[2,2,1]}})"),
      {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->resolution, 128);
  EXPECT_EQ(params->iso, 0.25);
  EXPECT_EQ(params->output, "out_1.v2-final.ply");
  EXPECT_FALSE(params->normals);
  EXPECT_EQ(params->bounds.min, (Vec3{-2, -2, -1}));
  EXPECT_EQ(params->bounds.max, (Vec3{2, 2, 1}));
}

TEST(TaskCatalogTest, PositiveIsoGrowsDefaultBounds) {
  auto params =
      ParseMeshExtractParams(JsonStruct(std::string("{") + kSphere + R"(,"iso":0.5})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_LT(params->bounds.max[0], 1.6 + 2 * 3.2 / 60 + 1e-9);
  EXPECT_GT(params->bounds.max[0], 1.5);  // The surface |p| = 1.5 stays inside.
}

TEST(TaskCatalogTest, MeshExtractErrors) {
  EXPECT_EQ(MeshError(""), "parameters.shape: required (or parameters.volume)");
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolutoin":64)"),
            "parameters.resolutoin: unknown field (known: bounds, iso, normals, output, "
            "preview, resolution, shape, volume)");
  EXPECT_EQ(MeshError(R"("shape":{"type":"sphere","radius":0})"),
            "parameters.shape.radius: must be > 0");
  EXPECT_EQ(MeshError(R"("shape":{"type":"cone"})"),
            "parameters.shape.type: unknown shape \"cone\" (known: box, difference, "
            "intersection, sphere, torus, union)");
  const std::string resolution_error = "parameters.resolution: must be an integer from 8 to 512";
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolution":7)"), resolution_error);
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolution":513)"), resolution_error);
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolution":64.5)"), resolution_error);
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolution":"64")"), resolution_error);
  TaskLimits small;
  small.max_mesh_resolution = 100;
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"resolution":101)", small),
            "parameters.resolution: must be an integer from 8 to 100");
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"iso":"0")"),
            "parameters.iso: must be a finite number");
  EXPECT_THAT(MeshError(std::string(kSphere) + R"(,"iso":1e7)"),
              StartsWith("parameters.iso: magnitude must be <= "));
  const std::string output_error =
      "parameters.output: must be 1 to 128 characters of [A-Za-z0-9._-] ending in \".ply\"";
  for (const char* bad : {R"("")", R"("../mesh.ply")", R"("a/b.ply")", R"("mesh.obj")",
                          R"("mesh ply.ply")", R"("mesh.ply ")", "1"}) {
    EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"output":)" + bad), output_error) << bad;
  }
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"output":")" + std::string(125, 'm') + R"(.ply")"),
            output_error);
  EXPECT_TRUE(ValidateTaskParameters("mesh.extract",
                                     JsonStruct(std::string("{") + kSphere + R"(,"output":")" +
                                                std::string(124, 'm') + R"(.ply"})"),
                                     {})
                  .ok());
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"normals":1)"),
            "parameters.normals: must be a bool");
  EXPECT_THAT(MeshError(std::string(kSphere) + R"(,"bounds":[0,1])"),
              StartsWith("parameters.bounds: must be an object"));
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0,0]})"),
            "parameters.bounds.max: required");
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0],"max":[1,1,1]})"),
            "parameters.bounds.min: must be a list of 3 numbers");
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0,0],"max":[1,true,1]})"),
            "parameters.bounds.max[1]: must be a finite number");
  EXPECT_EQ(
      MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0,0],"max":[1,1,1],"size":[1,1,1]})"),
      "parameters.bounds.size: unknown field (known: max, min)");
  EXPECT_EQ(MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0,0],"max":[1,0,1]})"),
            "parameters.bounds: min must be < max on every axis");
  EXPECT_THAT(MeshError(std::string(kSphere) + R"(,"bounds":{"min":[0,0,-2e6],"max":[1,1,1]})"),
              StartsWith("parameters.bounds.min[2]: magnitude must be <= "));
}

TEST(TaskCatalogTest, DebugSleep) {
  auto params = ParseDebugSleepParams(JsonStruct(R"({"seconds":2.5})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->seconds, 2.5);
  EXPECT_FALSE(params->fail_message.has_value());
  params = ParseDebugSleepParams(JsonStruct(R"({"seconds":0,"fail_message":"boom"})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->fail_message, "boom");
  EXPECT_EQ(params->print, 0);
  params = ParseDebugSleepParams(JsonStruct(R"({"seconds":1,"print":25})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->print, 25);
  EXPECT_EQ(params->children, 0);
  params = ParseDebugSleepParams(JsonStruct(R"({"seconds":1,"children":16})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->children, 16);
  EXPECT_TRUE(ValidateTaskParameters("debug.sleep", JsonStruct(R"({"seconds":3600})"), {}).ok());
}

TEST(TaskCatalogTest, DebugSleepErrors) {
  EXPECT_EQ(SleepError("{}"), "parameters.seconds: required");
  EXPECT_EQ(SleepError(R"({"seconds":-1})"), "parameters.seconds: must be a number from 0 to 3600");
  EXPECT_EQ(SleepError(R"({"seconds":3601})"),
            "parameters.seconds: must be a number from 0 to 3600");
  EXPECT_EQ(SleepError(R"({"seconds":"1"})"),
            "parameters.seconds: must be a number from 0 to 3600");
  TaskLimits limits;
  limits.max_sleep_seconds = 10;
  EXPECT_EQ(SleepError(R"({"seconds":11})", limits),
            "parameters.seconds: must be a number from 0 to 10");
  EXPECT_THAT(SleepError(R"({"seconds":1,"fail_message":7})"),
              StartsWith("parameters.fail_message: must be a non-empty string"));
  EXPECT_THAT(SleepError(R"({"seconds":1,"fail_message":""})"),
              StartsWith("parameters.fail_message: must be a non-empty string"));
  EXPECT_EQ(SleepError(R"({"seconds":1,"fail":"x"})"),
            "parameters.fail: unknown field (known: children, fail_message, print, seconds)");
  EXPECT_EQ(SleepError(R"({"seconds":1,"print":-1})"),
            "parameters.print: must be a whole number from 0 to 1000000");
  EXPECT_EQ(SleepError(R"({"seconds":1,"print":2.5})"),
            "parameters.print: must be a whole number from 0 to 1000000");
  EXPECT_EQ(SleepError(R"({"seconds":1,"print":"3"})"),
            "parameters.print: must be a whole number from 0 to 1000000");
  EXPECT_EQ(SleepError(R"({"seconds":1,"print":1000001})"),
            "parameters.print: must be a whole number from 0 to 1000000");
  EXPECT_EQ(SleepError(R"({"seconds":1,"children":17})"),
            "parameters.children: must be a whole number from 0 to 16");
  EXPECT_EQ(SleepError(R"({"seconds":1,"children":1.5})"),
            "parameters.children: must be a whole number from 0 to 16");
}

TEST(TaskCatalogTest, ModelRunPassesAnyObjectUpToTheCap) {
  EXPECT_TRUE(ValidateTaskParameters("model.run", JsonStruct("{}"), {}).ok());
  EXPECT_TRUE(
      ValidateTaskParameters(
          "model.run", JsonStruct(R"({"seed":7,"prompt":"a chair","opts":{"steps":[1,2]}})"), {})
          .ok());
  google::protobuf::Struct big;
  (*big.mutable_fields())["image"].set_string_value(std::string(kMaxModelRunParametersBytes, 'a'));
  const absl::Status status = ValidateTaskParameters("model.run", big, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("parameters: "));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("more than the 65536 allowed"));
}

TEST(TaskCatalogTest, FieldDecodeDefaultsAndValues) {
  auto defaults = ParseFieldDecodeParams(JsonStruct("{}"), {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->resolution, kDefaultMeshResolution);
  EXPECT_FALSE(defaults->bounds.has_value());  // The model's bounds, known on the worker.
  EXPECT_EQ(defaults->batch_size, kDefaultFieldDecodeBatchSize);
  EXPECT_FALSE(defaults->dtype.has_value());
  EXPECT_EQ(defaults->output, FieldDecodeOutput::kMesh);
  auto set = ParseFieldDecodeParams(
      JsonStruct(R"({"resolution":32,"bounds":{"min":[-1,-2,-3],"max":[1,2,3]},"batch_size":1000,
                 "dtype":"bfloat16","output":"volume","iso":0.25,"normals":false})"),
      {});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->resolution, 32);
  EXPECT_EQ(set->bounds->max[2], 3);
  EXPECT_EQ(set->batch_size, 1000);
  EXPECT_EQ(*set->dtype, "bfloat16");
  EXPECT_EQ(set->output, FieldDecodeOutput::kVolume);
  EXPECT_EQ(*set->iso, 0.25);
  EXPECT_FALSE(set->normals);
  EXPECT_TRUE(ValidateTaskParameters("field.decode", JsonStruct("{}"), {}).ok());
}

TEST(TaskCatalogTest, FieldDecodeErrorsNameTheField) {
  const auto error = [](const std::string& json, TaskLimits limits = {}) {
    return std::string(ValidateTaskParameters("field.decode", JsonStruct(json), limits).message());
  };
  EXPECT_EQ(error(R"({"resolution":100000})"),
            "parameters.resolution: must be an integer from 8 to 512");
  TaskLimits limits;
  limits.max_mesh_resolution = 128;
  EXPECT_EQ(error(R"({"resolution":129})", limits),
            "parameters.resolution: must be an integer from 8 to 128");
  EXPECT_THAT(error(R"({"batch_size":0})"), StartsWith("parameters.batch_size: "));
  EXPECT_THAT(error(R"({"batch_size":1e12})"), StartsWith("parameters.batch_size: "));
  EXPECT_THAT(error(R"({"dtype":"int8"})"), StartsWith("parameters.dtype: "));
  EXPECT_THAT(error(R"({"output":"obj"})"), StartsWith("parameters.output: "));
  EXPECT_THAT(error(R"({"bounds":{"min":[1,1,1],"max":[0,2,2]}})"),
              StartsWith("parameters.bounds: "));
  EXPECT_THAT(error(R"({"resolutoin":64})"), StartsWith("parameters.resolutoin: unknown field"));
}

}  // namespace
TEST(TaskCatalogTest, MeshExtractVolumeIsParsedWithDefaults) {
  auto params = ParseMeshExtractParams(
      JsonStruct(R"({"volume":{"input":"v.npy","format":"npy"},"iso":0.25,"normals":false})"), {});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_FALSE(params->shape.has_value());
  ASSERT_TRUE(params->volume.has_value());
  EXPECT_EQ(params->volume->input, "v.npy");
  EXPECT_EQ(params->volume->format, VolumeFormat::kNpy);
  EXPECT_FALSE(params->volume->dims.has_value());
  EXPECT_EQ(params->volume->origin, (Vec3{0, 0, 0}));
  EXPECT_EQ(params->volume->spacing, (Vec3{1, 1, 1}));
  EXPECT_EQ(params->iso, 0.25);
  EXPECT_FALSE(params->normals);

  auto raw = ParseMeshExtractParams(
      JsonStruct(R"({"volume":{"input":"v.raw","format":"raw","dims":[3,4,5],)"
                 R"("origin":[-1,2,0.5],"spacing":0.5}})"),
      {});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->volume->format, VolumeFormat::kRaw);
  EXPECT_EQ(raw->volume->dims, (std::array<int, 3>{3, 4, 5}));
  EXPECT_EQ(raw->volume->origin, (Vec3{-1, 2, 0.5}));
  EXPECT_EQ(raw->volume->spacing, (Vec3{0.5, 0.5, 0.5}));
  auto anisotropic = ParseMeshExtractParams(
      JsonStruct(R"({"volume":{"input":"v","format":"npy","spacing":[1,2,3]}})"), {});
  ASSERT_TRUE(anisotropic.ok()) << anisotropic.status();
  EXPECT_EQ(anisotropic->volume->spacing, (Vec3{1, 2, 3}));
}

TEST(TaskCatalogTest, MeshExtractVolumeErrorsNameTheField) {
  const std::string npy = R"("volume":{"input":"v.npy","format":"npy")";
  EXPECT_EQ(MeshError(std::string(kSphere) + "," + npy + "}"),
            "parameters.volume: give either shape or volume, not both");
  EXPECT_EQ(MeshError(npy + R"(},"resolution":64)"),
            "parameters.resolution: does not apply to a volume (its dims, origin and spacing "
            "fix the grid)");
  EXPECT_EQ(MeshError(npy + R"(},"bounds":{"min":[0,0,0],"max":[1,1,1]})"),
            "parameters.bounds: does not apply to a volume (its dims, origin and spacing fix "
            "the grid)");
  EXPECT_EQ(
      MeshError(R"("volume":"v.npy")"),
      R"(parameters.volume: must be an object {"input": name, "format": "npy" | "raw", ...})");
  EXPECT_EQ(MeshError(R"("volume":{"format":"npy"})"),
            "parameters.volume.input: required (the name of one of the job's inputs)");
  EXPECT_EQ(MeshError(R"("volume":{"input":"","format":"npy"})"),
            "parameters.volume.input: must be an input name of 1 to 128 bytes");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v"})"),
            R"(parameters.volume.format: required ("npy" or "raw"))");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"f32"})"),
            R"(parameters.volume.format: must be "npy" or "raw")");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw"})"),
            "parameters.volume.dims: required for a raw volume ([sx, sy, sz] samples per axis)");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw","dims":[4,4]})"),
            "parameters.volume.dims: must be a list of 3 integers [sx, sy, sz]");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw","dims":[4,1,4]})"),
            "parameters.volume.dims[1]: must be an integer from 2 to 513");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw","dims":[4,4,514]})"),
            "parameters.volume.dims[2]: must be an integer from 2 to 513");
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw","dims":[4.5,4,4]})"),
            "parameters.volume.dims[0]: must be an integer from 2 to 513");
  TaskLimits small;
  small.max_mesh_resolution = 100;
  EXPECT_EQ(MeshError(R"("volume":{"input":"v","format":"raw","dims":[4,102,4]})", small),
            "parameters.volume.dims[1]: must be an integer from 2 to 101");
  EXPECT_EQ(MeshError(npy + R"(,"spacing":0})"),
            "parameters.volume.spacing: must be > 0 and <= 1e+06");
  EXPECT_EQ(MeshError(npy + R"(,"spacing":[1,-1,1]})"),
            "parameters.volume.spacing: must be > 0 and <= 1e+06");
  EXPECT_EQ(MeshError(npy + R"(,"spacing":"1"})"),
            "parameters.volume.spacing: must be a positive number or a list of 3 positive numbers");
  EXPECT_EQ(MeshError(npy + R"(,"origin":[0,0]})"),
            "parameters.volume.origin: must be a list of 3 numbers");
  EXPECT_EQ(MeshError(npy + R"(,"dim":[2,2,2]})"),
            "parameters.volume.dim: unknown field (known: dims, format, input, origin, spacing)");
}

}  // namespace kiln
