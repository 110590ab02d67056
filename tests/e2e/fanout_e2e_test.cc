// Fan-out end to end with real processes on loopback (docs/pipelines.md): one
// `kilnctl submit -f examples/pipelines/three_objects.yaml --wait` runs image.segment on
// the three-object fixture, whose task submits one image.to3d child per object and a
// scene.compose child through its worker (ExecSubmitChildren -> SubmitChildJobs); the
// compose child's GLB is checked by the Khronos glTF validator and by where its three
// nodes landed. A second case cancels a parent that already fanned out.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/gltf/glb_mesh_nodes.h"
#include "tests/gltf/gltf_validate.h"
#include "tests/support/local_farm.h"
#include "tiny_gltf.h"

namespace kiln::testing {
namespace {

// "NAME ID" lines of `kilnctl submit -f PIPELINE [--wait]`, children included.
std::map<std::string, std::string> ParseIds(const std::string& out) {
  std::map<std::string, std::string> ids;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() == 2 && absl::StartsWith(parts[1], "j-")) ids[parts[0]] = parts[1];
  }
  return ids;
}

class FanOutEndToEnd : public GltfValidatorFixture {};

TEST_F(FanOutEndToEnd, OneKilnctlCommandTurnsThreeObjectsIntoASceneOfThreeNodes) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 2).ok());

  CommandResult submit =
      farm.Kilnctl({"submit", "-f", KILN_SOURCE_DIR "/examples/pipelines/three_objects.yaml",
                    "--wait", "--wait-timeout", "8m"},
                   absl::Minutes(9));
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err << farm.Log("worker-0.log");
  std::map<std::string, std::string> ids = ParseIds(submit.out);
  ASSERT_EQ(ids.size(), 5u) << submit.out;
  const std::string parent_id = ids["segment"];
  const std::string compose_id = ids["segment/segment-compose"];
  ASSERT_FALSE(parent_id.empty()) << submit.out;
  ASSERT_FALSE(compose_id.empty()) << submit.out;
  // Each job's outcome on stderr, the children's under their names.
  EXPECT_NE(submit.err.find("segment/segment-compose: " + compose_id + " succeeded"),
            std::string::npos)
      << submit.err;

  auto client = farm.NewClient();
  absl::StatusOr<kiln::v1::Job> parent = client->Get(parent_id);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(parent->state(), kiln::v1::JOB_STATE_SUCCEEDED) << parent->status_message();
  ASSERT_EQ(parent->child_job_ids_size(), 4);
  EXPECT_EQ(parent->result().fields().at("scene_job").string_value(), compose_id);
  // Three image.to3d children, each of one crop, then the compose depending on them.
  std::vector<std::string> to3d_ids;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const std::string id = ids[absl::StrCat("segment/segment-to3d-", i)];
    EXPECT_EQ(parent->child_job_ids(i), id);
    absl::StatusOr<kiln::v1::Job> child = client->Get(id);
    ASSERT_TRUE(child.ok()) << child.status();
    EXPECT_EQ(child->spec().task(), "image.to3d");
    EXPECT_EQ(child->parent_job_id(), parent_id);
    EXPECT_EQ(child->state(), kiln::v1::JOB_STATE_SUCCEEDED) << child->status_message();
    ASSERT_EQ(child->spec().inputs_size(), 1);
    EXPECT_EQ(child->spec().inputs(0).name(), absl::StrCat("object-", i, ".png"));
    // The crop uploaded for the child is the parent's output of that name.
    bool same_crop = false;
    for (const kiln::v1::BlobRef& out : parent->outputs()) {
      if (out.name() == child->spec().inputs(0).name()) {
        same_crop = out.sha256() == child->spec().inputs(0).sha256();
      }
    }
    EXPECT_TRUE(same_crop);
    to3d_ids.push_back(id);
  }
  EXPECT_EQ(parent->child_job_ids(3), compose_id);
  absl::StatusOr<kiln::v1::Job> compose = client->Get(compose_id);
  ASSERT_TRUE(compose.ok()) << compose.status();
  EXPECT_EQ(compose->spec().task(), "scene.compose");
  EXPECT_EQ(compose->parent_job_id(), parent_id);
  ASSERT_EQ(compose->state(), kiln::v1::JOB_STATE_SUCCEEDED) << compose->status_message();
  ASSERT_EQ(compose->spec().dependencies_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(compose->spec().dependencies(i).job_id(), to3d_ids[i]);
  EXPECT_EQ(compose->result().fields().at("nodes").number_value(), 3);

  // The final GLB, as a user fetches it.
  const std::string dir = farm.dir() + "/scene";
  CommandResult fetch = farm.Kilnctl({"fetch", compose_id, "--dir", dir});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const std::string glb = dir + "/scene.glb";
  ASSERT_TRUE(std::filesystem::exists(glb)) << fetch.out;
  const CommandResult valid = ValidateGltf({glb});
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  EXPECT_NE(valid.out.find("scene.glb: 0 errors"), std::string::npos) << valid.out;

  kiln::testing::GlbMeshNodes scene_nodes;
  kiln::testing::LoadGlbMeshNodes(glb, &scene_nodes);
  ASSERT_TRUE(scene_nodes.error.empty()) << scene_nodes.error;
  const std::vector<const tinygltf::Node*>& nodes = scene_nodes.nodes;
  ASSERT_EQ(nodes.size(), 3u);
  // Where the disc, rectangle and triangle stood: 240 pixels span 2.4 units
  // (as tests/gltf/segment_pipeline_test.cc).
  const double x[3] = {-0.70, 0.0, 0.70};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(nodes[i]->name, absl::StrCat("object-", i));
    ASSERT_EQ(nodes[i]->translation.size(), 3u);
    EXPECT_NEAR(nodes[i]->translation[0], x[i], 1e-6);
    EXPECT_NEAR(nodes[i]->translation[2], 0, 1e-6);
  }

  // describe shows the parent's children.
  CommandResult describe = farm.Kilnctl({"describe", "job", parent_id});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find(compose_id), std::string::npos) << describe.out;
}

// The parent (debug.sleep with children) keeps running after it fanned out; cancelling it
// cancels the children, the queued one and the one running on the worker's other slot,
// whose executor the worker then stops, so the worker takes new work.
TEST_F(FanOutEndToEnd, CancellingAParentThatFannedOutCancelsItsChildren) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 2).ok());
  CommandResult submit =
      farm.Kilnctl({"submit", "debug.sleep", "--params", R"({"seconds": 600, "children": 3})"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string parent_id(absl::StripAsciiWhitespace(submit.out));
  auto client = farm.NewClient();
  std::vector<std::string> children;
  // Fanned out, and one child running beside its parent.
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<kiln::v1::Job> parent = client->Get(parent_id);
        if (!parent.ok() || parent->child_job_ids_size() != 3) return false;
        children.assign(parent->child_job_ids().begin(), parent->child_job_ids().end());
        for (const std::string& id : children) {
          absl::StatusOr<kiln::v1::Job> child = client->Get(id);
          if (child.ok() && child->state() == kiln::v1::JOB_STATE_RUNNING) return true;
        }
        return false;
      },
      absl::Minutes(3)))
      << farm.Log("worker-0.log");
  for (const std::string& id : children) {
    absl::StatusOr<kiln::v1::Job> child = client->Get(id);
    ASSERT_TRUE(child.ok());
    EXPECT_EQ(child->parent_job_id(), parent_id);
  }

  CommandResult cancel = farm.Kilnctl({"cancel", parent_id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::string& id : children) {
          absl::StatusOr<kiln::v1::Job> child = client->Get(id);
          if (!child.ok() || child->state() != kiln::v1::JOB_STATE_CANCELLED) return false;
        }
        return true;
      },
      absl::Minutes(2)));
  absl::StatusOr<kiln::v1::Job> parent = client->Get(parent_id);
  ASSERT_TRUE(parent.ok());
  EXPECT_EQ(parent->state(), kiln::v1::JOB_STATE_CANCELLED);

  // Both slots are free again (the running child's executor was stopped, or its 600 s
  // would hold a slot): two long jobs run side by side.
  std::vector<std::string> next;
  for (int i = 0; i < 2; ++i) {
    CommandResult r = farm.Kilnctl({"submit", "debug.sleep", "--params", R"({"seconds": 600})"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    next.emplace_back(absl::StripAsciiWhitespace(r.out));
  }
  EXPECT_TRUE(WaitUntil(
      [&] {
        for (const std::string& id : next) {
          absl::StatusOr<kiln::v1::Job> job = client->Get(id);
          if (!job.ok() || job->state() != kiln::v1::JOB_STATE_RUNNING) return false;
        }
        return true;
      },
      absl::Minutes(2)))
      << farm.Log("worker-0.log");
}

}  // namespace
}  // namespace kiln::testing
