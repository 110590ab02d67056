#include "scheduler/auth/token_table.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"

namespace kiln::auth {
namespace {

std::string Entry(const std::string& name, const std::string& token, const std::string& tenant,
                  const std::string& role, const std::string& extra = "") {
  return absl::StrCat(R"({"name": ")", name, R"(", "sha256": ")", Sha256Hex(token),
                      R"(", "tenant": ")", tenant, R"(", "role": ")", role, "\"", extra, "}");
}

std::string File(const std::vector<std::string>& entries) {
  std::string json = R"({"tokens": [)";
  for (size_t i = 0; i < entries.size(); ++i) absl::StrAppend(&json, i ? ", " : "", entries[i]);
  return json + "]}";
}

TEST(TokenTableTest, AuthenticatesEachEntryAndNothingElse) {
  auto table = TokenTable::Parse(
      File({Entry("alice", "tok-alice", "acme", "user"), Entry("root", "tok-root", "ops", "admin"),
            Entry("pool", "tok-pool", "ops", "worker", R"(, "worker_ids": ["w-1", "w-2"])")}),
      "tokens.json");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->size(), 3u);

  auto alice = (*table)->Authenticate("tok-alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->tenant, "acme");
  EXPECT_EQ(alice->role, Role::kUser);
  EXPECT_FALSE(alice->anonymous);

  auto root = (*table)->Authenticate("tok-root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->role, Role::kAdmin);

  auto pool = (*table)->Authenticate("tok-pool");
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->role, Role::kWorker);
  EXPECT_EQ(pool->worker_ids, (std::vector<std::string>{"w-1", "w-2"}));

  for (const char* wrong : {"tok-alic", "tok-alice ", "", "TOK-ALICE", "tok-bob"}) {
    auto result = (*table)->Authenticate(wrong);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << wrong;
  }
  // The hash itself is not a token.
  EXPECT_EQ((*table)->Authenticate(Sha256Hex("tok-alice")).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenTableTest, BadEntriesNameFileEntryAndField) {
  struct Case {
    std::string json;
    std::string expected;  // substring of the message
  };
  const std::string ok = Entry("ok", "tok-ok", "acme", "user");
  const std::vector<Case> cases = {
      {"not json", "tokens.json: not a token file"},
      {R"({"tokens": [], "extra": 1})", "tokens.json: not a token file"},
      {R"({"tokens": []})", "tokens.json: tokens: at least one"},
      {File({ok, Entry("", "t2", "acme", "user")}), "tokens[1].name: must be 1..128"},
      {File({ok, Entry("ok", "t2", "acme", "user")}),
       "tokens[1] (\"ok\").name: used by an earlier"},
      {File({ok, R"({"name": "bob", "sha256": "tok-bob", "tenant": "acme", "role": "user"})"}),
       "tokens[1] (\"bob\").sha256: must be the 64 lower-case hex digits"},
      {File({ok, R"({"name": "bob", "sha256": ")" + std::string(64, 'A') +
                     R"(", "tenant": "acme", "role": "user"})"}),
       "tokens[1] (\"bob\").sha256: must be the 64"},
      {File({ok, Entry("bob", "tok-ok", "acme", "user")}), "(\"bob\").sha256: the same token"},
      {File({ok, Entry("bob", "t2", "", "user")}), "(\"bob\").tenant: must be 1..63"},
      {File({ok, Entry("bob", "t2", "a/b", "user")}), "(\"bob\").tenant: must be 1..63"},
      {File({ok, Entry("bob", "t2", "acme", "root")}),
       "(\"bob\").role: must be user, admin or worker"},
      {File({ok, Entry("bob", "t2", "acme", "")}), "(\"bob\").role: must be user"},
      {File({ok, Entry("bob", "t2", "acme", "user", R"(, "worker_ids": ["w"])")}),
       "(\"bob\").worker_ids: only worker tokens"},
      {File({ok, Entry("bob", "t2", "acme", "worker", R"(, "worker_ids": ["w 1"])")}),
       "(\"bob\").worker_ids[0]: must be 1..128"},
      {File({ok, R"({"name": "bob", "token": "x"})"}), "tokens.json: not a token file"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Parse(c.json, "tokens.json");
    ASSERT_FALSE(table.ok()) << c.json;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_TRUE(absl::StrContains(table.status().message(), c.expected))
        << table.status() << "\nexpected: " << c.expected;
  }
}

TEST(TokenTableTest, LoadReadsTheFileAndNamesItInErrors) {
  kiln::testing::ScopedTempDir dir;
  const std::string path =
      dir.WriteFile("tokens.json", File({Entry("alice", "tok-alice", "acme", "user")}));
  auto table = TokenTable::Load(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE((*table)->Authenticate("tok-alice").ok());

  auto missing = TokenTable::Load(dir.Sub("missing.json"));
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "missing.json")) << missing.status();

  dir.WriteFile("tokens.json", File({Entry("alice", "tok-alice", "acme", "superuser")}));
  auto bad = TokenTable::Load(path);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), path + ": tokens[0] (\"alice\").role"))
      << bad.status();
}

TEST(ConstantTimeEqualsTest, ComparesBytes) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "xbc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace kiln::auth
