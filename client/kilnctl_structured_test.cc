#include "client/kilnctl_structured.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "kiln/v1/job.pb.h"

namespace kiln::kilnctl {
namespace {

google::protobuf::Value Parse(const std::string& json) {
  google::protobuf::Value value;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &value).ok()) << json;
  return value;
}

TEST(StructuredTest, JsonSortsKeysAndParsesBackToTheSameMessage) {
  v1::Job job;
  job.set_id("j-0000000000000001");
  job.set_state(v1::JOB_STATE_RUNNING);
  (*job.mutable_spec()->mutable_labels())["zeta"] = "1";
  (*job.mutable_spec()->mutable_labels())["alpha"] = "2";
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"b": 1.5, "a": [1, "x", true, null], "c": {}})",
                  job.mutable_spec()->mutable_parameters())
                  .ok());
  const std::string json = ValueToJson(ToValueTree(job), true);
  EXPECT_LT(json.find("\"alpha\""), json.find("\"zeta\""));
  EXPECT_LT(json.find("\"a\": ["), json.find("\"b\": 1.5"));
  v1::Job parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  // Equal as messages (maps serialize in no fixed order, so bytes may differ).
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, job));
  EXPECT_EQ(ValueToJson(ToValueTree(job), false).find('\n'), std::string::npos);
}

TEST(StructuredTest, YamlBlocksListsAndQuotedStrings) {
  const google::protobuf::Value value = Parse(
      R"({"name": "a \"quoted\"\nline", "n": 3, "f": 0.25, "ok": false, "none": null,
          "empty": [], "obj": {}, "list": [{"k": "v", "j": 1}, [2, 3], "s"],
          "key with space": "x"})");
  EXPECT_EQ(ValueToYaml(value),
            "empty: []\n"
            "f: 0.25\n"
            "\"key with space\": \"x\"\n"
            "list:\n"
            "  - j: 1\n"
            "    k: \"v\"\n"
            "  -\n"
            "    - 2\n"
            "    - 3\n"
            "  - \"s\"\n"
            "n: 3\n"
            "name: \"a \\\"quoted\\\"\\nline\"\n"
            "none: null\n"
            "obj: {}\n"
            "ok: false");
}

TEST(StructuredTest, NumbersPrintShortestExactly) {
  EXPECT_EQ(ValueToJson(Parse("0.1"), false), "0.1");
  EXPECT_EQ(ValueToJson(Parse("1e+21"), false), "1e+21");
  EXPECT_EQ(ValueToJson(Parse("-42"), false), "-42");
  EXPECT_EQ(ValueToYaml(Parse("\"plain\"")), "\"plain\"");
}

}  // namespace
}  // namespace kiln::kilnctl
