// Reads a JobSpec (or any protobuf message) written as YAML, for `kilnctl submit -f`.
// The YAML becomes the message's canonical protobuf JSON, which then takes the same
// JsonStringToMessage path as a JSON spec file, so both formats mean the same.
//
// The message's descriptor guides the conversion: a field that holds a string takes the
// scalar's text as written (`task: 123`, `labels: {version: 2}`), integers become exact
// JSON strings (int64 has no double rounding), enums must name a value, and
// google.protobuf.Struct/Value fields (parameters) follow YAML 1.2's core schema (plain
// true/false/null/numbers are typed, quoted scalars are strings). Errors name the source,
// line:column (1-based) and the field path: "spec.yaml:4:3: requirements.priority: ...".
// Unknown fields and duplicate keys are errors. Pure; any thread.
#ifndef KILN_CLIENT_JOB_SPEC_YAML_H_
#define KILN_CLIENT_JOB_SPEC_YAML_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace kiln::kilnctl {

// Bounds on what a spec file may hold; a real spec is a few KiB and a few levels deep.
struct YamlLimits {
  // Largest file read (the caller checks it; also applied to the text given here).
  int64_t max_bytes = 1 << 20;
  // Deepest nesting of mappings and sequences.
  int max_depth = 32;
  // Most values converted (anchors and aliases can expand a small file enormously).
  int max_values = 100000;
};

// Whether -f's file is YAML: a .yaml or .yml name; a .json name is JSON; otherwise (also
// stdin) YAML unless the first non-blank character is '{'.
bool IsYamlSpecFile(absl::string_view path, absl::string_view text);

// Converts one YAML document, a mapping of `type`'s fields, into protobuf JSON for that
// type. `source` names the text in errors (a file name). Errors are INVALID_ARGUMENT.
absl::StatusOr<std::string> YamlToProtoJson(absl::string_view yaml,
                                            const google::protobuf::Descriptor& type,
                                            absl::string_view source,
                                            const YamlLimits& limits = {});

// Pipeline files (docs/pipelines.md): a mapping with `jobs`, a sequence of JobSpec
// mappings that also carry `name`, `depends_on` (names, or {name, run_on_failure,
// input_prefix}) and `files` (NAME: local PATH to upload as an input). JSON is read the
// same way (JSON is YAML). Names are resolved by pipeline_file.h.
struct PipelineDependencyText {
  std::string name;
  bool run_on_failure = false;
  std::string input_prefix;
};
struct PipelineJobJson {
  std::string name;
  int line = 0;  // where the job starts, for messages
  std::vector<PipelineDependencyText> depends_on;
  std::vector<std::pair<std::string, std::string>> files;  // input name, local path
  std::string spec_json;                                   // the JobSpec fields, as protobuf JSON
};

// Whether `text` is a pipeline file (a top-level `jobs` and no `task`).
bool IsPipelineText(absl::string_view text);

// Reads a pipeline file; errors name source:line:column and the path ("jobs[2].task").
absl::StatusOr<std::vector<PipelineJobJson>> YamlPipelineToJson(absl::string_view yaml,
                                                                absl::string_view source,
                                                                const YamlLimits& limits = {});

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_JOB_SPEC_YAML_H_
