// CudaMarchingCubes on a real GPU (CTest label gpu; skipped where no CUDA device is
// visible): the same mesh as the CPU path on spheres, tori, gyroids, random fields full of
// ambiguous faces and grids that are not cubes; the exact vertex and triangle order of
// the host emulation (which checks the block scans); NaN/Inf and out of memory as clear
// errors after which the next call works; buffers reused across calls.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/cuda_common/gpu_test_device.h"
#include "worker/tasks/cuda/marching_cubes_cuda.h"
#include "worker/tasks/cuda/marching_cubes_emulation.h"
#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/cuda/marching_cubes_test_fields.h"
#include "worker/tasks/cuda/marching_cubes_test_fields_device.h"
#include "worker/tasks/cuda/mesh_compare.h"
#include "worker/tasks/marching_cubes_cpu.h"

namespace kiln::tasks {
namespace {

using marching_cubes::FillTestFieldOnHost;
using marching_cubes::TestField;
using marching_cubes::TestFieldGrid;

// Positions: the kernels round like the CPU (explicit _rn operations), so they should be
// bit-identical; the tolerance (a few float ulps at 1) is what the test promises.
constexpr float kPositionTolerance = 1e-6f;
// Normals: fused multiply-adds in the gradient interpolation move the last bits.
constexpr float kNormalTolerance = 1e-5f;

class CudaMarchingCubesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = cuda::CudaTestDeviceSkipReason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    const MarchingCubesStatus status = CudaMarchingCubes::Create({}, &cuda_);
    ASSERT_TRUE(status.ok()) << status.message;
  }

  static Mesh CpuMesh(const std::vector<float>& field, const GridSpec& grid, double iso,
                      bool normals) {
    MarchingCubesOptions options;
    options.iso = iso;
    if (normals) options.gradient = SampledFieldGradient(grid, field);
    Mesh mesh;
    const MarchingCubesStatus status =
        ExtractIsosurfaceOnCpu(grid, FieldSliceSampler(grid, field), options, &mesh);
    EXPECT_TRUE(status.ok()) << status.message;
    return mesh;
  }

  // GPU == CPU (canonically) and GPU == emulation (element by element).
  void ExpectSameAsCpu(const std::vector<float>& field, const GridSpec& grid, double iso,
                       const std::string& what) {
    SCOPED_TRACE(what);
    CudaExtractOptions options;
    options.iso = iso;
    options.normals = true;
    Mesh gpu;
    const MarchingCubesStatus status = cuda_->ExtractFromHost(field, grid, options, &gpu);
    ASSERT_TRUE(status.ok()) << status.message;
    const Mesh cpu = CpuMesh(field, grid, iso, /*normals=*/true);
    EXPECT_GT(cpu.triangles.size(), 0u);
    const MeshComparison same = CompareMeshes(
        cpu, gpu, {.position_tolerance = kPositionTolerance, .normal_tolerance = kNormalTolerance});
    EXPECT_TRUE(same.same) << same.difference;
    std::printf(
        "%s: %zu vertices, %zu triangles, max position difference %.3g, max normal "
        "difference %.3g\n",
        what.c_str(), gpu.positions.size(), gpu.triangles.size(), same.max_position_difference,
        same.max_normal_difference);

    Mesh emulated;
    ASSERT_TRUE(EmulateCudaMarchingCubes(field, grid, iso, true, &emulated).ok());
    ASSERT_EQ(gpu.positions.size(), emulated.positions.size());
    EXPECT_TRUE(gpu.triangles == emulated.triangles) << "triangle order differs from the emulation";
    float worst = 0;
    for (size_t v = 0; v < gpu.positions.size(); ++v) {
      for (int a = 0; a < 3; ++a) {
        worst = std::max(worst, std::abs(gpu.positions[v][a] - emulated.positions[v][a]));
      }
    }
    EXPECT_LE(worst, kPositionTolerance) << "vertex order or positions differ from the emulation";

    // Without normals: same topology, no normals.
    options.normals = false;
    Mesh bare;
    ASSERT_TRUE(cuda_->ExtractFromHost(field, grid, options, &bare).ok());
    EXPECT_TRUE(bare.normals.empty());
    EXPECT_TRUE(bare.triangles == gpu.triangles);
  }

  void ExpectSameAsCpu(TestField field, const GridSpec& grid, uint32_t seed = 1, double iso = 0) {
    std::vector<float> values;
    FillTestFieldOnHost(field, grid, seed, &values);
    ExpectSameAsCpu(values, grid, iso,
                    std::string(marching_cubes::TestFieldName(field)) + " " +
                        std::to_string(grid.cells[0]) + "x" + std::to_string(grid.cells[1]) + "x" +
                        std::to_string(grid.cells[2]) + " seed " + std::to_string(seed));
  }

  std::unique_ptr<CudaMarchingCubes> cuda_;
};

TEST_F(CudaMarchingCubesTest, SphereTorusGyroid) {
  ExpectSameAsCpu(TestField::kSphere, TestFieldGrid(64, 64, 64));
  ExpectSameAsCpu(TestField::kSphere, TestFieldGrid(50, 50, 50), 1, 0.125);
  ExpectSameAsCpu(TestField::kTorus, TestFieldGrid(96, 80, 40));
  ExpectSameAsCpu(TestField::kGyroid, TestFieldGrid(128, 128, 128));
}

TEST_F(CudaMarchingCubesTest, RandomFieldsWithAmbiguousFaces) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    ExpectSameAsCpu(TestField::kRandom, TestFieldGrid(17, 5, 9), seed);
  }
  ExpectSameAsCpu(TestField::kRandom, TestFieldGrid(100, 37, 21), 42);
  ExpectSameAsCpu(TestField::kRandom, TestFieldGrid(64, 64, 64), 43, 0.3);
}

TEST_F(CudaMarchingCubesTest, GridsThatAreNotCubes) {
  ExpectSameAsCpu(TestField::kSphere, TestFieldGrid(17, 5, 9));
  ExpectSameAsCpu(TestField::kSphere, TestFieldGrid(3, 40, 31));
  ExpectSameAsCpu(TestField::kTorus, TestFieldGrid(65, 9, 1));
  ExpectSameAsCpu(TestField::kGyroid, TestFieldGrid(33, 1, 40));
  ExpectSameAsCpu(TestField::kGyroid, TestFieldGrid(257, 129, 65));
}

// The device entry point on a field generated on the device, as field.decode would chain.
TEST_F(CudaMarchingCubesTest, FieldResidentOnTheDevice) {
  const GridSpec grid = TestFieldGrid(160, 160, 160);
  const uint64_t samples = marching_cubes::SampleCount(grid);
  float* device_field = nullptr;
  ASSERT_EQ(cudaMalloc(&device_field, samples * sizeof(float)), cudaSuccess);
  ASSERT_EQ(
      marching_cubes::FillTestFieldOnDevice(TestField::kGyroid, grid, 1, device_field, nullptr),
      cudaSuccess);
  DeviceMesh device_mesh;
  CudaExtractOptions options;
  options.normals = true;
  const MarchingCubesStatus status =
      cuda_->ExtractFromDevice(device_field, grid, options, &device_mesh);
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_GT(device_mesh.triangle_count, 100000u);
  Mesh gpu;
  ASSERT_TRUE(cuda_->Download(device_mesh, nullptr, &gpu).ok());
  std::vector<float> field(samples);
  ASSERT_EQ(cudaMemcpy(field.data(), device_field, samples * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  cudaFree(device_field);
  const MeshComparison same = CompareMeshes(
      CpuMesh(field, grid, 0, true), gpu,
      {.position_tolerance = kPositionTolerance, .normal_tolerance = kNormalTolerance});
  EXPECT_TRUE(same.same) << same.difference;
}

// More than 2^31 samples (1291^3, a 8.6 GB field): the 64-bit sample indexing. About a
// minute (the CPU path is the reference) and 20 GB of device memory, so not run by default:
// bench/gpu/run-marching-cubes.sh runs it with --gtest_also_run_disabled_tests.
TEST_F(CudaMarchingCubesTest, DISABLED_MoreThanTwoTo31Samples) {
  const GridSpec grid = TestFieldGrid(1290, 1290, 1290);
  const uint64_t samples = marching_cubes::SampleCount(grid);
  ASSERT_GT(samples, uint64_t{1} << 31);
  size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  if (free_bytes < samples * 9) GTEST_SKIP() << "needs " << samples * 9 / (1 << 30) << " GiB free";
  float* device_field = nullptr;
  ASSERT_EQ(cudaMalloc(&device_field, samples * sizeof(float)), cudaSuccess);
  ASSERT_EQ(
      marching_cubes::FillTestFieldOnDevice(TestField::kSphere, grid, 1, device_field, nullptr),
      cudaSuccess);
  DeviceMesh device_mesh;
  const MarchingCubesStatus status = cuda_->ExtractFromDevice(device_field, grid, {}, &device_mesh);
  ASSERT_TRUE(status.ok()) << status.message;
  Mesh gpu;
  ASSERT_TRUE(cuda_->Download(device_mesh, nullptr, &gpu).ok());
  std::vector<float> field(samples);
  ASSERT_EQ(cudaMemcpy(field.data(), device_field, samples * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  cudaFree(device_field);
  cuda_->ReleaseBuffers();
  const Mesh cpu = CpuMesh(field, grid, 0, /*normals=*/false);
  std::printf("1291^3 samples: %zu vertices, %zu triangles\n", gpu.positions.size(),
              gpu.triangles.size());
  const MeshComparison same =
      CompareMeshes(cpu, gpu, {.position_tolerance = kPositionTolerance, .normal_tolerance = -1});
  EXPECT_TRUE(same.same) << same.difference;
}

TEST_F(CudaMarchingCubesTest, NonFiniteSamplesAreInvalidArgumentAndTheNextCallWorks) {
  const GridSpec grid = TestFieldGrid(40, 41, 42);
  std::vector<float> field;
  FillTestFieldOnHost(TestField::kSphere, grid, 1, &field);
  const uint64_t row = 41, slice = 41 * 42;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> broken = field;
    broken[3 + row * 4 + slice * 5] = bad;
    broken[30 + row * 31 + slice * 32] = bad;
    Mesh mesh;
    const MarchingCubesStatus status = cuda_->ExtractFromHost(broken, grid, {}, &mesh);
    EXPECT_EQ(status.code, MarchingCubesCode::kInvalidArgument);
    EXPECT_NE(status.message.find("field: sample (3, 4, 5) is "), std::string::npos)
        << status.message;
    // The object (and the CUDA context) still work.
    ExpectSameAsCpu(field, grid, 0, "after a non-finite field");
  }
}

TEST_F(CudaMarchingCubesTest, BadInputIsInvalidArgument) {
  const GridSpec grid = TestFieldGrid(8, 9, 10);
  std::vector<float> field(10, 1.0f);
  Mesh mesh;
  MarchingCubesStatus status = cuda_->ExtractFromHost(field, grid, {}, &mesh);
  EXPECT_EQ(status.code, MarchingCubesCode::kInvalidArgument);
  EXPECT_NE(status.message.find("field: 10 samples"), std::string::npos) << status.message;
  GridSpec bad = grid;
  bad.cells[1] = 0;
  DeviceMesh device_mesh;
  status = cuda_->ExtractFromDevice(reinterpret_cast<const float*>(16), bad, {}, &device_mesh);
  EXPECT_EQ(status.code, MarchingCubesCode::kInvalidArgument);
  status = cuda_->ExtractFromDevice(nullptr, grid, {}, &device_mesh);
  EXPECT_EQ(status.code, MarchingCubesCode::kInvalidArgument);
}

TEST_F(CudaMarchingCubesTest, EmptySurfaceGivesAnEmptyMesh) {
  const GridSpec grid = TestFieldGrid(30, 31, 32);
  std::vector<float> field(marching_cubes::SampleCount(grid), -1.0f);
  Mesh mesh;
  ASSERT_TRUE(cuda_->ExtractFromHost(field, grid, {.normals = true}, &mesh).ok());
  EXPECT_TRUE(mesh.positions.empty());
  EXPECT_TRUE(mesh.triangles.empty());
}

TEST_F(CudaMarchingCubesTest, BuffersAreReusedAcrossCalls) {
  const GridSpec big = TestFieldGrid(128, 128, 128), small = TestFieldGrid(20, 20, 20);
  std::vector<float> big_field, small_field;
  FillTestFieldOnHost(TestField::kGyroid, big, 1, &big_field);
  FillTestFieldOnHost(TestField::kSphere, small, 1, &small_field);
  Mesh first, again;
  ASSERT_TRUE(cuda_->ExtractFromHost(big_field, big, {.normals = true}, &first).ok());
  const uint64_t reserved = cuda_->reserved_bytes();
  EXPECT_GT(reserved, marching_cubes::SampleCount(big) * 8);
  ExpectSameAsCpu(small_field, small, 0, "small after big");
  ASSERT_TRUE(cuda_->ExtractFromHost(big_field, big, {.normals = true}, &again).ok());
  EXPECT_EQ(cuda_->reserved_bytes(), reserved) << "a repeated extraction reallocated";
  EXPECT_TRUE(again.triangles == first.triangles);
  cuda_->ReleaseBuffers();
  EXPECT_EQ(cuda_->reserved_bytes(), 0u);
  ExpectSameAsCpu(big_field, big, 0, "after ReleaseBuffers");
}

// With the device's memory taken, an extraction fails with ResourceExhausted saying so,
// and works again once the memory is back.
TEST_F(CudaMarchingCubesTest, OutOfDeviceMemoryIsResourceExhausted) {
  const GridSpec grid = TestFieldGrid(256, 256, 256);
  std::vector<float> field;
  FillTestFieldOnHost(TestField::kSphere, grid, 1, &field);
  cuda_->ReleaseBuffers();
  std::vector<void*> hogs;
  size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  // Take all but 32 MiB, in 1 GiB pieces and then smaller ones.
  for (size_t piece = size_t{1} << 30; piece >= (size_t{1} << 20); piece /= 2) {
    for (;;) {
      cudaMemGetInfo(&free_bytes, &total_bytes);
      if (free_bytes < piece + (size_t{32} << 20)) break;
      void* p = nullptr;
      if (cudaMalloc(&p, piece) != cudaSuccess) {
        cudaGetLastError();
        break;
      }
      hogs.push_back(p);
    }
  }
  Mesh mesh;
  const MarchingCubesStatus status = cuda_->ExtractFromHost(field, grid, {.normals = true}, &mesh);
  for (void* p : hogs) cudaFree(p);
  EXPECT_EQ(status.code, MarchingCubesCode::kResourceExhausted) << status.message;
  EXPECT_NE(status.message.find("out of device memory"), std::string::npos) << status.message;
  ExpectSameAsCpu(field, grid, 0, "after running out of memory");
}

}  // namespace
}  // namespace kiln::tasks
