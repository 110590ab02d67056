// image.to3d and scene.compose end to end with real processes on loopback:
// kiln-scheduler, kiln-worker with kiln-exec children, and kilnctl uploading the inputs,
// waiting and fetching the GLBs.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"
#include "worker/image/png.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/meshio/mesh_io.h"

namespace kiln::testing {
namespace {

std::string SubmittedId(const CommandResult& submit) {
  return std::string(absl::StripAsciiWhitespace(submit.out.substr(0, submit.out.find('\n'))));
}

kiln::v1::Job GetJob(LocalFarm& farm, const std::string& id) {
  CommandResult get = farm.Kilnctl({"get", id, "-o", "json"});
  kiln::v1::Job job;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &job).ok()) << get.out;
  return job;
}

// kilnctl fetch prints one path per line; the one ending in `name`.
std::string FetchedPath(LocalFarm& farm, const std::string& id, const std::string& name) {
  CommandResult fetch = farm.Kilnctl({"fetch", id, "--dir", farm.dir() + "/fetched-" + id});
  EXPECT_EQ(fetch.exit_code, 0) << fetch.err;
  for (absl::string_view line : absl::StrSplit(fetch.out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::EndsWith(line, name)) return std::string(line);
  }
  ADD_FAILURE() << "no " << name << " in: " << fetch.out;
  return "";
}

TEST(Image3dEndToEnd, PhotoToClosedGlbWithPreviewAndSceneOfThreeNodes) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());

  // image.to3d on the photo-like fixture, with a two-frame preview.
  const std::string photo = std::string(KILN_TEST_DATA_DIR) + "/images/photo_like_object.png";
  CommandResult submit = farm.Kilnctl(
      {"submit", "image.to3d", "--input", "photo.png=" + photo, "--params",
       R"({"input": "photo.png", "preview": {"frames": 2, "size": [64, 64]}})", "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err << farm.Log("worker-0.log");
  const std::string id = SubmittedId(submit);
  const kiln::v1::Job job = GetJob(farm, id);
  EXPECT_EQ(job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.outputs_size(), 3);  // mesh.glb, preview.png, preview.gif
  EXPECT_TRUE(job.result().fields().at("watertight").bool_value());
  absl::StatusOr<tasks::Mesh> mesh = tasks::ReadGlb(FetchedPath(farm, id, "mesh.glb"));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const tasks::MeshStats stats = tasks::ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_EQ(job.result().fields().at("faces").number_value(), stats.faces);
  EXPECT_EQ(mesh->colors.size(), mesh->positions.size());
  absl::StatusOr<image::Image> preview = image::ReadPng(FetchedPath(farm, id, "preview.png"));
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->width, 64);

  // scene.compose: the fetched GLB placed twice, beside a box written as OBJ.
  tasks::Mesh box;
  for (int i = 0; i < 8; ++i) {
    box.positions.push_back({i & 1 ? 1.f : 0.f, i & 2 ? 1.f : 0.f, i & 4 ? 1.f : 0.f});
  }
  box.triangles = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4},
                   {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}};
  const std::string box_path = farm.dir() + "/box.obj";
  ASSERT_TRUE(tasks::WriteMesh(box, box_path).ok());
  const std::string apple_path = FetchedPath(farm, id, "mesh.glb");
  CommandResult compose =
      farm.Kilnctl({"submit", "scene.compose", "--input", "apple.glb=" + apple_path, "--input",
                    "box.obj=" + box_path, "--params",
                    R"({"objects": [
             {"input": "apple.glb", "name": "left", "translation": [-1, 0, 0]},
             {"input": "apple.glb", "name": "right", "translation": [1, 0, 0],
              "rotation": {"axis": [0, 1, 0], "degrees": 180}},
             {"input": "box.obj", "name": "table", "translation": [-2, -1.5, -1],
              "scale": [4, 1, 2]}],
           "output": "table.glb"})",
                    "--wait"});
  ASSERT_EQ(compose.exit_code, 0) << compose.out << compose.err << farm.Log("worker-0.log");
  const std::string scene_id = SubmittedId(compose);
  const kiln::v1::Job scene_job = GetJob(farm, scene_id);
  EXPECT_EQ(scene_job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(scene_job.result().fields().at("nodes").number_value(), 3);
  EXPECT_EQ(scene_job.result().fields().at("faces").number_value(), 2 * stats.faces + 12);
  absl::StatusOr<tasks::Mesh> scene = tasks::ReadGlb(FetchedPath(farm, scene_id, "table.glb"));
  ASSERT_TRUE(scene.ok()) << scene.status();
  EXPECT_EQ(static_cast<int64_t>(scene->triangles.size()), 2 * stats.faces + 12);
  const tasks::MeshStats scene_stats = tasks::ComputeMeshStats(*scene);
  EXPECT_NEAR(scene_stats.bbox_min[0], -2, 1e-4);  // The table's left end.
  EXPECT_NEAR(scene_stats.bbox_min[1], -1.5, 1e-4);
}

TEST(Image3dEndToEnd, BadInputsFailTheJobByName) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  // Refused at submit: the scheduler validates with the same parser.
  CommandResult refused = farm.Kilnctl(
      {"submit", "scene.compose", "--params",
       R"({"objects": [{"input": "a.ply", "rotation": {"axis": [0, 0, 0], "degrees": 90}}]})"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE((refused.out + refused.err).find("parameters.objects[0].rotation.axis"),
            std::string::npos)
      << refused.out << refused.err;

  // Fails on the worker: a fully transparent image.
  const std::string empty = farm.dir() + "/empty.png";
  ASSERT_TRUE(image::WritePng(image::Image::Blank(32, 32), empty).ok());
  CommandResult nothing = farm.Kilnctl({"submit", "image.to3d", "--input", "empty.png=" + empty,
                                        "--params", R"({"input": "empty.png"})", "--wait"});
  EXPECT_NE(nothing.exit_code, 0);
  const kiln::v1::Job failed = GetJob(farm, SubmittedId(nothing));
  EXPECT_EQ(failed.state(), kiln::v1::JOB_STATE_FAILED);
  EXPECT_NE(failed.status_message().find("image has no foreground"), std::string::npos)
      << failed.status_message();
}

}  // namespace
}  // namespace kiln::testing
