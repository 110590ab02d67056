#include "models/model_repository.h"

#include <fstream>
#include <string>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

void WriteFile(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << contents;
}

std::string TorchManifest(const std::string& name, const std::string& version) {
  return R"({"name":")" + name + R"(","version":")" + version +
         R"(","runtime":"MODEL_RUNTIME_TORCHSCRIPT","file":"model.pt",
             "field":{"kind":"FIELD_KIND_SDF","bounds":[-1,-1,-1,1,1,1]},
             "tiers":[{"name":"cpu","dtype":"float32"}],"tasks":["field.decode"]})";
}

void AddModel(const testing::ScopedTempDir& root, const std::string& name,
              const std::string& version) {
  WriteFile(std::filesystem::path(root.path()) / name / version / "manifest.json",
            TorchManifest(name, version));
}

std::vector<std::string> Keys(const ModelRepository& repo) {
  std::vector<std::string> keys;
  for (const ModelEntry& e : repo.models()) keys.push_back(e.Key());
  return keys;
}

TEST(ModelRepositoryTest, MissingRootIsNotFoundNamingThePath) {
  auto repo = ModelRepository::Open({.root = "/nonexistent/kiln-models"});
  ASSERT_FALSE(repo.ok());
  EXPECT_TRUE(absl::IsNotFound(repo.status()));
  EXPECT_THAT(repo.status().message(), HasSubstr("/nonexistent/kiln-models"));
}

TEST(ModelRepositoryTest, RootThatIsAFileIsNotFound) {
  testing::ScopedTempDir dir;
  WriteFile(dir.Sub("file"), "x");
  auto repo = ModelRepository::Open({.root = dir.Sub("file")});
  ASSERT_FALSE(repo.ok());
  EXPECT_TRUE(absl::IsNotFound(repo.status()));
}

TEST(ModelRepositoryTest, ScansModelsSortedByNameThenNumericVersion) {
  testing::ScopedTempDir root;
  AddModel(root, "torus", "10");
  AddModel(root, "torus", "9");
  AddModel(root, "torus", "2");
  AddModel(root, "box", "1");
  auto repo = ModelRepository::Open({.root = root.path()});
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_THAT(Keys(**repo), ElementsAre("box@1", "torus@2", "torus@9", "torus@10"));
  EXPECT_THAT((*repo)->problems(), SizeIs(0));
  const ModelEntry& box = (*repo)->models()[0];
  EXPECT_EQ(box.dir, std::filesystem::path(root.path()) / "box" / "1");
  EXPECT_EQ(box.manifest.runtime(), kiln::v1::MODEL_RUNTIME_TORCHSCRIPT);
  EXPECT_EQ(box.manifest.field().bounds_size(), 6);
}

TEST(ModelRepositoryTest, FindPicksHighestVersionOrExactOne) {
  testing::ScopedTempDir root;
  AddModel(root, "torus", "10");
  AddModel(root, "torus", "9");
  AddModel(root, "shape", "alpha");
  AddModel(root, "shape", "beta");
  auto repo = ModelRepository::Open({.root = root.path()});
  ASSERT_TRUE(repo.ok()) << repo.status();
  auto highest = (*repo)->Find("torus");
  ASSERT_TRUE(highest.ok()) << highest.status();
  EXPECT_EQ((*highest)->Key(), "torus@10");  // numeric, not "9" > "10"
  auto exact = (*repo)->Find("torus@9");
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ((*exact)->Key(), "torus@9");
  auto lexicographic = (*repo)->Find("shape");
  ASSERT_TRUE(lexicographic.ok());
  EXPECT_EQ((*lexicographic)->Key(), "shape@beta");

  auto missing_version = (*repo)->Find("torus@3");
  ASSERT_FALSE(missing_version.ok());
  EXPECT_TRUE(absl::IsNotFound(missing_version.status()));
  EXPECT_THAT(missing_version.status().message(), HasSubstr("torus@3"));
  EXPECT_THAT(missing_version.status().message(), HasSubstr("9, 10"));
  auto missing = (*repo)->Find("sphere");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("\"sphere\""));
  EXPECT_FALSE((*repo)->Find("@1").ok());
  EXPECT_FALSE((*repo)->Find("torus@").ok());
}

TEST(ModelRepositoryTest, BadManifestsAreSkippedAndReportedWithPathAndField) {
  testing::ScopedTempDir root;
  const std::filesystem::path r = root.path();
  AddModel(root, "good", "1");
  WriteFile(r / "broken" / "1" / "manifest.json", "{not json");
  WriteFile(r / "typo" / "1" / "manifest.json", R"({"name":"typo","versoin":"1"})");
  WriteFile(r / "dtype" / "1" / "manifest.json",
            R"({"name":"dtype","version":"1","runtime":"MODEL_RUNTIME_TORCHSCRIPT",
                "file":"m.pt","tiers":[{"dtype":"float32"},{"dtype":"int8"}]})");
  WriteFile(r / "renamed" / "1" / "manifest.json", TorchManifest("other", "1"));
  std::filesystem::create_directories(r / "empty" / "1");
  auto repo = ModelRepository::Open({.root = root.path()});
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_THAT(Keys(**repo), ElementsAre("good@1"));
  const std::vector<std::string>& problems = (*repo)->problems();
  ASSERT_THAT(problems, SizeIs(5));
  // Sorted by directory: broken, dtype, empty, renamed, typo.
  EXPECT_THAT(problems[0], HasSubstr((r / "broken/1/manifest.json").string()));
  EXPECT_THAT(problems[1], HasSubstr("tiers[1].dtype"));
  EXPECT_THAT(problems[1], HasSubstr("int8"));
  EXPECT_THAT(problems[2], HasSubstr((r / "empty/1/manifest.json").string() + ": missing"));
  EXPECT_THAT(problems[3], HasSubstr("name: \"other\" does not match its directory \"renamed\""));
  EXPECT_THAT(problems[4], HasSubstr("versoin"));
}

kiln::v1::ModelManifest ValidTorchscript() {
  kiln::v1::ModelManifest m;
  m.set_name("m");
  m.set_version("1");
  m.set_runtime(kiln::v1::MODEL_RUNTIME_TORCHSCRIPT);
  m.set_file("model.pt");
  return m;
}

absl::Status Validate(const kiln::v1::ModelManifest& m) { return ValidateManifest(m, "/repo/m/1"); }

TEST(ValidateManifestTest, AcceptsAMinimalTorchscriptManifest) {
  EXPECT_TRUE(Validate(ValidTorchscript()).ok()) << Validate(ValidTorchscript());
}

TEST(ValidateManifestTest, NamesTheFieldAtFault) {
  const auto expect_error = [](const kiln::v1::ModelManifest& m, const std::string& field) {
    const absl::Status s = ValidateManifest(m, std::filesystem::path("/repo") / m.name() / "1");
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith(field + ": ")) << s;
  };
  kiln::v1::ModelManifest m = ValidTorchscript();
  m.set_name("bad name");
  expect_error(m, "name");

  m = ValidTorchscript();
  m.set_runtime(kiln::v1::MODEL_RUNTIME_UNSPECIFIED);
  expect_error(m, "runtime");

  m = ValidTorchscript();
  m.clear_file();
  expect_error(m, "file");
  m.set_file("../../etc/passwd");
  expect_error(m, "file");
  m.set_file("/abs/model.pt");
  expect_error(m, "file");

  m = ValidTorchscript();
  m.set_runtime(kiln::v1::MODEL_RUNTIME_EXEC);
  expect_error(m, "exec.command");
  m.mutable_exec()->add_command("");
  expect_error(m, "exec.command");
  m.mutable_exec()->set_command(0, "./run.sh");
  EXPECT_TRUE(Validate(m).ok());

  m = ValidTorchscript();
  m.set_runtime(kiln::v1::MODEL_RUNTIME_BUILTIN);
  expect_error(m, "builtin");

  m = ValidTorchscript();
  for (int i = 0; i < kMaxModelTiers + 1; ++i) m.add_tiers()->set_dtype("float32");
  expect_error(m, "tiers");

  m = ValidTorchscript();
  m.add_tasks("field.decode");
  expect_error(m, "field.kind");
  m.mutable_field()->set_kind(kiln::v1::FIELD_KIND_OCCUPANCY);
  expect_error(m, "field.bounds");
  for (double b : {0, 0, 0, 1, 1}) m.mutable_field()->add_bounds(b);
  expect_error(m, "field.bounds");
  m.mutable_field()->add_bounds(-1);  // max z < min z
  expect_error(m, "field.bounds");
  m.mutable_field()->set_bounds(5, 1);
  EXPECT_TRUE(Validate(m).ok()) << Validate(m);
}

TEST(ValidateManifestTest, VersionMustMatchItsDirectory) {
  kiln::v1::ModelManifest m = ValidTorchscript();
  m.set_version("2");
  const absl::Status s = Validate(m);
  EXPECT_THAT(std::string(s.message()), HasSubstr("version: \"2\" does not match"));
}

TEST(CompareModelVersionsTest, NumericWhenBothAreIntegers) {
  EXPECT_LT(CompareModelVersions("9", "10"), 0);
  EXPECT_GT(CompareModelVersions("100000000000000000000000", "99"), 0);
  EXPECT_EQ(CompareModelVersions("7", "7"), 0);
  EXPECT_LT(CompareModelVersions("10", "9a"), 0);  // lexicographic: '1' < '9'
  EXPECT_LT(CompareModelVersions("alpha", "beta"), 0);
}

}  // namespace
}  // namespace kiln::models
