// GPU tests of field.decode (label gpu; skipped without CUDA in LibTorch): the built-in
// model decoded in bfloat16 and float16 matches float32 within a stated tolerance, and
// the model stays loaded across two tasks.
#include <cmath>

#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/torch/field_decode_task.h"
#include "worker/torch/field_decoder.h"

namespace kiln::torchrt {
namespace {

// The fitted SDF spans about [-0.25, 1.3] over [-1,1]^3. bf16 keeps 8 bits of mantissa
// (relative error 2^-8 per operation through 4 layers), fp16 11 bits.
constexpr double kBfloat16Tolerance = 0.03;
constexpr double kFloat16Tolerance = 0.005;

class FieldDecodeGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to LibTorch";
    auto repo = models::ModelRepository::Open({.root = KILN_BUILTIN_MODELS_DIR});
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    auto cache = ModelCache::Create(
        {.device = torch::Device(torch::kCUDA, 0), .budget_bytes = int64_t{1} << 30});
    ASSERT_TRUE(cache.ok());
    cache_ = *std::move(cache);
  }

  std::vector<float> Decode(torch::ScalarType dtype) {
    auto entry = repo_->Find("kiln-torus");
    EXPECT_TRUE(entry.ok());
    auto model = cache_->Acquire(**entry, dtype);
    EXPECT_TRUE(model.ok()) << model.status();
    const tasks::GridSpec grid = FieldGrid({.min = {-1, -1, -1}, .max = {1, 1, 1}}, 64);
    auto field = DecodeFieldToHost(*model->model, grid, {.batch_size = 65536});
    EXPECT_TRUE(field.ok()) << field.status();
    return field.ok() ? *field : std::vector<float>{};
  }

  static double MaxAbsDifference(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double{a[i]} - b[i]));
    return worst;
  }

  std::unique_ptr<models::ModelRepository> repo_;
  std::unique_ptr<ModelCache> cache_;
};

TEST_F(FieldDecodeGpuTest, HalfPrecisionMatchesFloat32) {
  const std::vector<float> fp32 = Decode(torch::kFloat32);
  const std::vector<float> bf16 = Decode(torch::kBFloat16);
  const std::vector<float> fp16 = Decode(torch::kFloat16);
  ASSERT_EQ(fp32.size(), size_t{65 * 65 * 65});
  ASSERT_EQ(bf16.size(), fp32.size());
  ASSERT_EQ(fp16.size(), fp32.size());
  const double bf16_error = MaxAbsDifference(bf16, fp32);
  const double fp16_error = MaxAbsDifference(fp16, fp32);
  std::printf("max |bf16 - fp32| = %.5f, max |fp16 - fp32| = %.5f over 65^3 samples\n", bf16_error,
              fp16_error);
  EXPECT_LT(bf16_error, kBfloat16Tolerance);
  EXPECT_LT(fp16_error, kFloat16Tolerance);
}

TEST_F(FieldDecodeGpuTest, ModelStaysLoadedAcrossTwoTasks) {
  kiln::v1::Device description;
  description.set_id("cuda:0");
  description.set_compute_capability(80);  // The bf16 tier.
  description.set_runnable(true);
  TorchDevice device;
  device.device = torch::Device(torch::kCUDA, 0);
  device.description = description;
  FieldDecodeTask task({.repository = repo_.get(), .cache = cache_.get(), .device = device});
  kiln::testing::ScopedTempDir out;
  kiln::v1::RunTaskRequest request;
  request.set_model("kiln-torus");
  request.set_output_dir(out.path());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(R"({"resolution":128})",
                                                          request.mutable_parameters())
                  .ok());
  tasks::TaskContext context;
  context.request = &request;
  auto first = task.Run(context);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = task.Run(context);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(first->summary.fields().at("cache_hit").bool_value());
  EXPECT_TRUE(second->summary.fields().at("cache_hit").bool_value());
  EXPECT_EQ(second->summary.fields().at("load_seconds").number_value(), 0);
  EXPECT_EQ(second->summary.fields().at("device").string_value(), "cuda:0");
  EXPECT_EQ(second->summary.fields().at("dtype").string_value(), "bfloat16");
  EXPECT_TRUE(second->summary.fields().at("watertight").bool_value());
  EXPECT_EQ(cache_->stats().loads, 1);
}

}  // namespace
}  // namespace kiln::torchrt
