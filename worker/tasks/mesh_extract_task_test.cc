#include "worker/tasks/mesh_extract_task.h"

#include <filesystem>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/ply.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;

class MeshExtractTaskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(temp_.path().empty()); }

  absl::StatusOr<TaskOutput> Run(const std::string& parameters) {
    kiln::v1::RunTaskRequest request;
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

}  // namespace
}  // namespace kiln::tasks
