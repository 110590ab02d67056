// TokenTable: the scheduler's accepted bearer tokens, loaded from the token file
// (kiln-scheduler --auth-tokens, a kiln.v1.TokenFile as JSON). It keeps only SHA-256
// hashes: Authenticate hashes the presented token and compares it with every entry in
// constant time, so neither the file nor the timing gives a token away.
// Immutable after Load/Parse; any thread may call Authenticate. A reload builds a new
// table (the caller swaps it in).
#ifndef KILN_SCHEDULER_AUTH_TOKEN_TABLE_H_
#define KILN_SCHEDULER_AUTH_TOKEN_TABLE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scheduler/auth/caller.h"

namespace kiln::auth {

class TokenTable {
 public:
  // Reads and parses `path`. Errors name the file and, for a bad entry, its index and
  // name: "tokens.json: tokens[2] (\"bob\").role: must be user, admin or worker".
  static absl::StatusOr<std::unique_ptr<TokenTable>> Load(const std::string& path);
  // Parses JSON text; `source` (a file name) prefixes the errors.
  static absl::StatusOr<std::unique_ptr<TokenTable>> Parse(absl::string_view json,
                                                           absl::string_view source);

  // The caller a bearer token stands for; UNAUTHENTICATED when no entry matches.
  absl::StatusOr<Caller> Authenticate(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> hash;
    Caller caller;
  };
  explicit TokenTable(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  const std::vector<Entry> entries_;
};

// Compares two equal-length byte strings without an early exit (the time does not
// depend on where they differ). False when the lengths differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace kiln::auth

#endif  // KILN_SCHEDULER_AUTH_TOKEN_TABLE_H_
