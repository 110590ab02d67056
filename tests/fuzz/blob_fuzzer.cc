// libFuzzer: blob uploads and downloads through the BlobStore (scheduler/store/blob_store.h)
// in a temporary directory, as JobService.PutBlob and GetBlob drive them: the header
// (announced size, announced sha256: absent, right, wrong or any string) is checked with
// ValidateBlobHeader, the content arrives in chunks of any sizes, and Finish verifies and
// moves it into place. Checked besides crashes: a refusal names the header field; an
// accepted blob's file holds exactly the uploaded bytes under their real sha256 inside the
// store's directory; a refused upload leaves no file behind; a download name is used as a
// path only when it is a sha256 and then stays inside the store.
//
// Input layout (FuzzedDataProvider): size mode, sha256 mode (and a string for "any"), a
// name to look up, then chunks (ConsumeRandomLengthString each) until the input ends.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/sha256.h"
#include "kiln/v1/job_service.pb.h"
#include "scheduler/store/blob_store.h"

namespace {

namespace fs = std::filesystem;

// A small limit keeps inputs cheap; the code paths are those of the 2 GiB default.
constexpr int64_t kMaxBlobBytes = 1 << 20;

void Check(bool ok, const char* what, const std::string& detail = "") {
  if (ok) return;
  std::fprintf(stderr, "contract broken: %s %s\n", what, detail.c_str());
  std::abort();
}

struct Fixture {
  std::string dir = "/tmp/kiln-fuzz-blobs-" + std::to_string(::getpid());
  std::unique_ptr<kiln::store::BlobStore> blobs;
  Fixture() {
    auto created = kiln::store::BlobStore::Create(dir);
    Check(created.ok(), "BlobStore::Create", created.status().ToString());
    blobs = *std::move(created);
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  bool TmpIsEmpty() const { return fs::is_empty(dir + "/tmp"); }
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();  // One store per process; removed at exit below.
  static const int registered = std::atexit([] { delete fixture; });
  (void)registered;
  FuzzedDataProvider input(data, size);

  const int size_mode = input.ConsumeIntegralInRange<int>(0, 2);
  const int64_t any_size = input.ConsumeIntegral<int64_t>();
  const int sha_mode = input.ConsumeIntegralInRange<int>(0, 3);
  const std::string any_sha = input.ConsumeRandomLengthString(80);
  const std::string name = input.ConsumeRandomLengthString(80);
  std::vector<std::string> chunks;
  std::string content;
  while (input.remaining_bytes() > 0) {
    chunks.push_back(input.ConsumeRandomLengthString(4096));
    content += chunks.back();
  }

  // Downloads look a name up only when it is a sha256; its path stays in the store.
  if (kiln::IsSha256Hex(name)) {
    const std::string path = fixture->blobs->PathFor(name);
    Check(path == fixture->dir + "/" + name.substr(0, 2) + "/" + name, "PathFor", path);
  }

  const std::string real_sha = kiln::Sha256Hex(content);
  kiln::v1::BlobHeader header;
  header.set_size_bytes(size_mode == 0   ? static_cast<int64_t>(content.size())
                        : size_mode == 1 ? any_size
                                         : static_cast<int64_t>(content.size()) + (any_size % 3));
  if (sha_mode == 1) header.set_sha256(real_sha);
  if (sha_mode == 2) header.set_sha256(any_sha);
  if (sha_mode == 3) header.set_sha256(kiln::Sha256Hex(content + "x"));

  const absl::Status valid = kiln::store::ValidateBlobHeader(header, kMaxBlobBytes);
  if (!valid.ok()) {
    Check(valid.code() == absl::StatusCode::kInvalidArgument ||
              valid.code() == absl::StatusCode::kResourceExhausted,
          "ValidateBlobHeader code", valid.ToString());
    Check(absl::StartsWith(valid.message(), "header."), "ValidateBlobHeader field",
          valid.ToString());
    return 0;
  }

  const std::string final_path = fixture->blobs->PathFor(real_sha);
  const bool existed = fs::exists(final_path);
  absl::StatusOr<kiln::v1::StoredBlob> stored;
  {
    auto writer = fixture->blobs->NewWriter(header.size_bytes());
    Check(writer.ok(), "NewWriter", writer.status().ToString());
    absl::Status appended;
    for (const std::string& chunk : chunks) {
      appended = (*writer)->Append(chunk);
      if (!appended.ok()) break;
    }
    if (!appended.ok()) {
      Check(appended.code() == absl::StatusCode::kResourceExhausted, "Append", appended.ToString());
      Check(static_cast<int64_t>(content.size()) > header.size_bytes(), "Append refused early");
      stored = appended;
    } else {
      stored = (*writer)->Finish(header.size_bytes(), header.sha256());
    }
  }  // The writer is gone: an unfinished upload's temp file must be too.
  Check(fixture->TmpIsEmpty(), "temp file left behind");

  const bool should_store = static_cast<int64_t>(content.size()) == header.size_bytes() &&
                            (header.sha256().empty() || header.sha256() == real_sha);
  Check(stored.ok() == should_store, "Finish accepted a bad upload or refused a good one",
        stored.status().ToString());
  if (!stored.ok()) {
    Check(stored.status().code() == absl::StatusCode::kInvalidArgument ||
              stored.status().code() == absl::StatusCode::kResourceExhausted,
          "Finish code", stored.status().ToString());
    Check(existed || !fs::exists(final_path), "refused upload stored");
    return 0;
  }
  Check(stored->sha256() == real_sha, "stored sha256", stored->sha256());
  Check(stored->size_bytes() == static_cast<int64_t>(content.size()), "stored size");
  Check(ReadFile(final_path) == content, "stored bytes differ from the upload");
  std::remove(final_path.c_str());  // Keep the directory small across millions of runs.
  return 0;
}
