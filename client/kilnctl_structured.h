// Structured output of kilnctl (-o json, -o yaml): a protobuf message as canonical proto3
// JSON, re-emitted with object keys sorted so that the same message always prints the
// same bytes (protobuf's own printer walks maps, e.g. a Struct's, in hash order), and the
// same tree as YAML. Pure functions; any thread.
#ifndef KILN_CLIENT_KILNCTL_STRUCTURED_H_
#define KILN_CLIENT_KILNCTL_STRUCTURED_H_

#include <string>

#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"

namespace kiln::kilnctl {

// The message's proto3 JSON (fields with default values included) as a Value tree.
google::protobuf::Value ToValueTree(const google::protobuf::Message& message);

// JSON of a Value tree, keys sorted; `multiline`: indented by two spaces, no final newline;
// otherwise one line.
std::string ValueToJson(const google::protobuf::Value& value, bool multiline);

// YAML of a Value tree (block style, keys sorted, every string double-quoted so that no
// value changes type on the way; empty lists and objects as [] and {}), no final newline.
std::string ValueToYaml(const google::protobuf::Value& value);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_STRUCTURED_H_
