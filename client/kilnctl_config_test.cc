#include "client/kilnctl_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace kiln::kilnctl {
namespace {

using ::testing::HasSubstr;

TEST(ConfigFileTest, ParsesKeysQuotesAndComments) {
  absl::StatusOr<ConfigFile> config = ParseConfigFile(
      "# kiln\n---\naddr: sched:7070   # the farm\ntoken: \"a b#c\"\noutput: 'wide'\n\n"
      "timeout: 5s\n",
      "cfg.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->values.at("addr"), "sched:7070");
  EXPECT_EQ(config->values.at("token"), "a b#c");
  EXPECT_EQ(config->values.at("output"), "wide");
  EXPECT_EQ(config->values.at("timeout"), "5s");
}

TEST(ConfigFileTest, ErrorsNameTheFileAndLine) {
  auto unknown = ParseConfigFile("addr: x\ncolour: blue\n", "/etc/k.yaml");
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("/etc/k.yaml:2: unknown key \"colour\""));
  auto twice = ParseConfigFile("addr: x\naddr: y\n", "k");
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("k:2: \"addr\" given twice"));
  auto nested = ParseConfigFile("addr:\n  host: x\n", "k");
  EXPECT_THAT(std::string(nested.status().message()), HasSubstr("k:2: nested values"));
  auto no_colon = ParseConfigFile("just text\n", "k");
  EXPECT_THAT(std::string(no_colon.status().message()), HasSubstr("k:1: expected \"key: value\""));
  auto open_quote = ParseConfigFile("token: \"abc\n", "k");
  EXPECT_THAT(std::string(open_quote.status().message()), HasSubstr("k:1: unterminated"));
}

TEST(ConfigFileTest, FlagBeatsEnvironmentBeatsFileBeatsDefault) {
  ConfigFile file;
  file.values["addr"] = "from-file";
  EXPECT_EQ(Resolve("from-flag", "from-env", file, "addr", "default"), "from-flag");
  EXPECT_EQ(Resolve(std::nullopt, "from-env", file, "addr", "default"), "from-env");
  EXPECT_EQ(Resolve(std::nullopt, "", file, "addr", "default"), "from-file");  // empty env: unset
  EXPECT_EQ(Resolve(std::nullopt, std::nullopt, file, "addr", "default"), "from-file");
  EXPECT_EQ(Resolve(std::nullopt, std::nullopt, ConfigFile(), "addr", "default"), "default");
}

TEST(ConfigFileTest, FindsTheFileFromTheEnvironment) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> std::optional<std::string> {
      auto it = vars.find(name);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  ConfigLocation explicit_file = FindConfigFile(env({{"KILN_CONFIG", "/x.yaml"}, {"HOME", "/h"}}));
  EXPECT_EQ(explicit_file.path, "/x.yaml");
  EXPECT_TRUE(explicit_file.required);
  ConfigLocation home = FindConfigFile(env({{"HOME", "/h"}}));
  EXPECT_EQ(home.path, "/h/.config/kiln/config.yaml");
  EXPECT_FALSE(home.required);
  EXPECT_EQ(FindConfigFile(env({{"HOME", "/h"}, {"XDG_CONFIG_HOME", "/xdg"}})).path,
            "/xdg/kiln/config.yaml");
  EXPECT_EQ(FindConfigFile(env({})).path, "");
}

TEST(ConfigFileTest, TlsKeysAreKnown) {
  auto config = ParseConfigFile(
      "tls-ca: /etc/kiln/ca.pem\ntls-cert: w.pem\ntls-key: w.key\ntls-server-name: localhost\n",
      "k");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->values.at("tls-ca"), "/etc/kiln/ca.pem");
  EXPECT_EQ(config->values.at("tls-server-name"), "localhost");
  EXPECT_EQ(Resolve(std::nullopt, std::nullopt, *config, "tls-key", ""), "w.key");
}

}  // namespace
}  // namespace kiln::kilnctl
