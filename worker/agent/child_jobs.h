// Child jobs a running task asks for (ExecSubmitChildren, docs/pipelines.md "Fan-out"):
// the worker side's pure parts. The files a child names must lie inside the attempt's
// directory (what the task wrote to its output_dir, or its staged inputs) and carry safe
// input names; failures travel back to the executor as ExecChildrenResult. Pure
// functions of their arguments and the file system; any thread.
#ifndef KILN_WORKER_AGENT_CHILD_JOBS_H_
#define KILN_WORKER_AGENT_CHILD_JOBS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/v1/executor.pb.h"

namespace kiln::agent {

// The canonical path of children[child].files[index] (`file`) when it names an existing
// regular file inside `attempt_dir` under a safe input name; InvalidArgument naming the
// field ("children[1].files[0]: ...") otherwise. Relative paths are taken from
// `attempt_dir`.
absl::StatusOr<std::string> ResolveChildFile(const std::string& attempt_dir,
                                             const kiln::v1::LocalFile& file, int child, int index);

// The ExecChildrenResult that reports `status` (not OK) for `call_id`.
kiln::v1::ExecChildrenResult ChildrenFailure(const std::string& call_id,
                                             const absl::Status& status);

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_CHILD_JOBS_H_
