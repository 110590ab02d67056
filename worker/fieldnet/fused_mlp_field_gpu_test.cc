// GPU tests of FusedMlpField (CTest label `gpu`; skipped where there is no CUDA device):
// fp32 against the float64 host reference, bf16/fp16 against fp32 within stated
// tolerances, chunked against unchunked, graph against plain launches, colour outputs,
// progress and cancellation, and bad arguments.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "worker/fieldnet/fieldnet_test_util.h"
#include "worker/fieldnet/fused_mlp_field.h"
#include "worker/fieldnet/mlp_reference.h"

namespace kiln::fieldnet {
namespace {

// Tolerances, as max |error| / (max - min of the fp32 field), measured on the
// {3, 256 x4, 1} network with PyTorch's default init on [-1, 1]^3 (host emulation before
// the first GPU run: bf16 0.6%, fp16 0.08%); stated with a 3x margin.
constexpr double kFp32RelativeToReference = 1e-4;
constexpr double kBf16RelativeToFp32 = 2e-2;
constexpr double kFp16RelativeToFp32 = 3e-3;

bool HaveCudaDevice() {
  int count = 0;
  const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  cudaGetLastError();
  return ok;
}

#define SKIP_WITHOUT_GPU() \
  if (!HaveCudaDevice()) GTEST_SKIP() << "no CUDA device: GPU test skipped"

struct DeviceFloats {
  explicit DeviceFloats(size_t n) : size(n) {
    EXPECT_EQ(cudaMalloc(&data, n * sizeof(float)), cudaSuccess);
    // NaN fill: a sample the decoder forgets to write fails every comparison.
    EXPECT_EQ(cudaMemset(data, 0xff, n * sizeof(float)), cudaSuccess);
  }
  ~DeviceFloats() { cudaFree(data); }
  std::vector<float> ToHost() const {
    std::vector<float> host(size);
    EXPECT_EQ(cudaMemcpy(host.data(), data, size * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }
  float* data = nullptr;
  size_t size;
};

GridSpec CubeGrid(int64_t cx, int64_t cy, int64_t cz) {
  GridSpec grid;
  const int64_t cells[3] = {cx, cy, cz};
  for (int a = 0; a < 3; ++a) {
    grid.origin[a] = -1.0f;
    grid.spacing[a] = 2.0f / static_cast<float>(cells[a]);
    grid.cells[a] = cells[a];
  }
  return grid;
}

std::unique_ptr<FusedMlpField> MakeField(const MlpWeights& mlp, Precision precision, int64_t chunk,
                                         bool graph = true, int chunks_per_graph = 8,
                                         bool autotune = true) {
  FusedMlpField::Options options;
  // Autotuning times candidates, so two objects may pick different algorithms (different
  // summation orders); tests that expect bit-identical fields turn it off.
  options.autotune = autotune;
  options.precision = precision;
  options.max_chunk_points = chunk;
  options.use_cuda_graph = graph;
  options.chunks_per_graph = chunks_per_graph;
  std::unique_ptr<FusedMlpField> field;
  const Status status = FusedMlpField::Create(mlp, options, &field);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return field;
}

// Decodes `grid` and returns the field (and colour when `colour` is given).
std::vector<float> DecodeToHost(FusedMlpField* field, const GridSpec& grid,
                                std::vector<float>* colour = nullptr) {
  const size_t samples = static_cast<size_t>(GridSampleCount(grid));
  DeviceFloats values(samples);
  std::unique_ptr<DeviceFloats> colours;
  if (colour != nullptr) colours = std::make_unique<DeviceFloats>(3 * samples);
  const Status status =
      field->Decode(grid, values.data, colours ? colours->data : nullptr, nullptr);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (colour != nullptr) *colour = colours->ToHost();
  return values.ToHost();
}

struct Comparison {
  double max_abs = 0.0;
  double mean_abs = 0.0;
  double range = 0.0;  // of `expected`
  double relative() const { return max_abs / range; }
};

template <typename Expected>
Comparison Compare(const std::vector<float>& got, const std::vector<Expected>& expected,
                   size_t stride = 1, size_t offset = 0) {
  Comparison c;
  double lo = INFINITY, hi = -INFINITY, sum = 0.0;
  size_t n = 0;
  for (size_t i = offset; i < expected.size(); i += stride) {
    const double e = static_cast<double>(expected[i]);
    // NaN in `got` makes the error NaN: count it as infinite.
    const double error = std::fabs(static_cast<double>(got[i]) - e);
    c.max_abs = std::isnan(error) ? INFINITY : std::max(c.max_abs, error);
    sum += error;
    lo = std::min(lo, e);
    hi = std::max(hi, e);
    ++n;
  }
  c.mean_abs = sum / static_cast<double>(n);
  c.range = hi - lo;
  return c;
}

std::vector<int64_t> AllSamples(const GridSpec& grid) {
  std::vector<int64_t> all(static_cast<size_t>(GridSampleCount(grid)));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return all;
}

TEST(FusedMlpFieldGpuTest, Fp32MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  // Widths that are not multiples of 8 (padding), a grid of 5292 samples decoded in
  // chunks of 1000 (the last one partial).
  const MlpWeights mlp = RandomMlpForTest({3, 60, 128, 100, 1}, 21);
  const GridSpec grid = CubeGrid(20, 17, 13);
  auto field = MakeField(mlp, Precision::kFp32, 1000);
  ASSERT_NE(field, nullptr);
  const std::vector<float> got = DecodeToHost(field.get(), grid);
  const std::vector<double> reference = ReferenceOutputs(mlp, grid, AllSamples(grid));
  const Comparison c = Compare(got, reference);
  std::printf("fp32 vs float64 reference: max abs %.3g, mean abs %.3g, range %.3g (%.2g)\n",
              c.max_abs, c.mean_abs, c.range, c.relative());
  EXPECT_LE(c.relative(), kFp32RelativeToReference);
}

TEST(FusedMlpFieldGpuTest, HalfPrecisionsMatchFp32WithinStatedTolerance) {
  SKIP_WITHOUT_GPU();
  // The benchmark's shape; 41 x 34 x 30 = 41820 samples in chunks of 5000.
  const MlpWeights mlp = RandomMlpForTest({3, 256, 256, 256, 256, 1}, 22);
  const GridSpec grid = CubeGrid(40, 33, 29);
  auto fp32 = MakeField(mlp, Precision::kFp32, 5000);
  ASSERT_NE(fp32, nullptr);
  const std::vector<float> reference = DecodeToHost(fp32.get(), grid);
  // And fp32 against float64 on a sample of points, on this wide network too.
  std::vector<int64_t> sample;
  for (int64_t s = 0; s < GridSampleCount(grid); s += 97) sample.push_back(s);
  const std::vector<double> exact = ReferenceOutputs(mlp, grid, sample);
  std::vector<float> fp32_sampled;
  for (int64_t s : sample) fp32_sampled.push_back(reference[s]);
  EXPECT_LE(Compare(fp32_sampled, exact).relative(), kFp32RelativeToReference);

  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  for (Precision precision : {Precision::kBf16, Precision::kFp16}) {
    if (precision == Precision::kBf16 && major < 8) continue;
    auto half = MakeField(mlp, precision, 5000);
    ASSERT_NE(half, nullptr);
    const Comparison c = Compare(DecodeToHost(half.get(), grid), reference);
    std::printf("%s vs fp32: max abs %.3g, mean abs %.3g, range %.3g, max/range %.3g\n",
                PrecisionName(precision), c.max_abs, c.mean_abs, c.range, c.relative());
    EXPECT_LE(c.relative(),
              precision == Precision::kBf16 ? kBf16RelativeToFp32 : kFp16RelativeToFp32)
        << PrecisionName(precision);
  }
}

TEST(FusedMlpFieldGpuTest, ChunkedEqualsUnchunked) {
  SKIP_WITHOUT_GPU();
  const MlpWeights mlp = RandomMlpForTest({3, 128, 128, 128, 1}, 23);
  const GridSpec grid = CubeGrid(30, 25, 19);  // 31 * 26 * 20 = 16120 samples
  for (Precision precision : {Precision::kFp32, Precision::kBf16, Precision::kFp16}) {
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
    if (precision == Precision::kBf16 && major < 8) continue;
    auto whole = MakeField(mlp, precision, 1 << 16);
    auto chunked = MakeField(mlp, precision, 777);
    ASSERT_NE(whole, nullptr);
    ASSERT_NE(chunked, nullptr);
    const std::vector<float> a = DecodeToHost(whole.get(), grid);
    const Comparison c = Compare(DecodeToHost(chunked.get(), grid), a);
    std::printf("%s chunk 777 vs one chunk: max abs %.3g (max/range %.3g)\n",
                PrecisionName(precision), c.max_abs, c.relative());
    // Columns of a GEMM are independent, but cuBLASLt may pick another algorithm (another
    // summation order) for another chunk size, which can flip a bf16/fp16 rounding here and
    // there: fp32 agrees to rounding, half precisions to well under their error against
    // fp32. A chunking bug (wrong rows or offsets) gives errors of the order of the range.
    EXPECT_LE(c.relative(), precision == Precision::kFp32 ? 2e-5 : 5e-3)
        << PrecisionName(precision);
  }
}

TEST(FusedMlpFieldGpuTest, GraphAndPlainLaunchesAreIdenticalAndReusable) {
  SKIP_WITHOUT_GPU();
  const MlpWeights mlp = RandomMlpForTest({3, 64, 64, 1}, 24);
  const GridSpec grid = CubeGrid(16, 16, 16);
  const GridSpec other = CubeGrid(9, 31, 5);
  // 4913 samples in chunks of 500: one 8-chunk graph launch, then two 1-chunk launches.
  auto graph = MakeField(mlp, Precision::kFp32, 500, /*graph=*/true, 8, /*autotune=*/false);
  auto plain = MakeField(mlp, Precision::kFp32, 500, /*graph=*/false, 8, /*autotune=*/false);
  auto single = MakeField(mlp, Precision::kFp32, 500, /*graph=*/true, 1, /*autotune=*/false);
  ASSERT_NE(graph, nullptr);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(single, nullptr);
  const std::vector<float> first = DecodeToHost(graph.get(), grid);
  EXPECT_EQ(DecodeToHost(plain.get(), grid), first);
  EXPECT_EQ(DecodeToHost(single.get(), grid), first);
  // Another grid in between must not leave state behind (the chunk counter, parameters).
  const std::vector<float> other_values = DecodeToHost(graph.get(), other);
  EXPECT_EQ(DecodeToHost(plain.get(), other), other_values);
  EXPECT_EQ(DecodeToHost(graph.get(), grid), first);
}

TEST(FusedMlpFieldGpuTest, ColourOutputsMatchReferenceWithoutHiddenGemms) {
  SKIP_WITHOUT_GPU();
  // One hidden layer: no GEMM at all, the output kernel reads the first layer's buffer.
  const MlpWeights mlp = RandomMlpForTest({3, 45, 4}, 25);
  const GridSpec grid = CubeGrid(12, 11, 10);
  auto field = MakeField(mlp, Precision::kFp32, 333);
  ASSERT_NE(field, nullptr);
  ASSERT_EQ(field->output_count(), 4);
  std::vector<float> colour;
  const std::vector<float> values = DecodeToHost(field.get(), grid, &colour);
  const std::vector<double> reference = ReferenceOutputs(mlp, grid, AllSamples(grid));
  std::vector<float> interleaved(reference.size());
  for (size_t s = 0; s < values.size(); ++s) {
    interleaved[4 * s] = values[s];
    for (int c = 0; c < 3; ++c) interleaved[4 * s + 1 + c] = colour[3 * s + c];
  }
  for (size_t output = 0; output < 4; ++output) {
    EXPECT_LE(Compare(interleaved, reference, 4, output).relative(), kFp32RelativeToReference)
        << "output " << output;
  }
}

TEST(FusedMlpFieldGpuTest, ProgressIsMonotonicAndCancelStops) {
  SKIP_WITHOUT_GPU();
  const MlpWeights mlp = RandomMlpForTest({3, 32, 32, 1}, 26);
  const GridSpec grid = CubeGrid(40, 40, 40);  // 68921 samples
  FusedMlpField::Options options;
  options.precision = Precision::kFp32;
  options.max_chunk_points = 4096;
  options.progress_interval_samples = 8192;
  options.autotune = false;  // compared bit for bit with another object below
  std::unique_ptr<FusedMlpField> field;
  ASSERT_TRUE(FusedMlpField::Create(mlp, options, &field).ok());
  DeviceFloats values(GridSampleCount(grid));

  std::vector<int64_t> reports;
  ASSERT_TRUE(field
                  ->Decode(grid, values.data, nullptr, nullptr,
                           [&](int64_t done, int64_t total) {
                             EXPECT_EQ(total, 68921);
                             reports.push_back(done);
                             return true;
                           })
                  .ok());
  ASSERT_GE(reports.size(), 3u);
  EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
  EXPECT_EQ(reports.back(), 68921);

  int calls = 0;
  const Status cancelled = field->Decode(grid, values.data, nullptr, nullptr,
                                         [&](int64_t, int64_t) { return ++calls < 2; });
  EXPECT_EQ(cancelled.code(), StatusCode::kCancelled) << cancelled.ToString();
  EXPECT_EQ(calls, 2);
  // The object is still usable after a cancel.
  auto reference = MakeField(mlp, Precision::kFp32, 4096, true, 8, /*autotune=*/false);
  EXPECT_EQ(DecodeToHost(field.get(), grid), DecodeToHost(reference.get(), grid));
}

TEST(FusedMlpFieldGpuTest, BadArgumentsGiveClearErrors) {
  SKIP_WITHOUT_GPU();
  const MlpWeights mlp = RandomMlpForTest({3, 16, 1}, 27);
  std::unique_ptr<FusedMlpField> field;
  FusedMlpField::Options options;
  options.precision = Precision::kFp32;

  MlpWeights broken = mlp;
  broken.biases[0].pop_back();
  Status status = FusedMlpField::Create(broken, options, &field);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("biases[0]"), std::string::npos) << status.message();

  FusedMlpField::Options bad_chunk = options;
  bad_chunk.max_chunk_points = 0;
  status = FusedMlpField::Create(mlp, bad_chunk, &field);
  EXPECT_NE(status.message().find("max_chunk_points"), std::string::npos) << status.message();

  FusedMlpField::Options bad_device = options;
  bad_device.device = 1000;
  status = FusedMlpField::Create(mlp, bad_device, &field);
  EXPECT_NE(status.message().find("options.device = 1000"), std::string::npos) << status.message();

  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  if (major < 8) {
    FusedMlpField::Options bf16 = options;
    bf16.precision = Precision::kBf16;
    status = FusedMlpField::Create(mlp, bf16, &field);
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  }

  ASSERT_TRUE(FusedMlpField::Create(mlp, options, &field).ok());
  const GridSpec grid = CubeGrid(4, 4, 4);
  std::vector<float> host(125);
  status = field->Decode(grid, host.data(), nullptr, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("device_field must be device memory"), std::string::npos)
      << status.message();
  DeviceFloats values(125);
  status = field->Decode(grid, values.data, values.data, nullptr);
  EXPECT_NE(status.message().find("device_colour given"), std::string::npos) << status.message();
  status = field->Decode(grid, nullptr, nullptr, nullptr);
  EXPECT_NE(status.message().find("device_field is null"), std::string::npos);
  GridSpec absurd = grid;
  absurd.cells[2] = -3;
  status = field->Decode(absurd, values.data, nullptr, nullptr);
  EXPECT_NE(status.message().find("grid.cells[2] = -3"), std::string::npos) << status.message();
  // After all that, a good decode still works.
  EXPECT_TRUE(field->Decode(grid, values.data, nullptr, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace kiln::fieldnet
