#include "worker/tasks/mesh_extract_task.h"

#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/tasks/marching_cubes_gpu.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/tasks/testing/npy_test_file.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class MeshExtractTaskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(temp_.path().empty()); }

  absl::StatusOr<TaskOutput> Run(
      const std::string& parameters,
      const std::vector<std::pair<std::string, std::string>>& inputs = {}) {
    kiln::v1::RunTaskRequest request;
    for (const auto& [name, path] : inputs) {
      kiln::v1::LocalFile* file = request.add_inputs();
      file->set_name(name);
      file->set_path(path);
    }
    request.set_job_id("j-test");
    request.set_task("mesh.extract");
    request.set_output_dir(dir_);
    const auto status =
        google::protobuf::util::JsonStringToMessage(parameters, request.mutable_parameters());
    EXPECT_TRUE(status.ok()) << status;
    TaskContext context;
    context.request = &request;
    context.report_progress = [this](double fraction, std::string_view message) {
      progress_.push_back(fraction);
      EXPECT_FALSE(message.empty());
    };
    return task_.Run(context);
  }

  static double Number(const TaskOutput& out, const std::string& key) {
    return out.summary.fields().at(key).number_value();
  }

  MeshExtractTask task_;
  kiln::testing::ScopedTempDir temp_;
  const std::string dir_ = temp_.path();
  std::vector<double> progress_;
};

TEST_F(MeshExtractTaskTest, WritesAClosedMeshAndMatchingSummary) {
  auto out = Run(R"({"shape":{"type":"difference","children":[
                       {"type":"box","size":[2,2,2]},
                       {"type":"sphere","radius":0.8,"center":[1,1,1]}]},
                     "resolution":40})");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->outputs.size(), 1u);
  EXPECT_EQ(out->outputs[0].name(), "mesh.ply");
  EXPECT_EQ(out->outputs[0].path(), (std::filesystem::absolute(dir_) / "mesh.ply").string());
  ASSERT_TRUE(std::filesystem::exists(out->outputs[0].path()));

  auto mesh = ReadPly(out->outputs[0].path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(double(mesh->positions.size()), Number(*out, "vertices"));
  EXPECT_EQ(double(mesh->triangles.size()), Number(*out, "faces"));
  EXPECT_EQ(mesh->normals.size(), mesh->positions.size());
  EXPECT_GT(mesh->triangles.size(), 1000u);
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_GT(stats.signed_volume, 7.5);  // 8 minus an eighth of a 0.8 ball (0.27).
  EXPECT_LT(stats.signed_volume, 7.9);

  const auto& f = out->summary.fields();
  EXPECT_TRUE(f.at("watertight").bool_value());
  EXPECT_EQ(Number(*out, "components"), 1);
  EXPECT_EQ(Number(*out, "resolution"), 40);
  ASSERT_EQ(f.at("grid").list_value().values_size(), 3);
  for (int a = 0; a < 3; ++a) {
    EXPECT_EQ(f.at("grid").list_value().values(a).number_value(), 40);  // A cube's bounds.
    EXPECT_NEAR(f.at("bbox_min").list_value().values(a).number_value(), -1, 1e-6);
    EXPECT_NEAR(f.at("bbox_max").list_value().values(a).number_value(), 1, 1e-6);
  }
  EXPECT_GE(Number(*out, "seconds"), 0);
  ASSERT_FALSE(progress_.empty());
  EXPECT_TRUE(std::is_sorted(progress_.begin(), progress_.end()));
  EXPECT_EQ(progress_.back(), 1.0);
}

TEST_F(MeshExtractTaskTest, OutputNameBoundsAndNoNormals) {
  auto out = Run(R"({"shape":{"type":"torus","major_radius":1,"minor_radius":0.3},
                     "resolution":32, "normals":false, "output":"ring.ply",
                     "bounds":{"min":[-2,-2,-1],"max":[2,2,1]}})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->outputs[0].name(), "ring.ply");
  const auto& grid = out->summary.fields().at("grid").list_value();
  EXPECT_EQ(grid.values(0).number_value(), 32);
  EXPECT_EQ(grid.values(1).number_value(), 32);
  EXPECT_EQ(grid.values(2).number_value(), 16);
  auto mesh = ReadPly(dir_ + "/ring.ply");
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_TRUE(mesh->normals.empty());
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.euler_characteristic, 0);
}

TEST_F(MeshExtractTaskTest, BadParametersArePermanentErrors) {
  auto out = Run(R"({"shape":{"type":"sphere","radius":1},"resolution":4})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("parameters.resolution"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST(MeshExtractGridTest, LongestAxisHasResolutionCells) {
  google::protobuf::Struct s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"shape":{"type":"box","size":[4,1,2]},"resolution":50})", &s)
                  .ok());
  auto params = ParseMeshExtractParams(s, {});
  ASSERT_TRUE(params.ok()) << params.status();
  const GridSpec grid = MeshExtractGrid(*params);
  EXPECT_EQ(grid.cells[0], 50);
  EXPECT_LT(grid.cells[1], grid.cells[2]);
  for (int a = 0; a < 3; ++a) {
    // The grid covers the bounds and is centred on them.
    EXPECT_LE(grid.origin[a], params->bounds.min[a] + 1e-9);
    EXPECT_GE(grid.origin[a] + grid.cells[a] * grid.spacing[a], params->bounds.max[a] - 1e-9);
    EXPECT_NEAR(grid.origin[a] + grid.cells[a] * grid.spacing[a] / 2,
                (params->bounds.min[a] + params->bounds.max[a]) / 2, 1e-9);
  }
}

// The unit sphere's distance sampled exactly as the shape path samples it.
struct SampledSphere {
  MeshExtractParams params;
  GridSpec grid;
  std::vector<float> field;
};

SampledSphere SampleSphere(int resolution) {
  google::protobuf::Struct s;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(
          absl::StrCat(R"({"shape":{"type":"sphere","radius":1},"resolution":)", resolution, "}"),
          &s)
          .ok());
  auto params = ParseMeshExtractParams(s, {});
  EXPECT_TRUE(params.ok()) << params.status();
  SampledSphere sphere{.params = *std::move(params), .grid = {}, .field = {}};
  sphere.grid = MeshExtractGrid(sphere.params);
  const GridSpec& g = sphere.grid;
  for (int k = 0; k <= g.cells[2]; ++k) {
    for (int j = 0; j <= g.cells[1]; ++j) {
      for (int i = 0; i <= g.cells[0]; ++i) {
        const Vec3 p = {g.origin[0] + g.spacing[0] * i, g.origin[1] + g.spacing[1] * j,
                        g.origin[2] + g.spacing[2] * k};
        sphere.field.push_back(static_cast<float>(sphere.params.shape->Distance(p)));
      }
    }
  }
  return sphere;
}

std::string VolumeParams(const GridSpec& grid, const std::string& format,
                         const std::string& extra = "") {
  return absl::StrFormat(
      R"({"volume":{"input":"sphere.%s","format":"%s","origin":[%.17g,%.17g,%.17g],)"
      R"("spacing":%.17g%s}})",
      format, format, grid.origin[0], grid.origin[1], grid.origin[2], grid.spacing[0], extra);
}

TEST_F(MeshExtractTaskTest, NpyVolumeGivesTheSameMeshAsTheShapeOnTheSameGrid) {
  const SampledSphere sphere = SampleSphere(24);
  const GridSpec& g = sphere.grid;
  const std::string npy = dir_ + "/in/sphere.npy";
  std::filesystem::create_directories(dir_ + "/in");
  testing::WriteFloat32Npy(npy, g.cells[0] + 1, g.cells[1] + 1, g.cells[2] + 1, sphere.field);

  auto from_shape = ExtractMesh(sphere.params, {});
  ASSERT_TRUE(from_shape.ok()) << from_shape.status();
  const MeshStats shape_stats = ComputeMeshStats(*from_shape);

  auto out = Run(VolumeParams(g, "npy"), {{"sphere.npy", npy}});
  ASSERT_TRUE(out.ok()) << out.status();
  auto mesh = ReadPly(out->outputs[0].path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(stats.euler_characteristic, 2);
  EXPECT_GT(stats.faces, 1000);
  EXPECT_EQ(stats.vertices, shape_stats.vertices);
  EXPECT_EQ(stats.faces, shape_stats.faces);
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(stats.bbox_min[a], shape_stats.bbox_min[a], 1e-5);
    EXPECT_NEAR(stats.bbox_max[a], shape_stats.bbox_max[a], 1e-5);
  }
  // Normals from the sampled field's gradient point outward on a sphere.
  ASSERT_EQ(mesh->normals.size(), mesh->positions.size());
  for (size_t v = 0; v < mesh->positions.size(); v += 97) {
    double dot = 0;
    for (int a = 0; a < 3; ++a) dot += mesh->normals[v][a] * mesh->positions[v][a];
    EXPECT_GT(dot, 0.9) << "vertex " << v;
  }
  const auto& f = out->summary.fields();
  EXPECT_EQ(f.at("extractor").string_value(), "cpu");
  EXPECT_TRUE(f.at("watertight").bool_value());
  EXPECT_EQ(Number(*out, "faces"), static_cast<double>(shape_stats.faces));
  for (int a = 0; a < 3; ++a) {
    EXPECT_EQ(f.at("grid").list_value().values(a).number_value(), g.cells[a]);
    EXPECT_EQ(f.at("dims").list_value().values(a).number_value(), g.cells[a] + 1);
  }
  EXPECT_FALSE(f.contains("resolution"));
  EXPECT_EQ(progress_.back(), 1.0);
}

TEST_F(MeshExtractTaskTest, RawVolumeWithDimsMatchesTheNpy) {
  const SampledSphere sphere = SampleSphere(16);
  const GridSpec& g = sphere.grid;
  const std::string raw = dir_ + "/sphere.raw";
  testing::WriteRawFloat32(raw, sphere.field);
  auto out = Run(VolumeParams(g, "raw",
                              absl::StrFormat(R"(,"dims":[%d,%d,%d])", g.cells[0] + 1,
                                              g.cells[1] + 1, g.cells[2] + 1)) +
                     "",
                 {{"sphere.raw", raw}});
  ASSERT_TRUE(out.ok()) << out.status();
  auto from_shape = ExtractMesh(sphere.params, {});
  ASSERT_TRUE(from_shape.ok());
  EXPECT_EQ(Number(*out, "faces"), static_cast<double>(from_shape->triangles.size()));
  EXPECT_TRUE(out->summary.fields().at("watertight").bool_value());
}

TEST_F(MeshExtractTaskTest, BadVolumesAreClearInvalidArguments) {
  const std::vector<float> field(4 * 4 * 4, 1.0f);
  const std::string raw = dir_ + "/v.raw";
  testing::WriteRawFloat32(raw, field);
  auto mismatch =
      Run(R"({"volume":{"input":"v.raw","format":"raw","dims":[4,4,5]}})", {{"v.raw", raw}});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mismatch.status().message(),
            "volume: v.raw has 256 bytes, dims [4, 4, 5] need 320 (float32, x fastest)");

  auto missing =
      Run(R"({"volume":{"input":"w.raw","format":"raw","dims":[4,4,4]}})", {{"v.raw", raw}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(),
            "parameters.volume.input: the job has no input named \"w.raw\" (inputs: v.raw)");

  const std::string npy = dir_ + "/v.npy";
  testing::WriteFloat32Npy(npy, 4, 4, 4, field);
  auto wrong_dims =
      Run(R"({"volume":{"input":"v.npy","format":"npy","dims":[4,4,3]}})", {{"v.npy", npy}});
  EXPECT_EQ(wrong_dims.status().message(),
            "volume: v.npy has dims [4, 4, 4] (.npy shape reversed), parameters.volume.dims "
            "say [4, 4, 3]");
  testing::WriteFloat32Npy(npy, 4, 1, 4, std::vector<float>(16, 1.0f));
  auto flat = Run(R"({"volume":{"input":"v.npy","format":"npy"}})", {{"v.npy", npy}});
  EXPECT_EQ(flat.status().message(),
            "volume: v.npy has dims [4, 1, 4]; each axis needs at least 2 samples");

  std::vector<float> with_nan = field;
  with_nan[1 + 4 * (2 + 4 * 3)] = std::numeric_limits<float>::quiet_NaN();
  testing::WriteFloat32Npy(npy, 4, 4, 4, with_nan);
  auto nan = Run(R"({"volume":{"input":"v.npy","format":"npy"}})", {{"v.npy", npy}});
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.status().message(), HasSubstr("(1, 2, 3)"));
  EXPECT_THAT(nan.status().message(), HasSubstr("nan"));

  testing::WriteNpyBytes(npy, "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 4, 4), }", 1,
                         std::string(256, '\0'));
  auto ints = Run(R"({"volume":{"input":"v.npy","format":"npy"}})", {{"v.npy", npy}});
  EXPECT_EQ(ints.status().message(),
            "volume: v.npy: dtype '<i4' is not supported (only '<f4', little-endian float32)");
  // Nothing was written for any of them.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_NE(entry.path().extension(), ".ply") << entry.path();
  }
}

// On a GPU slot the volume goes through ExtractIsosurfaceFromFieldOnGpu: the same mesh as
// the CPU path. Skips without CUDA (kiln_tasks built without it, or no usable device).
TEST(MeshExtractVolumeGpuTest, GpuAndCpuGiveTheSameMeshFromOneVolume) {
  if (!GpuMarchingCubesBuilt()) GTEST_SKIP() << "kiln_tasks built without CUDA";
  const SampledSphere sphere = SampleSphere(40);
  auto gpu = ExtractMeshFromField(sphere.grid, sphere.field, 0.1, true, {}, /*cuda_device=*/0);
  if (absl::IsFailedPrecondition(gpu.status())) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu.status().message();
  }
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto cpu = ExtractMeshFromField(sphere.grid, sphere.field, 0.1, true, {}, /*cuda_device=*/-1);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(gpu->positions.size(), cpu->positions.size());
  EXPECT_EQ(gpu->triangles.size(), cpu->triangles.size());
  EXPECT_EQ(gpu->normals.size(), gpu->positions.size());
  const MeshStats gpu_stats = ComputeMeshStats(*gpu);
  const MeshStats cpu_stats = ComputeMeshStats(*cpu);
  EXPECT_TRUE(gpu_stats.watertight);
  EXPECT_NEAR(gpu_stats.signed_volume, cpu_stats.signed_volume, 1e-4);
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(gpu_stats.bbox_min[a], cpu_stats.bbox_min[a], 1e-5);
    EXPECT_NEAR(gpu_stats.bbox_max[a], cpu_stats.bbox_max[a], 1e-5);
  }
}

}  // namespace
}  // namespace kiln::tasks
