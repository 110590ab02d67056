// The options that common/jemalloc_conf.cc compiles in are the ones jemalloc runs with.
#include <gtest/gtest.h>
#include <jemalloc/jemalloc.h>

#include <cstdlib>

namespace {

TEST(JemallocConfTest, TheHeapAsksForTransparentHugePages) {
  if (std::getenv("MALLOC_CONF") != nullptr) GTEST_SKIP() << "MALLOC_CONF overrides the options";
  const char* thp = nullptr;
  size_t size = sizeof(thp);
  ASSERT_EQ(mallctl("opt.thp", &thp, &size, nullptr, 0), 0);
  EXPECT_STREQ(thp, "always");
}

}  // namespace
