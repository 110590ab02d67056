// field.decode on the CPU with the built-in model kiln-torus@1 (fitted by the build) and
// with small modules defined here that misbehave.
#include "worker/torch/field_decode_task.h"

#include <filesystem>
#include <fstream>

#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/ply.h"
#include "worker/torch/field_decoder.h"
#include "worker/torch/test_models.h"

namespace kiln::torchrt {
namespace {

using ::testing::HasSubstr;

using ::kiln::testing::JsonStruct;

double Number(const tasks::TaskOutput& out, const std::string& key) {
  return out.summary.fields().at(key).number_value();
}

class FieldDecodeTest : public ::testing::Test {
 protected:
  // `root` holds the models; the built-in repository by default.
  void Open(const std::string& root = KILN_BUILTIN_MODELS_DIR) {
    auto repo = models::ModelRepository::Open({.root = root});
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    auto cache = ModelCache::Create({.budget_bytes = 64 << 20});
    ASSERT_TRUE(cache.ok());
    cache_ = *std::move(cache);
    device_ = SelectTorchDevice({});
    ASSERT_EQ(device_.unavailable_reason, "");
    task_ = std::make_unique<FieldDecodeTask>(FieldDecodeTaskOptions{
        .repository = repo_.get(), .cache = cache_.get(), .device = device_});
  }

  absl::StatusOr<tasks::TaskOutput> Run(const std::string& model, const std::string& params) {
    request_.set_task("field.decode");
    request_.set_model(model);
    *request_.mutable_parameters() = JsonStruct(params);
    request_.set_output_dir(out_.path());
    tasks::TaskContext context;
    context.request = &request_;
    context.report_progress = [this](double fraction, std::string_view message) {
      progress_.push_back(fraction);
    };
    return task_->Run(context);
  }

  kiln::testing::ScopedTempDir out_;
  std::unique_ptr<models::ModelRepository> repo_;
  std::unique_ptr<ModelCache> cache_;
  TorchDevice device_;
  std::unique_ptr<FieldDecodeTask> task_;
  kiln::v1::RunTaskRequest request_;
  std::vector<double> progress_;
};

TEST_F(FieldDecodeTest, BuiltinTorusHasTheRightSignAtKnownPoints) {
  Open();
  auto entry = repo_->Find("kiln-torus");
  ASSERT_TRUE(entry.ok()) << entry.status();
  auto model = cache_->Acquire(**entry, torch::kFloat32);
  ASSERT_TRUE(model.ok()) << model.status();
  // [-1, 1]^3 at 0.1 spacing: sample i is at x = -1 + 0.1 i.
  const tasks::GridSpec grid = FieldGrid({.min = {-1, -1, -1}, .max = {1, 1, 1}}, 20);
  ASSERT_EQ(grid.cells[0], 20);
  auto field = DecodeFieldToHost(*model->model, grid, {.batch_size = 1000});
  ASSERT_TRUE(field.ok()) << field.status();
  const auto at = [&](int i, int j, int k) { return (*field)[i + 21 * (j + 21 * k)]; };
  // Inside the tube (on the core circle): -0.25 exactly; the fit is loosest deep inside
  // (about 0.1 off there), so only the sign is asserted with margin.
  EXPECT_LT(at(16, 10, 10), -0.05);
  EXPECT_LT(at(10, 4, 10), -0.05);  // y = -0.6
  // The hole in the middle and the corners are outside.
  EXPECT_GT(at(10, 10, 10), 0.25);  // origin: 0.6 - 0.25 = 0.35
  EXPECT_GT(at(0, 0, 0), 0.5);
  EXPECT_GT(at(16, 10, 16), 0.2);  // above the tube: z = 0.6
}

TEST_F(FieldDecodeTest, MeshIsAWatertightTorusAndTheSecondRunHitsTheCache) {
  Open();
  auto first = Run("kiln-torus", R"({"resolution":40,"batch_size":5000})");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->outputs.size(), 1u);
  auto mesh = tasks::ReadPly(first->outputs[0].path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const tasks::MeshStats stats = tasks::ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(stats.euler_characteristic, 0);  // A torus: genus 1.
  EXPECT_GT(stats.faces, 1000);
  ASSERT_EQ(mesh->normals.size(), mesh->positions.size());
  // The torus is 2 pi^2 R r^2 = 0.740; the fit and the grid cost a few percent.
  EXPECT_NEAR(stats.signed_volume, 2 * M_PI * M_PI * 0.6 * 0.25 * 0.25, 0.06);
  EXPECT_NEAR(stats.bbox_max[0], 0.85, 0.05);
  EXPECT_NEAR(stats.bbox_max[2], 0.25, 0.05);
  const auto& summary = first->summary.fields();
  EXPECT_EQ(summary.at("model").string_value(), "kiln-torus@1");
  EXPECT_EQ(summary.at("device").string_value(), "cpu");
  EXPECT_EQ(summary.at("dtype").string_value(), "float32");
  EXPECT_EQ(summary.at("tier").string_value(), "cpu-fp32");
  EXPECT_FALSE(summary.at("cache_hit").bool_value());
  EXPECT_GT(Number(*first, "load_seconds"), 0);
  EXPECT_EQ(Number(*first, "points"), 41 * 41 * 41);
  EXPECT_GT(Number(*first, "points_per_second"), 0);
  EXPECT_TRUE(summary.at("watertight").bool_value());
  // Progress per batch (41^3 / 5000 = 14 batches), rising to 1.
  EXPECT_GE(progress_.size(), 14u);
  EXPECT_TRUE(std::is_sorted(progress_.begin(), progress_.end()));
  EXPECT_EQ(progress_.back(), 1.0);

  auto second = Run("kiln-torus@1", R"({"resolution":40})");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->summary.fields().at("cache_hit").bool_value());
  EXPECT_EQ(Number(*second, "load_seconds"), 0);
  EXPECT_EQ(Number(*second, "faces"), Number(*first, "faces"));  // Same field, same mesh.
  EXPECT_EQ(cache_->stats().loads, 1);
}

TEST_F(FieldDecodeTest, PreviewAddsAPngAndAGifOfTheMesh) {
  Open();
  auto out = Run("kiln-torus", R"({"resolution":24,"preview":{"frames":3,"size":[64,48]}})");
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<std::string> names;
  for (const auto& file : out->outputs) names.push_back(file.name());
  EXPECT_EQ(names, (std::vector<std::string>{"mesh.ply", "preview.png", "preview.gif"}));
  auto png = image::ReadPng(out->outputs[1].path());
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, 64);
  EXPECT_EQ(png->height, 48);
  // The torus covers part of the frame: some pixels are drawn, some are background.
  int drawn = 0;
  for (size_t p = 3; p < png->rgba.size(); p += 4) drawn += png->rgba[p] == 255 ? 1 : 0;
  EXPECT_GT(drawn, 64 * 48 / 10);
  EXPECT_LT(drawn, 64 * 48);
  const auto& preview = out->summary.fields().at("preview").struct_value().fields();
  EXPECT_EQ(preview.at("frames").number_value(), 3);
  EXPECT_EQ(preview.at("renderer").string_value(), "cpu");

  auto volume = Run("kiln-torus", R"({"resolution":8,"output":"volume","preview":true})");
  EXPECT_TRUE(absl::IsInvalidArgument(volume.status())) << volume.status();
  EXPECT_THAT(volume.status().message(), HasSubstr("parameters.preview"));
}

TEST_F(FieldDecodeTest, VolumeIsANpyOfTheGridWithXFastest) {
  Open();
  auto out =
      Run("kiln-torus",
          R"({"resolution":16,"output":"volume","bounds":{"min":[-1,-1,-0.5],"max":[1,1,0.5]}})");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->outputs.size(), 1u);
  EXPECT_EQ(out->outputs[0].name(), "field.npy");
  const auto& shape = out->summary.fields().at("shape").list_value();
  ASSERT_EQ(shape.values_size(), 3);
  EXPECT_EQ(shape.values(0).number_value(), 9);  // z: 1.0 / 0.125 = 8 cubes
  EXPECT_EQ(shape.values(2).number_value(), 17);
  std::ifstream in(out->outputs[0].path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 128u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const size_t header =
      10 + static_cast<unsigned char>(bytes[8]) + 256 * static_cast<unsigned char>(bytes[9]);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_THAT(bytes.substr(10, header - 10), HasSubstr("'shape': (9, 17, 17)"));
  ASSERT_EQ(bytes.size(), header + 9 * 17 * 17 * 4);
  // Sample (i=13, j=8, k=4) is (0.625, 0, 0): inside the tube. (i=8, same) is the hole.
  float inside, hole;
  std::memcpy(&inside, bytes.data() + header + 4 * (13 + 17 * (8 + 17 * 4)), 4);
  std::memcpy(&hole, bytes.data() + header + 4 * (8 + 17 * (8 + 17 * 4)), 4);
  EXPECT_LT(inside, -0.1);
  EXPECT_GT(hole, 0.25);
}

TEST_F(FieldDecodeTest, BadInputGivesClearErrors) {
  kiln::testing::ScopedTempDir root;
  testing::WriteTestModel(root.path(), "sphere", testing::kSphereBody);
  testing::WriteTestModel(root.path(), "wide", "points * 2.0");
  testing::WriteTestModel(root.path(), "nan", "torch.sqrt(points[:, 0] - 100.0)");
  testing::WriteTestModel(root.path(), "throws", "torch.mm(points, points)");
  Open(root.path());

  auto ok = Run("sphere", R"({"resolution":16})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->summary.fields().at("watertight").bool_value());

  auto wide = Run("wide", R"({"resolution":8})");
  EXPECT_TRUE(absl::IsInvalidArgument(wide.status())) << wide.status();
  EXPECT_THAT(wide.status().message(),
              HasSubstr("model wide@1: forward() returned shape [729, 3]"));

  auto nan = Run("nan", R"({"resolution":8})");
  EXPECT_TRUE(absl::IsInvalidArgument(nan.status())) << nan.status();
  EXPECT_THAT(nan.status().message(), HasSubstr("NaN or infinite"));
  EXPECT_THAT(nan.status().message(), HasSubstr("nan@1"));

  auto throws = Run("throws", R"({"resolution":8})");
  EXPECT_TRUE(absl::IsInvalidArgument(throws.status())) << throws.status();
  EXPECT_THAT(throws.status().message(), HasSubstr("model throws@1: forward() failed"));

  auto absurd = Run("sphere", R"({"resolution":100000})");
  EXPECT_TRUE(absl::IsInvalidArgument(absurd.status()));
  EXPECT_THAT(absurd.status().message(), HasSubstr("parameters.resolution"));

  auto missing = Run("cube", "{}");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("\"cube\""));

  auto none = Run("", "{}");
  EXPECT_TRUE(absl::IsInvalidArgument(none.status()));
  EXPECT_THAT(none.status().message(), HasSubstr("model: field.decode needs a model"));
}

TEST(FieldGridTest, LongestAxisHasResolutionCubes) {
  const tasks::GridSpec grid = FieldGrid({.min = {0, 0, 0}, .max = {2, 1, 0.3}}, 20);
  EXPECT_EQ(grid.cells[0], 20);
  EXPECT_EQ(grid.cells[1], 10);
  EXPECT_EQ(grid.cells[2], 3);
  EXPECT_DOUBLE_EQ(grid.spacing[0], 0.1);
}

}  // namespace
}  // namespace kiln::torchrt
