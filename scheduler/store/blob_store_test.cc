#include "scheduler/store/blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"

namespace kiln::store {
namespace {

namespace fs = std::filesystem;

size_t CountTempFiles(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& entry : fs::directory_iterator(dir + "/tmp")) ++n;
  return n;
}

TEST(BlobStoreTest, ValidateBlobHeaderNamesTheField) {
  kiln::v1::BlobHeader header;
  header.set_size_bytes(10);
  EXPECT_TRUE(ValidateBlobHeader(header, 10).ok());
  header.set_sha256(Sha256Hex("0123456789"));
  EXPECT_TRUE(ValidateBlobHeader(header, 10).ok());

  header.set_size_bytes(11);
  absl::Status s = ValidateBlobHeader(header, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(s.message(), "header.size_bytes: 11 exceeds")) << s;

  header.set_size_bytes(-1);
  s = ValidateBlobHeader(header, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "header.size_bytes:")) << s;

  header.set_size_bytes(1);
  for (const std::string& bad : {std::string(64, 'A'), std::string(63, 'a'), std::string("../x")}) {
    header.set_sha256(bad);
    s = ValidateBlobHeader(header, 10);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(s.message(), "header.sha256:")) << s;
  }
}

TEST(BlobStoreTest, StoresContentUnderItsHash) {
  kiln::testing::ScopedTempDir dir;
  auto blobs = BlobStore::Create(dir.Sub("blobs"));
  ASSERT_TRUE(blobs.ok());
  auto writer = (*blobs)->NewWriter(1 << 20);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("hello ").ok());
  ASSERT_TRUE((*writer)->Append("world").ok());
  auto blob = (*writer)->Finish(11, Sha256Hex("hello world"));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->sha256(), Sha256Hex("hello world"));
  EXPECT_EQ(blob->size_bytes(), 11);
  std::ifstream in((*blobs)->PathFor(blob->sha256()));
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "hello world");
  writer->reset();
  EXPECT_EQ(CountTempFiles(dir.Sub("blobs")), 0u);
}

TEST(BlobStoreTest, RejectsOversizeAndMismatchesWithoutLeavingFiles) {
  kiln::testing::ScopedTempDir dir;
  auto blobs = BlobStore::Create(dir.Sub("blobs"));
  ASSERT_TRUE(blobs.ok());
  {
    auto writer = (*blobs)->NewWriter(4);
    ASSERT_TRUE(writer.ok());
    absl::Status s = (*writer)->Append("12345");
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(s.message().find("size limit"), std::string::npos);
  }
  {
    auto writer = (*blobs)->NewWriter(100);
    ASSERT_TRUE((*writer)->Append("abc").ok());
    auto blob = (*writer)->Finish(3, Sha256Hex("abd"));
    EXPECT_EQ(blob.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(blob.status().message().find("header.sha256"), std::string::npos);
  }
  {
    auto writer = (*blobs)->NewWriter(100);
    ASSERT_TRUE((*writer)->Append("abc").ok());
    auto blob = (*writer)->Finish(4, "");
    EXPECT_EQ(blob.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(blob.status().message().find("header.size_bytes"), std::string::npos);
  }
  EXPECT_EQ(CountTempFiles(dir.Sub("blobs")), 0u);
  EXPECT_FALSE(fs::exists((*blobs)->PathFor(Sha256Hex("abc"))));
}

}  // namespace
}  // namespace kiln::store
