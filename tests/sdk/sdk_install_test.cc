// The installed SDK as a user meets it: `cmake --install` of this build into a temp
// prefix, then tests/sdk_consumer (a separate CMake project: find_package(kiln),
// kiln::client) configured and built against that prefix, and the program it builds
// (client/examples/submit_wait_fetch.cc) run against a real scheduler and worker.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/testing/scoped_temp_dir.h"
#include "tests/support/local_farm.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {
namespace {

std::string Explain(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

class SdkInstallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScopedTempDir();
    prefix_ = dir_->Sub("prefix");
    install_ = RunCommand({KILN_CMAKE_COMMAND, "--install", KILN_BUILD_DIR, "--prefix", prefix_},
                          absl::Minutes(2));
    if (install_.exit_code != 0) return;
    std::vector<std::string> configure = {KILN_CMAKE_COMMAND,
                                          "-S",
                                          absl::StrCat(KILN_SOURCE_DIR, "/tests/sdk_consumer"),
                                          "-B",
                                          dir_->Sub("consumer-build"),
                                          "-G",
                                          "Ninja",
                                          absl::StrCat("-DCMAKE_PREFIX_PATH=", prefix_),
                                          absl::StrCat("-DCMAKE_CXX_COMPILER=", KILN_CXX_COMPILER),
                                          "-DCMAKE_BUILD_TYPE=Release"};
    if (!std::string(KILN_CXX_COMPILER_LAUNCHER).empty()) {
      configure.push_back(
          absl::StrCat("-DCMAKE_CXX_COMPILER_LAUNCHER=", KILN_CXX_COMPILER_LAUNCHER));
    }
    // A sanitizer build's libraries need the sanitizer's runtime in the program too.
    if (!std::string(KILN_SANITIZE_FLAGS).empty()) {
      configure.push_back(absl::StrCat("-DCMAKE_CXX_FLAGS=", KILN_SANITIZE_FLAGS));
      configure.push_back(absl::StrCat("-DCMAKE_EXE_LINKER_FLAGS=", KILN_SANITIZE_FLAGS));
    }
    configure_ = RunCommand(configure, absl::Minutes(2));
    if (configure_.exit_code != 0) return;
    build_ = RunCommand({KILN_CMAKE_COMMAND, "--build", dir_->Sub("consumer-build"), "-j", "2"},
                        absl::Minutes(4));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Program() { return dir_->Sub("consumer-build/submit_wait_fetch"); }

  static ScopedTempDir* dir_;
  static std::string prefix_;
  static CommandResult install_, configure_, build_;
};

ScopedTempDir* SdkInstallTest::dir_ = nullptr;
std::string SdkInstallTest::prefix_;
CommandResult SdkInstallTest::install_, SdkInstallTest::configure_, SdkInstallTest::build_;

TEST_F(SdkInstallTest, InstallsAPackageThatPointsOnlyIntoThePrefix) {
  ASSERT_EQ(install_.exit_code, 0) << Explain(install_);
  for (const char* file :
       {"include/kiln/client/kiln_client.h", "include/kiln/v1/job_service.pb.h",
        "include/kiln/v1/job_service.grpc.pb.h", "lib/libkiln_client.a",
        "lib/cmake/kiln/kilnConfig.cmake", "lib/cmake/kiln/kilnConfigVersion.cmake",
        "lib/cmake/kiln/kilnTargets.cmake", "share/kiln/protos/kiln/v1/job_service.proto",
        "bin/kilnctl"}) {
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(prefix_, "/", file))) << file;
  }
  // Relocatable: nothing installed names the source or build tree.
  for (const auto& entry : std::filesystem::directory_iterator(prefix_ + "/lib/cmake/kiln")) {
    const std::string text = ReadFileOrEmpty(entry.path().string());
    EXPECT_FALSE(absl::StrContains(text, KILN_SOURCE_DIR)) << entry.path();
    EXPECT_FALSE(absl::StrContains(text, KILN_BUILD_DIR)) << entry.path();
  }
}

TEST_F(SdkInstallTest, AConsumerProjectFindsAndLinksTheSdk) {
  ASSERT_EQ(install_.exit_code, 0) << Explain(install_);
  ASSERT_EQ(configure_.exit_code, 0) << Explain(configure_);
  ASSERT_EQ(build_.exit_code, 0) << Explain(build_);
  CommandResult help = RunCommand({Program(), "--help"}, absl::Seconds(30));
  EXPECT_EQ(help.exit_code, 0) << Explain(help);
  EXPECT_TRUE(absl::StrContains(help.out, "Usage: submit_wait_fetch")) << help.out;
  CommandResult bad = RunCommand({Program(), "--resolution", "x"}, absl::Seconds(30));
  EXPECT_EQ(bad.exit_code, 2) << Explain(bad);
}

TEST_F(SdkInstallTest, TheConsumerRunsAJobOnARealFarm) {
  ASSERT_EQ(build_.exit_code, 0) << Explain(install_) << Explain(configure_) << Explain(build_);
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler().ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  const std::string out_dir = farm.dir() + "/out";
  CommandResult run = RunCommand({Program(), "--addr", farm.address(), "--out", out_dir,
                                  "--resolution", "32", "--token", "sdk-test-token"},
                                 absl::Minutes(2));
  ASSERT_EQ(run.exit_code, 0) << Explain(run) << farm.Log("worker-0.log");
  const std::string path(absl::StripAsciiWhitespace(run.out));
  EXPECT_EQ(path, out_dir + "/mesh.ply");
  const std::string ply = ReadFileOrEmpty(path);
  ASSERT_TRUE(absl::StartsWith(ply, "ply\n")) << path;
  // The vertex count in the file is the one in the job's summary.
  std::smatch header, summary;
  const std::string head = ply.substr(0, ply.find("end_header"));
  ASSERT_TRUE(std::regex_search(head, header, std::regex("element vertex (\\d+)"))) << head;
  ASSERT_TRUE(std::regex_search(run.err, summary, std::regex("\"vertices\":(\\d+)"))) << run.err;
  EXPECT_EQ(header[1], summary[1]);
  EXPECT_GT(std::stoi(header[1]), 100);
}

TEST_F(SdkInstallTest, TheConsumerReportsAnUnreachableScheduler) {
  ASSERT_EQ(build_.exit_code, 0);
  // Port 1 on loopback: refused at once; the SDK retries, then reports UNAVAILABLE.
  CommandResult run =
      RunCommand({Program(), "--addr", "127.0.0.1:1", "--out", dir_->Sub("x")}, absl::Minutes(1));
  EXPECT_EQ(run.exit_code, 1) << Explain(run);
  EXPECT_TRUE(absl::StrContains(run.err, "UNAVAILABLE")) << run.err;
}

}  // namespace
}  // namespace kiln::testing
