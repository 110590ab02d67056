// Pipeline files for `kilnctl submit -f` (docs/pipelines.md): several named jobs with
// `depends_on: [name]`, turned into one SubmitJobs batch whose specs name their
// dependencies by batch index, in an order where every job comes after the jobs it
// depends on. Unknown names and cycles are refused here, naming the jobs. Pure (reads
// no files: `files` paths are only resolved against the file's directory); any thread.
#ifndef KILN_CLIENT_PIPELINE_FILE_H_
#define KILN_CLIENT_PIPELINE_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/job_spec_flags.h"
#include "kiln/v1/job.pb.h"

namespace kiln::kilnctl {

struct PipelinePlan {
  // In submit order (dependencies first); names[i] is the file's name of specs[i].
  std::vector<std::string> names;
  std::vector<v1::JobSpec> specs;
  // Local files to upload and add as inputs of specs[i].
  std::vector<std::vector<InputFile>> uploads;
};

// Reads a pipeline file (YAML or JSON) named `source`; relative `files` paths are taken
// from `base_dir` ("" = the working directory). A depends_on entry that is a job id
// ("j-" and 16 hex digits) names a job submitted before. Errors are INVALID_ARGUMENT.
absl::StatusOr<PipelinePlan> ReadPipeline(absl::string_view text, absl::string_view source,
                                          absl::string_view base_dir);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_PIPELINE_FILE_H_
