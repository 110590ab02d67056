#include "scheduler/auth/token_table.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "kiln/v1/auth.pb.h"

namespace kiln::auth {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsSafe(absl::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::array<uint8_t, 32> HashBytes(absl::string_view hex) {
  std::array<uint8_t, 32> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1]));
  }
  return bytes;
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | (static_cast<uint8_t>(a[i]) ^ static_cast<uint8_t>(b[i]));
  }
  return diff == 0;
}

absl::StatusOr<std::unique_ptr<TokenTable>> TokenTable::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the token file"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

absl::StatusOr<std::unique_ptr<TokenTable>> TokenTable::Parse(absl::string_view json,
                                                              absl::string_view source) {
  kiln::v1::TokenFile file;
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &file, parse_options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a token file (kiln.v1.TokenFile as JSON): ",
                     std::string(parsed.message().data(), parsed.message().size())));
  }
  if (file.tokens().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tokens: at least one is needed"));
  }
  std::vector<Entry> entries;
  std::set<std::string> names;
  std::set<std::string> hashes;
  for (int i = 0; i < file.tokens_size(); ++i) {
    const kiln::v1::TokenEntry& token = file.tokens(i);
    const std::string where = absl::StrCat(source, ": tokens[", i, "]");
    const std::string entry = token.name().empty()
                                  ? where
                                  : absl::StrCat(where, " (\"", token.name().substr(0, 64), "\")");
    auto invalid = [&](absl::string_view field, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(entry, ".", field, ": ", why));
    };
    if (!IsSafe(token.name(), 128)) {
      return invalid("name", "must be 1..128 characters of [A-Za-z0-9._-]");
    }
    if (!names.insert(token.name()).second) return invalid("name", "used by an earlier entry");
    if (!IsSha256Hex(token.sha256())) {
      return invalid("sha256",
                     "must be the 64 lower-case hex digits of the token's SHA-256 (printf %s "
                     "\"$TOKEN\" | sha256sum), never the token itself");
    }
    if (!hashes.insert(token.sha256()).second) {
      return invalid("sha256", "the same token as an earlier entry");
    }
    if (!IsSafe(token.tenant(), 63)) {
      return invalid("tenant", "must be 1..63 characters of [A-Za-z0-9._-]");
    }
    const std::optional<Role> role = ParseRole(token.role());
    if (!role.has_value()) return invalid("role", "must be user, admin or worker");
    if (*role != Role::kWorker && !token.worker_ids().empty()) {
      return invalid("worker_ids", "only worker tokens are bound to worker ids");
    }
    Caller caller;
    caller.name = token.name();
    caller.tenant = token.tenant();
    caller.role = *role;
    for (int j = 0; j < token.worker_ids_size(); ++j) {
      if (!IsSafe(token.worker_ids(j), 128)) {
        return invalid(absl::StrCat("worker_ids[", j, "]"),
                       "must be 1..128 characters of [A-Za-z0-9._-]");
      }
      caller.worker_ids.push_back(token.worker_ids(j));
    }
    entries.push_back(Entry{HashBytes(token.sha256()), std::move(caller)});
  }
  return std::unique_ptr<TokenTable>(new TokenTable(std::move(entries)));
}

absl::StatusOr<Caller> TokenTable::Authenticate(absl::string_view token) const {
  if (token.empty()) return absl::UnauthenticatedError("empty bearer token");
  const std::array<uint8_t, 32> hash = HashBytes(Sha256Hex(token));
  const absl::string_view presented(reinterpret_cast<const char*>(hash.data()), hash.size());
  // Every entry is compared, match or not, so the time says nothing about which matched.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    const absl::string_view known(reinterpret_cast<const char*>(entry.hash.data()),
                                  entry.hash.size());
    if (ConstantTimeEquals(presented, known)) match = &entry;
  }
  if (match == nullptr) return absl::UnauthenticatedError("bearer token not recognised");
  return match->caller;
}

}  // namespace kiln::auth
