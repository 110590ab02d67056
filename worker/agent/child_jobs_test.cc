#include "worker/agent/child_jobs.h"

#include <filesystem>
#include <fstream>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

kiln::v1::LocalFile File(const std::string& name, const std::string& path) {
  kiln::v1::LocalFile file;
  file.set_name(name);
  file.set_path(path);
  return file;
}

class ResolveChildFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(attempt_ + "/out");
    std::ofstream(attempt_ + "/out/object-0.png") << "png";
    std::ofstream(outside_.Sub("secret.txt")) << "secret";
  }
  std::string Error(const kiln::v1::LocalFile& file) {
    absl::StatusOr<std::string> path = ResolveChildFile(attempt_, file, 2, 1);
    EXPECT_TRUE(absl::IsInvalidArgument(path.status())) << path.status();
    return std::string(path.status().message());
  }

  kiln::testing::ScopedTempDir dir_;
  kiln::testing::ScopedTempDir outside_;
  const std::string attempt_ = dir_.Sub("j-1-1");
};

TEST_F(ResolveChildFileTest, AFileTheTaskWroteIsAccepted) {
  absl::StatusOr<std::string> path =
      ResolveChildFile(attempt_, File("object-0.png", attempt_ + "/out/object-0.png"), 0, 0);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(fs::path(*path), fs::canonical(attempt_ + "/out/object-0.png"));
  // Relative paths are taken from the attempt's directory.
  path = ResolveChildFile(attempt_, File("object-0.png", "out/object-0.png"), 0, 0);
  ASSERT_TRUE(path.ok()) << path.status();
}

TEST_F(ResolveChildFileTest, FilesOutsideTheAttemptOrMissingOrBadlyNamedAreRefusedByField) {
  EXPECT_THAT(Error(File("secret.txt", outside_.Sub("secret.txt"))),
              HasSubstr("children[2].files[1].path: "));
  EXPECT_THAT(Error(File("secret.txt", outside_.Sub("secret.txt"))),
              HasSubstr("not inside the attempt's directory"));
  EXPECT_THAT(Error(File("x", "out/../../" + fs::path(outside_.path()).filename().string() +
                                  "/secret.txt")),
              HasSubstr("not inside"));
  EXPECT_THAT(Error(File("x", attempt_)), HasSubstr("not inside"));
  EXPECT_THAT(Error(File("x", "out/missing.png")), HasSubstr("not an existing file"));
  EXPECT_THAT(Error(File("x", "out")), HasSubstr("not an existing file"));
  EXPECT_THAT(Error(File("", "out/object-0.png")), HasSubstr("children[2].files[1].name"));
  EXPECT_THAT(Error(File("a/b.png", "out/object-0.png")), HasSubstr("not a safe input name"));
  EXPECT_THAT(Error(File("x", "")), HasSubstr("children[2].files[1].path: empty"));
}

TEST(ChildrenFailureTest, CarriesTheCodeAndMessage) {
  const kiln::v1::ExecChildrenResult result =
      ChildrenFailure("c", absl::FailedPreconditionError("lease lost"));
  EXPECT_EQ(result.call_id(), "c");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "lease lost");
  EXPECT_EQ(result.code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace kiln::agent
