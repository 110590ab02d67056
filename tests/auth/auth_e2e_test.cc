// Tokens end to end with real processes on loopback: kiln-scheduler --auth-tokens, a
// kiln-worker with its worker token (--token-file), workers without a token or with a
// token bound to another worker id, and kilnctl as users of two tenants and as an admin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/testing/scoped_temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-3f9c2a";
constexpr char kBobToken[] = "bob-77d1e0";
constexpr char kRootToken[] = "root-c0ffee";
constexpr char kPoolToken[] = "pool-5eed42";

std::string TokenFile() {
  auto entry = [](const std::string& name, const std::string& token, const std::string& tenant,
                  const std::string& role, const std::string& extra = "") {
    return absl::StrCat(R"({"name": ")", name, R"(", "sha256": ")", Sha256Hex(token),
                        R"(", "tenant": ")", tenant, R"(", "role": ")", role, "\"", extra, "}");
  };
  return absl::StrCat(
      R"({"tokens": [)", entry("alice", kAliceToken, "acme", "user"), ",",
      entry("bob", kBobToken, "beta", "user"), ",", entry("root", kRootToken, "ops", "admin"), ",",
      entry("pool", kPoolToken, "ops", "worker", R"(, "worker_ids": ["worker-0"])"), "]}");
}

TEST(AuthEndToEnd, TenantsWorkerTokensAndAdminsThroughKilnctlAndKilnWorker) {
  LocalFarm farm;
  ScopedTempDir secrets;
  const std::string tokens = secrets.WriteFile("tokens.json", TokenFile());
  const std::string pool_token = secrets.WriteFile("pool.token", absl::StrCat(kPoolToken, "\n"));
  ASSERT_TRUE(farm.StartScheduler({"--auth_tokens=" + tokens}).ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::StrContains(farm.Log("scheduler.log"), "tokens from " + tokens); },
      absl::Seconds(10)))
      << farm.Log("scheduler.log");

  // worker-0 with its token; worker-1 with the same token, which is bound to worker-0;
  // worker-2 with none.
  ASSERT_TRUE(farm.StartWorker(0, 1, {"--token_file=" + pool_token}).ok());
  ASSERT_TRUE(farm.StartWorker(1, 1, {"--token_file=" + pool_token}).ok());
  ASSERT_TRUE(farm.StartWorker(2, 1).ok());
  EXPECT_TRUE(WaitUntil(
      [&] { return absl::StrContains(farm.Log("worker-1.log"), "may not act as worker_id"); },
      absl::Seconds(60)))
      << farm.Log("worker-1.log");
  EXPECT_TRUE(
      WaitUntil([&] { return absl::StrContains(farm.Log("worker-2.log"), "requires a token"); },
                absl::Seconds(60)))
      << farm.Log("worker-2.log");

  auto as = [&](const std::string& token, std::vector<std::string> args) {
    if (!token.empty()) args.push_back("--token=" + token);
    args.push_back("--timeout=20s");
    return farm.Kilnctl(args, absl::Seconds(120));
  };

  // Alice's job runs on worker-0 (the only worker admitted), and she fetches its mesh.
  CommandResult submit =
      as(kAliceToken, {"submit", "mesh.extract", "--params",
                       R"({"shape":{"type":"sphere","radius":1},"resolution":16})", "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm.Log("worker-0.log");
  const std::string id(absl::StripAsciiWhitespace(submit.out.substr(0, submit.out.find('\n'))));
  ASSERT_EQ(id.substr(0, 2), "j-") << submit.out;
  CommandResult get = as(kAliceToken, {"get", id, "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  v1::Job job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &job).ok()) << get.out;
  EXPECT_EQ(job.tenant(), "acme");
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_FALSE(job.attempts().empty());
  EXPECT_EQ(job.attempts(job.attempts_size() - 1).worker_id(), "worker-0");
  CommandResult fetch = as(kAliceToken, {"fetch", id, "--dir", farm.dir() + "/alice"});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  EXPECT_TRUE(std::filesystem::exists(std::string(absl::StripAsciiWhitespace(fetch.out))))
      << fetch.out;

  // Bob (another tenant) finds neither the job nor its outputs, and does not list it.
  EXPECT_EQ(as(kBobToken, {"get", id}).exit_code, 3);
  EXPECT_EQ(as(kBobToken, {"fetch", id, "--dir", farm.dir() + "/bob"}).exit_code, 3);
  EXPECT_EQ(as(kBobToken, {"cancel", id}).exit_code, 3);
  CommandResult bob_list = as(kBobToken, {"list", "-o", "json"});
  EXPECT_EQ(bob_list.exit_code, 0) << bob_list.err;
  EXPECT_THAT(bob_list.out, Not(HasSubstr(id)));
  CommandResult root_list = as(kRootToken, {"list", "-o", "json"});
  EXPECT_EQ(root_list.exit_code, 0) << root_list.err;
  EXPECT_THAT(root_list.out, HasSubstr(id));

  // No token, a wrong one, the worker's: refused.
  CommandResult anonymous = as("", {"get", id});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, HasSubstr("requires a token"));
  CommandResult wrong = as("not-a-token", {"get", id});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("not recognised"));
  CommandResult worker = as(kPoolToken, {"get", id});
  EXPECT_EQ(worker.exit_code, 1);
  EXPECT_THAT(worker.err, HasSubstr("needs a user or admin token"));

  // Draining is for admins.
  CommandResult user_drain = as(kAliceToken, {"drain", "worker", "worker-0"});
  EXPECT_EQ(user_drain.exit_code, 1);
  EXPECT_THAT(user_drain.err, HasSubstr("needs an admin token"));
  CommandResult admin_drain = as(kRootToken, {"drain", "worker", "worker-0"});
  EXPECT_EQ(admin_drain.exit_code, 0) << admin_drain.err;

  // Only worker-0 ever registered.
  CommandResult workers = as(kRootToken, {"workers", "-o", "json"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_THAT(workers.out, HasSubstr("worker-0"));
  EXPECT_THAT(workers.out, Not(HasSubstr("worker-1")));
  EXPECT_THAT(workers.out, Not(HasSubstr("worker-2")));
}

}  // namespace
}  // namespace kiln::testing
