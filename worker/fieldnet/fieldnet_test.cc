// CPU tests of worker/fieldnet: validation, the weights file, the float64 reference, and
// the per-point math the kernels run (mlp_point_math.h), on the host.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "worker/fieldnet/fieldnet_test_util.h"
#include "worker/fieldnet/grid_spec.h"
#include "worker/fieldnet/mlp_point_math.h"
#include "worker/fieldnet/mlp_reference.h"
#include "worker/fieldnet/mlp_weights.h"

namespace kiln::fieldnet {
namespace {

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fieldnet_test_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void ExpectInvalid(const Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find(fragment), std::string::npos)
      << "'" << status.message() << "' should mention '" << fragment << "'";
}

TEST(MlpWeightsTest, AcceptsWellFormedNetworks) {
  EXPECT_TRUE(ValidateMlpWeights(RandomMlpForTest({3, 256, 256, 256, 256, 1}, 1)).ok());
  EXPECT_TRUE(ValidateMlpWeights(RandomMlpForTest({3, 50, 4}, 2)).ok());
}

TEST(MlpWeightsTest, RejectsBadWidthsNamingTheField) {
  ExpectInvalid(ValidateMlpWeights(MlpWeights{}), "widths has 0 entries");
  ExpectInvalid(ValidateMlpWeights(RandomMlpForTest({3, 1}, 1)), "widths has 2 entries");
  ExpectInvalid(ValidateMlpWeights(RandomMlpForTest({2, 16, 1}, 1)), "widths[0] = 2");
  ExpectInvalid(ValidateMlpWeights(RandomMlpForTest({3, 16, 2}, 1)), "widths[2] = 2");
  MlpWeights zero_width = RandomMlpForTest({3, 16, 16, 1}, 1);
  zero_width.widths[2] = 0;
  ExpectInvalid(ValidateMlpWeights(zero_width), "widths[2] = 0");
  ExpectInvalid(ValidateMlpWeights(RandomMlpForTest({3, kMaxHiddenWidth + 1, 1}, 1)),
                "widths[1] = 2049");
}

TEST(MlpWeightsTest, RejectsMismatchedOrNonFiniteValues) {
  MlpWeights short_weights = RandomMlpForTest({3, 16, 8, 1}, 3);
  short_weights.weights[1].pop_back();
  ExpectInvalid(ValidateMlpWeights(short_weights), "weights[1] has 127 values, expected 128");
  MlpWeights short_bias = RandomMlpForTest({3, 16, 8, 1}, 3);
  short_bias.biases[2].push_back(0.0f);
  ExpectInvalid(ValidateMlpWeights(short_bias), "biases[2] has 2 values, expected 1");
  MlpWeights missing_layer = RandomMlpForTest({3, 16, 8, 1}, 3);
  missing_layer.weights.pop_back();
  ExpectInvalid(ValidateMlpWeights(missing_layer), "weights has 2 layers, widths imply 3");
  MlpWeights nan = RandomMlpForTest({3, 16, 8, 1}, 3);
  nan.weights[1][5] = std::nanf("");
  ExpectInvalid(ValidateMlpWeights(nan), "weights[1][5] is not finite");
  MlpWeights inf = RandomMlpForTest({3, 16, 8, 1}, 3);
  inf.biases[0][2] = INFINITY;
  ExpectInvalid(ValidateMlpWeights(inf), "biases[0][2] is not finite");
}

TEST(MlpWeightsTest, FlopsOfTheBenchmarkNetwork) {
  EXPECT_EQ(MlpFlopsPerPoint({3, 256, 256, 256, 256, 1}), 395264);
  EXPECT_EQ(MlpFlopsPerPoint({3, 4, 1}), 2 * (12 + 4));
}

TEST(MlpWeightsFileTest, RoundTripsExactly) {
  TempDir dir;
  const MlpWeights mlp = RandomMlpForTest({3, 20, 12, 4}, 7);
  ASSERT_TRUE(WriteMlpWeightsFile(dir.File("mlp.kmlp"), mlp).ok());
  MlpWeights read;
  const Status status = ReadMlpWeightsFile(dir.File("mlp.kmlp"), &read);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(read.widths, mlp.widths);
  EXPECT_EQ(read.weights, mlp.weights);
  EXPECT_EQ(read.biases, mlp.biases);
}

TEST(MlpWeightsFileTest, BadFilesGiveErrorsNamingTheFile) {
  TempDir dir;
  MlpWeights out;
  ExpectInvalid(ReadMlpWeightsFile(dir.File("missing.kmlp"), &out), "missing.kmlp: cannot open");

  const std::string garbage = dir.File("garbage.kmlp");
  std::ofstream(garbage) << "not weights at all";
  ExpectInvalid(ReadMlpWeightsFile(garbage, &out), "garbage.kmlp: not a Kiln MLP weights file");

  const MlpWeights mlp = RandomMlpForTest({3, 20, 1}, 7);
  const std::string good = dir.File("good.kmlp");
  ASSERT_TRUE(WriteMlpWeightsFile(good, mlp).ok());
  const auto size = std::filesystem::file_size(good);

  const std::string truncated = dir.File("truncated.kmlp");
  std::filesystem::copy_file(good, truncated);
  std::filesystem::resize_file(truncated, size - 5);
  ExpectInvalid(ReadMlpWeightsFile(truncated, &out), "truncated.kmlp: truncated in layer 1");

  const std::string trailing = dir.File("trailing.kmlp");
  std::filesystem::copy_file(good, trailing);
  std::ofstream(trailing, std::ios::app | std::ios::binary) << "xy";
  ExpectInvalid(ReadMlpWeightsFile(trailing, &out), "2 unexpected trailing bytes");

  // A header that claims a 2-input network: the validation message, prefixed by the file.
  MlpWeights two_inputs = mlp;
  const std::string wrong_input = dir.File("wrong_input.kmlp");
  ASSERT_TRUE(WriteMlpWeightsFile(wrong_input, mlp).ok());
  {
    std::fstream patch(wrong_input, std::ios::in | std::ios::out | std::ios::binary);
    patch.seekp(12);  // magic (8) + count (4): widths[0]
    const int32_t two = 2;
    patch.write(reinterpret_cast<const char*>(&two), sizeof(two));
  }
  const Status status = ReadMlpWeightsFile(wrong_input, &out);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("wrong_input.kmlp"), std::string::npos) << status.message();
}

TEST(GridSpecTest, RejectsAbsurdGridsNamingTheField) {
  GridSpec grid;
  grid.cells[0] = grid.cells[1] = grid.cells[2] = 8;
  EXPECT_TRUE(ValidateGridSpec(grid).ok());
  EXPECT_EQ(GridSampleCount(grid), 729);

  GridSpec zero = grid;
  zero.cells[1] = 0;
  ExpectInvalid(ValidateGridSpec(zero), "grid.cells[1] = 0");
  GridSpec negative_spacing = grid;
  negative_spacing.spacing[2] = -0.5f;
  ExpectInvalid(ValidateGridSpec(negative_spacing), "grid.spacing[2]");
  GridSpec nan_origin = grid;
  nan_origin.origin[0] = std::nanf("");
  ExpectInvalid(ValidateGridSpec(nan_origin), "grid.origin[0] is not finite");
  GridSpec huge_axis = grid;
  huge_axis.cells[0] = int64_t{1} << 40;
  ExpectInvalid(ValidateGridSpec(huge_axis), "grid.cells[0]");
  GridSpec huge = grid;
  huge.cells[0] = huge.cells[1] = huge.cells[2] = 60000;
  ExpectInvalid(ValidateGridSpec(huge), "samples: at most");
}

TEST(PointMathTest, GridSamplesAreXFastest) {
  GridSpec grid;
  grid.origin[0] = -1.0f, grid.origin[1] = 0.5f, grid.origin[2] = 2.0f;
  grid.spacing[0] = 0.25f, grid.spacing[1] = 0.5f, grid.spacing[2] = 0.125f;
  grid.cells[0] = 4, grid.cells[1] = 2, grid.cells[2] = 3;  // 5 x 3 x 4 samples
  for (int k = 0; k <= 3; ++k) {
    for (int j = 0; j <= 2; ++j) {
      for (int i = 0; i <= 4; ++i) {
        const Point3 p = GridSamplePoint(grid, i + 5 * (j + 3 * k));
        EXPECT_FLOAT_EQ(p.x, -1.0f + 0.25f * i);
        EXPECT_FLOAT_EQ(p.y, 0.5f + 0.5f * j);
        EXPECT_FLOAT_EQ(p.z, 2.0f + 0.125f * k);
      }
    }
  }
  EXPECT_EQ(PaddedWidth(1), 8);
  EXPECT_EQ(PaddedWidth(256), 256);
  EXPECT_EQ(PaddedWidth(257), 264);
}

TEST(ReferenceTest, MatchesAHandComputedNetwork) {
  // h0 = relu(x - y), h1 = relu(z + 1); out = 2 h0 + h1 - 0.5.
  MlpWeights mlp;
  mlp.widths = {3, 2, 1};
  mlp.weights = {{1, -1, 0, 0, 0, 1}, {2, 1}};
  mlp.biases = {{0, 1}, {-0.5f}};
  ASSERT_TRUE(ValidateMlpWeights(mlp).ok());
  EXPECT_DOUBLE_EQ(ReferenceActivations(mlp, 3, 1, 0).back()[0], 2 * 2 + 1 - 0.5);
  EXPECT_DOUBLE_EQ(ReferenceActivations(mlp, 1, 3, -2).back()[0], 0 + 0 - 0.5);  // both ReLUs cut
  GridSpec grid;
  grid.cells[0] = grid.cells[1] = grid.cells[2] = 2;                        // samples at 0, 1, 2
  const std::vector<double> out = ReferenceOutputs(mlp, grid, {2, 9 * 2});  // (2,0,0), (0,0,2)
  ASSERT_EQ(out.size(), 2u);
  EXPECT_DOUBLE_EQ(out[0], 2 * 2 + 1 - 0.5);
  EXPECT_DOUBLE_EQ(out[1], 0 + 3 - 0.5);
}

// The first-layer kernel's per-unit math against the float64 reference's first layer.
TEST(PointMathTest, FirstLayerUnitMatchesReference) {
  const MlpWeights mlp = RandomMlpForTest({3, 200, 1}, 11);
  GridSpec grid;
  grid.origin[0] = grid.origin[1] = grid.origin[2] = -1.0f;
  grid.spacing[0] = grid.spacing[1] = grid.spacing[2] = 2.0f / 23;
  grid.cells[0] = grid.cells[1] = grid.cells[2] = 23;
  double worst = 0.0;
  for (int64_t s = 0; s < GridSampleCount(grid); s += 37) {
    const Point3 p = GridSamplePoint(grid, s);
    const auto reference = ReferenceActivations(mlp, p.x, p.y, p.z);
    for (int unit = 0; unit < 200; ++unit) {
      const float got = FirstLayerUnit(&mlp.weights[0][3 * unit], mlp.biases[0][unit], p);
      worst = std::max(worst, std::fabs(got - reference[1][unit]));
    }
  }
  // |w|, |b| <= 0.58 and |xyz| <= 1: float rounding of a 4-term sum.
  EXPECT_LT(worst, 1e-6);
}

// The output kernel's warp-ordered dot product against the float64 reference's last layer,
// for widths that take one group per lane (<= 256, with padding) and several (> 256).
TEST(PointMathTest, OutputUnitLikeWarpMatchesReference) {
  for (int width : {50, 256, 300}) {
    const MlpWeights mlp = RandomMlpForTest({3, width, 4}, 13 + width);
    const int padded = PaddedWidth(width);
    double worst = 0.0;
    for (int s = 0; s < 50; ++s) {
      const double x = -1.0 + 0.04 * s, y = 0.3 - 0.01 * s, z = std::sin(s);
      const auto reference = ReferenceActivations(mlp, x, y, z);
      std::vector<float> h(padded, 0.0f);
      for (int i = 0; i < width; ++i) h[i] = static_cast<float>(reference[1][i]);
      for (int o = 0; o < 4; ++o) {
        std::vector<float> w(padded, 0.0f);
        for (int i = 0; i < width; ++i) w[i] = mlp.weights[1][o * width + i];
        // The reference from the float-rounded activations, so only the dot product's
        // rounding is measured.
        double expected = mlp.biases[1][o];
        for (int i = 0; i < width; ++i) expected += static_cast<double>(w[i]) * h[i];
        const float got = OutputUnitLikeWarp(h.data(), w.data(), padded, mlp.biases[1][o]);
        worst = std::max(worst, std::fabs(got - expected));
        EXPECT_NEAR(got, reference[2][o], 1e-5) << "width " << width << " output " << o;
      }
    }
    EXPECT_LT(worst, 2e-6) << "width " << width;
  }
}

}  // namespace
}  // namespace kiln::fieldnet
