#include "client/kilnctl_args.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::kilnctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<FlagSpec> TestFlags() {
  return {
      {"output", 'o', true, "FORMAT", "format"},
      {"label", 'l', true, "K=V", "label"},
      {"priority", '\0', true, "N", "priority"},
      {"wait", 'w', false, "", "wait"},
  };
}

TEST(ParseArgsTest, ParsesLongShortInlineAndRepeatedFlags) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(TestFlags(), {"task", "--label", "a=1", "-l", "b=2", "--label=c=3", "-ojson",
                              "--priority", "-5", "--wait", "extra"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->positional(), ElementsAre("task", "extra"));
  EXPECT_THAT(args->GetAll("label"), ElementsAre("a=1", "b=2", "c=3"));
  EXPECT_EQ(args->Get("output"), "json");
  EXPECT_EQ(args->Get("priority"), "-5");  // A value may start with '-'.
  EXPECT_TRUE(args->Switch("wait"));
  EXPECT_FALSE(args->Has("missing"));
  EXPECT_EQ(args->GetOr("missing", "dflt"), "dflt");
}

TEST(ParseArgsTest, LastValueOfASingleFlagWins) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(TestFlags(), {"-o", "json", "-o=table"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("output"), "table");
}

TEST(ParseArgsTest, SwitchAcceptsExplicitBooleans) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(TestFlags(), {"--wait=false"});
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Switch("wait"));
  EXPECT_TRUE(args->Has("wait"));
  absl::StatusOr<ParsedArgs> bad = ParseArgs(TestFlags(), {"--wait=soon"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseArgsTest, DoubleDashEndsFlagsAndLoneDashIsPositional) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(TestFlags(), {"-", "--", "--wait", "-x"});
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(args->positional(), ElementsAre("-", "--wait", "-x"));
  EXPECT_FALSE(args->Has("wait"));
}

TEST(ParseArgsTest, RejectsUnknownFlagsAndMissingValues) {
  absl::StatusOr<ParsedArgs> unknown = ParseArgs(TestFlags(), {"--colour", "red"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("--colour"));
  absl::StatusOr<ParsedArgs> unknown_short = ParseArgs(TestFlags(), {"-x"});
  EXPECT_THAT(unknown_short.status().message(), HasSubstr("-x"));
  absl::StatusOr<ParsedArgs> missing = ParseArgs(TestFlags(), {"--label"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("needs a value"));
}

TEST(ExtractVerbTest, SkipsGlobalFlagsAndTheirValues) {
  const std::vector<FlagSpec> global = {
      {"addr", '\0', true, "", ""}, {"output", 'o', true, "", ""}, {"help", 'h', false, "", ""}};
  auto [verb, rest] =
      ExtractVerb(global, {"--addr", "h:1", "-o", "json", "-h", "get", "j-1", "--addr=x"});
  EXPECT_EQ(verb, "get");
  EXPECT_THAT(rest, ElementsAre("--addr", "h:1", "-o", "json", "-h", "j-1", "--addr=x"));

  auto [inline_verb, inline_rest] = ExtractVerb(global, {"--addr=h:1", "-ojson", "list"});
  EXPECT_EQ(inline_verb, "list");
  EXPECT_THAT(inline_rest, ElementsAre("--addr=h:1", "-ojson"));

  auto [none, none_rest] = ExtractVerb(global, {"--help"});
  EXPECT_EQ(none, "");
  EXPECT_THAT(none_rest, ElementsAre("--help"));
  EXPECT_THAT(ExtractVerb(global, {}).second, IsEmpty());
}

TEST(FlagsHelpTest, AlignsDescriptions) {
  EXPECT_EQ(FlagsHelp({{"output", 'o', true, "FORMAT", "the format"},
                       {"wait", '\0', false, "", "wait for it"}}),
            "  -o, --output FORMAT   the format\n"
            "      --wait            wait for it\n");
}

}  // namespace
}  // namespace kiln::kilnctl
