// SHA-256 content addresses for blobs (lower-case hex), computed incrementally
// so that streamed uploads never hold a whole blob in memory. Not thread-safe:
// one hasher per stream.
#ifndef KILN_COMMON_SHA256_H_
#define KILN_COMMON_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl//status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);
  // Returns the lower-case hex digest; the hasher must not be used afterwards.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Digest of a whole buffer.
std::string Sha256Hex(absl::string_view data);
// Digest of a file's contents, read in chunks.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);
// True for 64 lower-case hex digits.
bool IsSha256Hex(absl::string_view s);

}  // namespace kiln

#endif  // KILN_COMMON_SHA256_H_
