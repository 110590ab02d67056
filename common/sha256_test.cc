#include "common/sha256.h"

#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmpty);
  EXPECT_EQ(Sha256Hex("abc"), kAbc);
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalMatchesOneShot) {
  Sha256 hasher;
  hasher.Update("a");
  hasher.Update("");
  hasher.Update("bc");
  EXPECT_EQ(hasher.FinishHex(), kAbc);
}

TEST(Sha256Test, FileHashCrossesChunkBoundaries) {
  // Larger than the 1 MiB read chunk, and not a multiple of it.
  std::string content;
  for (int i = 0; content.size() < 3 * (1 << 20) + 12345; ++i) absl::StrAppend(&content, i, ",");
  testing::ScopedTempDir dir;
  const std::string path = dir.Sub("blob");
  {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  auto digest = Sha256OfFile(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(content));

  const std::string empty_path = dir.Sub("empty");
  { std::ofstream out(empty_path, std::ios::binary); }
  EXPECT_EQ(Sha256OfFile(empty_path).value_or(""), kEmpty);
}

TEST(Sha256Test, MissingFileIsNotFound) {
  EXPECT_EQ(Sha256OfFile("/nonexistent/kiln/file").status().code(), absl::StatusCode::kNotFound);
}

TEST(Sha256Test, IsSha256Hex) {
  EXPECT_TRUE(IsSha256Hex(kEmpty));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(std::string(kAbc).substr(1)));               // 63 digits
  EXPECT_FALSE(IsSha256Hex(absl::StrCat(kAbc, "0")));                   // 65 digits
  EXPECT_FALSE(IsSha256Hex(absl::AsciiStrToUpper(std::string(kAbc))));  // upper case
  std::string bad = kAbc;
  bad[10] = 'g';
  EXPECT_FALSE(IsSha256Hex(bad));
}

}  // namespace
}  // namespace kiln
