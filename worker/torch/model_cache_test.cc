#include "worker/torch/model_cache.h"

#include <fstream>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/torch/test_models.h"

namespace kiln::torchrt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ModelCacheTest : public ::testing::Test {
 protected:
  const models::ModelEntry& Entry(const std::string& name) {
    if (!repo_) {
      auto repo = models::ModelRepository::Open({.root = dir_.path()});
      EXPECT_TRUE(repo.ok()) << repo.status();
      repo_ = *std::move(repo);
    }
    auto entry = repo_->Find(name);
    EXPECT_TRUE(entry.ok()) << entry.status();
    return **entry;
  }

  kiln::testing::ScopedTempDir dir_;
  std::unique_ptr<models::ModelRepository> repo_;
};

TEST_F(ModelCacheTest, SecondAcquireIsAHitOnTheSameModule) {
  testing::WriteTestModel(dir_.path(), "a", testing::kSphereBody);
  auto cache = ModelCache::Create({.budget_bytes = 1 << 20});
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto first = (*cache)->Acquire(Entry("a"), torch::kFloat32);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->hit);
  EXPECT_EQ(first->model->bytes, 4 * 4);  // One float32 parameter of 4 elements.
  EXPECT_EQ(first->model->model_key, "a@1");
  auto second = (*cache)->Acquire(Entry("a"), torch::kFloat32);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->hit);
  EXPECT_EQ(second->model.get(), first->model.get());
  // Another dtype is another resident copy, but the same model key.
  auto half = (*cache)->Acquire(Entry("a"), torch::kBFloat16);
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_FALSE(half->hit);
  EXPECT_EQ(half->model->bytes, 4 * 2);
  const ModelCache::Stats stats = (*cache)->stats();
  EXPECT_EQ(stats.loads, 2);
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.resident_bytes, 16 + 8);
  EXPECT_THAT((*cache)->ResidentModelKeys(), ElementsAre("a@1"));
}

TEST_F(ModelCacheTest, EvictsTheLeastRecentlyUsedToStayInBudget) {
  // 256 float32 = 1 KiB each; room for two.
  for (const char* name : {"a", "b", "c"}) {
    testing::WriteTestModel(dir_.path(), name, testing::kSphereBody, 256);
  }
  auto cache = ModelCache::Create({.budget_bytes = 2048});
  ASSERT_TRUE(cache.ok());
  ModelCache& c = **cache;
  ASSERT_TRUE(c.Acquire(Entry("a"), torch::kFloat32).ok());
  ASSERT_TRUE(c.Acquire(Entry("b"), torch::kFloat32).ok());
  EXPECT_THAT(c.ResidentModelKeys(), ElementsAre("b@1", "a@1"));
  ASSERT_TRUE(c.Acquire(Entry("a"), torch::kFloat32).ok());  // a is now the most recent
  ASSERT_TRUE(c.Acquire(Entry("c"), torch::kFloat32).ok());  // evicts b, not a
  EXPECT_THAT(c.ResidentModelKeys(), ElementsAre("c@1", "a@1"));
  auto b = c.Acquire(Entry("b"), torch::kFloat32);  // evicts a
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->hit);
  EXPECT_THAT(c.ResidentModelKeys(), ElementsAre("b@1", "c@1"));
  const ModelCache::Stats stats = c.stats();
  EXPECT_EQ(stats.loads, 4);
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.evictions, 2);
  EXPECT_EQ(stats.resident_bytes, 2048);
  EXPECT_LE(stats.resident_bytes, stats.budget_bytes);
}

TEST_F(ModelCacheTest, MissingFileIsNotFoundNamingTheFile) {
  testing::WriteTestModel(dir_.path(), "a", testing::kSphereBody);
  const models::ModelEntry& entry = Entry("a");
  std::filesystem::remove(entry.dir / "model.pt");
  auto cache = ModelCache::Create({});
  ASSERT_TRUE(cache.ok());
  auto acquired = (*cache)->Acquire(entry, torch::kFloat32);
  ASSERT_FALSE(acquired.ok());
  EXPECT_TRUE(absl::IsNotFound(acquired.status())) << acquired.status();
  EXPECT_THAT(acquired.status().message(), HasSubstr((entry.dir / "model.pt").string()));
}

TEST_F(ModelCacheTest, CorruptArchiveIsAClearErrorNamingTheFile) {
  testing::WriteTestModel(dir_.path(), "a", testing::kSphereBody);
  const models::ModelEntry& entry = Entry("a");
  std::ofstream(entry.dir / "model.pt", std::ios::trunc) << "PK\x03\x04 this is not a zip archive";
  auto cache = ModelCache::Create({});
  ASSERT_TRUE(cache.ok());
  auto acquired = (*cache)->Acquire(entry, torch::kFloat32);
  ASSERT_FALSE(acquired.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(acquired.status())) << acquired.status();
  EXPECT_THAT(acquired.status().message(),
              HasSubstr("cannot load TorchScript archive " + (entry.dir / "model.pt").string()));
  // Only the first line of LibTorch's message: no C++ backtrace in a job's error.
  EXPECT_THAT(std::string(acquired.status().message()), ::testing::Not(HasSubstr("\n")));
  EXPECT_EQ((*cache)->stats().loads, 0);
}

TEST(ModelCacheCreateTest, DefaultBudgetIsAFractionOfMemory) {
  auto cpu = ModelCache::Create({.budget_fraction = 0.25, .device_memory_bytes = 4000});
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ((*cpu)->stats().budget_bytes, 1000);
  auto ram = ModelCache::Create({});
  ASSERT_TRUE(ram.ok());
  EXPECT_GT((*ram)->stats().budget_bytes, 0);  // Half the host's RAM.
  EXPECT_FALSE(ModelCache::Create({.budget_bytes = -1}).ok());
  EXPECT_FALSE(ModelCache::Create({.budget_fraction = 0}).ok());
}

}  // namespace
}  // namespace kiln::torchrt
