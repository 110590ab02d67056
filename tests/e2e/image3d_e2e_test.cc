// image.segment, image.to3d and scene.compose end to end with real processes on loopback:
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

// The segment -> reconstruct -> compose pipeline as separate jobs, each stage's outputs
// fetched and passed on by hand (job dependencies do that in one submission).
TEST(Image3dEndToEnd, SegmentedImageBecomesASceneOfItsObjects) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());

  const std::string image = std::string(KILN_TEST_DATA_DIR) + "/images/three_objects.png";
  CommandResult segment = farm.Kilnctl({"submit", "image.segment", "--input", "scene.png=" + image,
                                        "--params", R"({"input": "scene.png"})", "--wait"});
  ASSERT_EQ(segment.exit_code, 0) << segment.out << segment.err << farm.Log("worker-0.log");
  const std::string segment_id = SubmittedId(segment);
  const kiln::v1::Job segment_job = GetJob(farm, segment_id);
  EXPECT_EQ(segment_job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(segment_job.result().fields().at("objects").number_value(), 3);
  EXPECT_EQ(segment_job.outputs_size(), 7);  // 3 crops, 3 masks, objects.json

  std::vector<std::string> compose_args = {
      "submit", "scene.compose", "--input",
      "objects.json=" + FetchedPath(farm, segment_id, "objects.json")};
  std::string objects;
  for (int i = 0; i < 3; ++i) {
    const std::string crop = "object-" + std::to_string(i) + ".png";
    const std::string mesh = "object-" + std::to_string(i) + ".glb";
    CommandResult to3d = farm.Kilnctl(
        {"submit", "image.to3d", "--input", crop + "=" + FetchedPath(farm, segment_id, crop),
         "--params", R"({"input": ")" + crop + R"(", "output": ")" + mesh + R"("})", "--wait"});
    ASSERT_EQ(to3d.exit_code, 0) << to3d.out << to3d.err << farm.Log("worker-0.log");
    compose_args.insert(compose_args.end(),
                        {"--input", mesh + "=" + FetchedPath(farm, SubmittedId(to3d), mesh)});
    objects += std::string(i ? ", " : "") + R"({"input": ")" + mesh + R"(", "segment": )" +
               std::to_string(i) + "}";
  }
  compose_args.insert(
      compose_args.end(),
      {"--params",
       R"({"layout": {"input": "objects.json", "width": 2.4}, "objects": [)" + objects + "]}",
       "--wait"});
  CommandResult compose = farm.Kilnctl(compose_args);
  ASSERT_EQ(compose.exit_code, 0) << compose.out << compose.err << farm.Log("worker-0.log");
  const kiln::v1::Job scene_job = GetJob(farm, SubmittedId(compose));
  EXPECT_EQ(scene_job.state(), kiln::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(scene_job.result().fields().at("nodes").number_value(), 3);
  // The objects span pixels x 24..222, y 29..92 of the 240 x 120 image; at 0.01 units a
  // pixel about the image centre that is x -0.96..1.02, y -0.32..0.31.
  const auto& bbox_min = scene_job.result().fields().at("bbox_min").list_value();
  const auto& bbox_max = scene_job.result().fields().at("bbox_max").list_value();
  EXPECT_NEAR(bbox_min.values(0).number_value(), -0.96, 0.02);
  EXPECT_NEAR(bbox_max.values(0).number_value(), 1.02, 0.02);
  EXPECT_NEAR(bbox_min.values(1).number_value(), -0.32, 0.02);
  EXPECT_NEAR(bbox_max.values(1).number_value(), 0.31, 0.02);
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

  CommandResult segment_refused =
      farm.Kilnctl({"submit", "image.segment", "--params", R"({"input": "a.png", "min_area": 0})"});
  EXPECT_NE(segment_refused.exit_code, 0);
  EXPECT_NE((segment_refused.out + segment_refused.err).find("parameters.min_area"),
            std::string::npos)
      << segment_refused.out << segment_refused.err;

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
  CommandResult no_objects =
      farm.Kilnctl({"submit", "image.segment", "--input", "empty.png=" + empty, "--params",
                    R"({"input": "empty.png"})", "--wait"});
  EXPECT_NE(no_objects.exit_code, 0);
  const kiln::v1::Job no_objects_job = GetJob(farm, SubmittedId(no_objects));
  EXPECT_EQ(no_objects_job.state(), kiln::v1::JOB_STATE_FAILED);
  EXPECT_NE(no_objects_job.status_message().find("image has no objects"), std::string::npos)
      << no_objects_job.status_message();
}

}  // namespace
}  // namespace kiln::testing
