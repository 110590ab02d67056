// marching_cubes_gpu.h as kiln_tasks sees it. Everywhere: a build without CUDA, or a
// machine without a GPU, gets FailedPrecondition (never a crash). With a GPU: the same
// mesh as the CPU path, and NaN samples are InvalidArgument with the next call working.
#include "worker/tasks/marching_cubes_gpu.h"

#include <limits>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/tasks/cuda/marching_cubes_test_fields.h"
#include "worker/tasks/cuda/mesh_compare.h"
#include "worker/tasks/marching_cubes.h"
#include "worker/tasks/marching_cubes_cpu.h"
#include "worker/tasks/mesh_extract_task.h"
#include "worker/tasks/meshio/ply.h"

namespace kiln::tasks {
namespace {

using marching_cubes::FillTestFieldOnHost;
using marching_cubes::TestField;
using marching_cubes::TestFieldGrid;
using ::testing::HasSubstr;

// Skips unless the GPU path can run here; checks the refusal it gives otherwise.
#define SKIP_UNLESS_GPU_RUNS(status)                                               \
  do {                                                                             \
    if (!GpuMarchingCubesBuilt()) {                                                \
      EXPECT_EQ((status).code(), absl::StatusCode::kFailedPrecondition);           \
      EXPECT_THAT(std::string((status).message()), HasSubstr("without the CUDA")); \
      GTEST_SKIP() << "kiln_tasks built without CUDA";                             \
    }                                                                              \
    if (absl::IsFailedPrecondition(status)) {                                      \
      EXPECT_THAT(std::string((status).message()), HasSubstr("CUDA"));             \
      GTEST_SKIP() << "no usable CUDA device: " << (status).message();             \
    }                                                                              \
  } while (false)

TEST(MarchingCubesGpuTest, SlicedFieldGivesTheCpuMesh) {
  const GridSpec grid = TestFieldGrid(40, 33, 29);
  std::vector<float> field;
  FillTestFieldOnHost(TestField::kTorus, grid, 1, &field);
  MarchingCubesOptions options;
  options.gradient = SampledFieldGradient(grid, field);
  int slices = 0;
  options.progress = [&](int done, int total) {
    ++slices;
    EXPECT_EQ(total, grid.cells[2]);
  };
  const absl::StatusOr<Mesh> gpu =
      ExtractIsosurfaceOnGpu(0, grid, FieldSliceSampler(grid, field), options);
  SKIP_UNLESS_GPU_RUNS(gpu.status());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(slices, grid.cells[2]);
  options.progress = nullptr;
  const absl::StatusOr<Mesh> cpu = ExtractIsosurface(grid, FieldSliceSampler(grid, field), options);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  // Normals from the same callback, at the float (GPU) or double (CPU) position.
  const MeshComparison same =
      CompareMeshes(*cpu, *gpu, {.position_tolerance = 1e-6f, .normal_tolerance = 1e-5f});
  EXPECT_TRUE(same.same) << same.difference;
}

TEST(MarchingCubesGpuTest, NanIsInvalidArgumentAndTheNextCallWorks) {
  const GridSpec grid = TestFieldGrid(24, 24, 24);
  std::vector<float> field;
  FillTestFieldOnHost(TestField::kSphere, grid, 1, &field);
  std::vector<float> broken = field;
  broken[5] = std::numeric_limits<float>::quiet_NaN();
  const absl::StatusOr<Mesh> bad = ExtractIsosurfaceFromFieldOnGpu(0, grid, broken, 0, true);
  SKIP_UNLESS_GPU_RUNS(bad.status());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("field: sample (5, 0, 0) is nan"));
  const absl::StatusOr<Mesh> good = ExtractIsosurfaceFromFieldOnGpu(0, grid, field, 0, true);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_GT(good->triangles.size(), 100u);
}

// mesh.extract on a GPU slot (cuda_device 0): the GPU where there is one, the CPU path
// where kiln_tasks has no CUDA, a clean error where CUDA is built but no GPU is visible;
// the same PLY as a CPU slot's, normals included (both from the SDF's gradient).
TEST(MarchingCubesGpuTest, MeshExtractOnAGpuSlot) {
  kiln::testing::ScopedTempDir temp;
  auto run = [&](int cuda_device, const std::string& output) {
    kiln::v1::RunTaskRequest request;
    request.set_task("mesh.extract");
    request.set_output_dir(temp.path());
    const std::string parameters = R"({"shape":{"type":"difference","children":[
        {"type":"box","size":[2,2,2]},{"type":"sphere","radius":0.8,"center":[1,1,1]}]},
        "resolution":48,"output":")" +
                                   output + R"("})";
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(parameters, request.mutable_parameters()).ok());
    TaskContext context;
    context.request = &request;
    MeshExtractTaskOptions options;
    options.cuda_device = cuda_device;
    return MeshExtractTask(options).Run(context);
  };
  const absl::StatusOr<TaskOutput> cpu = run(-1, "cpu.ply");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->summary.fields().at("extractor").string_value(), "cpu");
  const absl::StatusOr<TaskOutput> gpu = run(0, "gpu.ply");
  if (!GpuMarchingCubesBuilt()) {
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_EQ(gpu->summary.fields().at("extractor").string_value(), "cpu");
    GTEST_SKIP() << "kiln_tasks built without CUDA: mesh.extract stays on the CPU";
  }
  if (absl::IsFailedPrecondition(gpu.status())) {
    EXPECT_THAT(std::string(gpu.status().message()), HasSubstr("CUDA"));
    GTEST_SKIP() << "no usable CUDA device: " << gpu.status().message();
  }
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->summary.fields().at("extractor").string_value(), "cuda");
  const absl::StatusOr<Mesh> cpu_mesh = ReadPly(temp.path() + "/cpu.ply");
  const absl::StatusOr<Mesh> gpu_mesh = ReadPly(temp.path() + "/gpu.ply");
  ASSERT_TRUE(cpu_mesh.ok() && gpu_mesh.ok());
  const MeshComparison same =
      CompareMeshes(*cpu_mesh, *gpu_mesh, {.position_tolerance = 1e-6f, .normal_tolerance = 1e-5f});
  EXPECT_TRUE(same.same) << same.difference;
}

}  // namespace
}  // namespace kiln::tasks
