// JsonStruct: a google::protobuf::Struct parsed from a JSON string literal, for building
// task parameters in tests. A parse error fails the calling test (non-fatally) and names
// the JSON. Test-only.
#ifndef KILN_COMMON_TESTING_JSON_STRUCT_H_
#define KILN_COMMON_TESTING_JSON_STRUCT_H_

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace kiln::testing {

inline google::protobuf::Struct JsonStruct(const std::string& json) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(status.ok()) << status << " in " << json;
  return s;
}

}  // namespace kiln::testing

#endif  // KILN_COMMON_TESTING_JSON_STRUCT_H_
