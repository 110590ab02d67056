// The Node.js client (kiln_client_test.js: @grpc/grpc-js + @grpc/proto-loader reading
// protos/kiln/v1 directly) against a real scheduler and worker on loopback. node_modules
// must be installed (`npm ci` in tests/node_client; scripts/test.sh does it): a missing
// one fails this test rather than skipping it.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/local_farm.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {
namespace {

constexpr char kClientDir[] = KILN_SOURCE_DIR "/tests/node_client";

TEST(NodeClientTest, SubmitsWatchesAndDownloadsAMeshThroughTheProtoFilesAlone) {
  ASSERT_TRUE(std::filesystem::exists(absl::StrCat(kClientDir, "/node_modules/@grpc/grpc-js")) &&
              std::filesystem::exists(absl::StrCat(kClientDir, "/node_modules/@grpc/proto-loader")))
      << "node_modules missing: run `npm ci` in " << kClientDir << " (scripts/test.sh does)";
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());

  CommandResult run =
      RunCommand({KILN_NODE_EXECUTABLE, absl::StrCat(kClientDir, "/kiln_client_test.js"), "--addr",
                  farm.address(), "--protos", KILN_SOURCE_DIR "/protos", "--out", farm.dir()},
                 absl::Minutes(3));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << farm.Log("worker-0.log");
  // Its one line of JSON names the job and what it checked.
  std::smatch match;
  ASSERT_TRUE(std::regex_search(
      run.out, match,
      std::regex(R"re("job":"(j-[0-9a-f]{16})".*"vertices":(\d+),"faces":(\d+))re")))
      << run.out;
  EXPECT_GT(std::stoi(match[2]), 100);

  // The job it made is visible to the C++ SDK, with the same output.
  std::unique_ptr<Client> client = farm.NewClient();
  absl::StatusOr<v1::Job> job = client->Get(match[1]);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->result().fields().at("vertices").number_value(), std::stod(match[2]));
  EXPECT_EQ(job->result().fields().at("faces").number_value(), std::stod(match[3]));
  EXPECT_EQ(ReadFileOrEmpty(farm.dir() + "/mesh.ply").size(),
            static_cast<size_t>(job->outputs(0).size_bytes()));
}

}  // namespace
}  // namespace kiln::testing
