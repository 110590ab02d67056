// Tests the shared blob streaming (client/blob_transfer.h) against the real scheduler,
// in-process: a SchedulerServer on 127.0.0.1:0 with a temporary data directory.
#include "client/blob_transfer.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "scheduler/rpc/scheduler_server.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Names of the entries in `dir`, to catch a leftover temporary file.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

class BlobTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rpc::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = data_dir_.path();
    auto server = rpc::SchedulerServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(4 * kBlobChunkBytes);
    stub_ = v1::JobService::NewStub(
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  }
  void TearDown() override {
    stub_.reset();
    if (server_) server_->Shutdown();
  }

  void SetDeadline(grpc::ClientContext& context) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  }
  absl::StatusOr<v1::BlobRef> Upload(const std::string& path, const std::string& name) {
    grpc::ClientContext context;
    SetDeadline(context);
    return UploadFileAsBlob(*stub_, context, address_, path, name);
  }
  absl::Status Download(const std::string& sha256, const std::string& path) {
    grpc::ClientContext context;
    SetDeadline(context);
    return DownloadBlobToFile(*stub_, context, address_, sha256, path);
  }

  kiln::testing::ScopedTempDir data_dir_;
  kiln::testing::ScopedTempDir files_;
  std::unique_ptr<rpc::SchedulerServer> server_;
  std::string address_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(BlobTransferTest, UploadThenDownloadRoundTripsBytes) {
  // Three full chunks and a partial one, with bytes that differ from chunk to chunk.
  std::string data(3 * kBlobChunkBytes + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  const std::string source = files_.Sub("source.bin");
  WriteFile(source, data);

  absl::StatusOr<v1::BlobRef> ref = Upload(source, "mesh.bin");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name(), "mesh.bin");
  EXPECT_EQ(ref->sha256(), Sha256Hex(data));
  EXPECT_EQ(ref->size_bytes(), static_cast<int64_t>(data.size()));

  const std::string copy = files_.Sub("copy.bin");
  ASSERT_TRUE(Download(ref->sha256(), copy).ok());
  EXPECT_TRUE(ReadFile(copy) == data);
  EXPECT_EQ(Entries(files_.path()).size(), 2u);  // source.bin and copy.bin: no temp file.
}

TEST_F(BlobTransferTest, EmptyFileRoundTrips) {
  const std::string source = files_.Sub("empty");
  WriteFile(source, "");
  absl::StatusOr<v1::BlobRef> ref = Upload(source, "empty");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->sha256(), Sha256Hex(""));
  EXPECT_EQ(ref->size_bytes(), 0);
  const std::string copy = files_.Sub("copy");
  ASSERT_TRUE(Download(ref->sha256(), copy).ok());
  EXPECT_TRUE(fs::exists(copy));
  EXPECT_EQ(fs::file_size(copy), 0u);
}

TEST_F(BlobTransferTest, DownloadOfUnknownBlobIsNotFoundAndLeavesNoFile) {
  const absl::Status status = Download(Sha256Hex("never uploaded"), files_.Sub("out.bin"));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(Entries(files_.path()).empty());
}

TEST_F(BlobTransferTest, DownloadOfMalformedShaIsInvalidArgument) {
  const absl::Status status = Download("not-a-sha", files_.Sub("out.bin"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(Entries(files_.path()).empty());
}

TEST_F(BlobTransferTest, CancelledDownloadLeavesNoFile) {
  const std::string source = files_.Sub("source.bin");
  WriteFile(source, std::string(kBlobChunkBytes + 1, 'x'));
  absl::StatusOr<v1::BlobRef> ref = Upload(source, "source.bin");
  ASSERT_TRUE(ref.ok()) << ref.status();
  // An existing file at the destination stays as it was.
  const std::string out = files_.Sub("out.bin");
  WriteFile(out, "old");

  grpc::ClientContext context;
  SetDeadline(context);
  context.TryCancel();
  const absl::Status status = DownloadBlobToFile(*stub_, context, address_, ref->sha256(), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(ReadFile(out), "old");
  EXPECT_EQ(Entries(files_.path()).size(), 2u);  // source.bin and out.bin: no temp file.
}

TEST_F(BlobTransferTest, UploadOfMissingFileIsNotFound) {
  const absl::StatusOr<v1::BlobRef> ref = Upload(files_.Sub("missing.bin"), "missing.bin");
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kNotFound) << ref.status();
}

TEST_F(BlobTransferTest, UnreachableSchedulerNamesMethodAndAddress) {
  // A port that nothing listens on any more: the server's own, after shutdown.
  server_->Shutdown();
  server_.reset();
  const std::string source = files_.Sub("source.bin");
  WriteFile(source, "bytes");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  const absl::StatusOr<v1::BlobRef> ref =
      UploadFileAsBlob(*stub_, context, address_, source, "source.bin");
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kUnavailable) << ref.status();
  EXPECT_NE(ref.status().message().find(absl::StrCat("PutBlob to scheduler at ", address_)),
            absl::string_view::npos)
      << ref.status();
}

}  // namespace
}  // namespace kiln
