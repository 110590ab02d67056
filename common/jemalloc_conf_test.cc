// The options that common/jemalloc_conf.cc compiles in are the ones jemalloc runs with.
#include <gtest/gtest.h>
#include <jemalloc/jemalloc.h>

#include <cstdlib>
#include <fstream>

namespace {

TEST(JemallocConfTest, TheHeapAsksForTransparentHugePages) {
  if (std::getenv("MALLOC_CONF") != nullptr) GTEST_SKIP() << "MALLOC_CONF overrides the options";
  // Without it jemalloc reports the option as "not supported" (some containers hide it).
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good()) {
    GTEST_SKIP() << "the kernel offers no transparent huge pages here";
  }
  const char* thp = nullptr;
  size_t size = sizeof(thp);
  ASSERT_EQ(mallctl("opt.thp", &thp, &size, nullptr, 0), 0);
  EXPECT_STREQ(thp, "always");
}

}  // namespace
