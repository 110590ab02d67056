#include "worker/agent/child_jobs.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "worker/agent/worker_agent.h"

namespace kiln::agent {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ResolveChildFile(const std::string& attempt_dir,
                                             const kiln::v1::LocalFile& file, int child,
                                             int index) {
  const std::string field = absl::StrCat("children[", child, "].files[", index, "]");
  if (!IsSafeName(file.name())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".name: \"", file.name(), "\" is not a safe input name ([A-Za-z0-9._-]{1,128})"));
  }
  if (file.path().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".path: empty"));
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(attempt_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("attempt directory: ", ec.message()));
  const fs::path path = fs::weakly_canonical(fs::path(attempt_dir) / file.path(), ec);
  const auto [root_end, unused] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  if (ec || root_end != root.end() || path == root) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".path: ", file.path(), " is not inside the attempt's directory"));
  }
  if (!fs::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".path: ", file.path(), " is not an existing file"));
  }
  return path.string();
}

kiln::v1::ExecChildrenResult ChildrenFailure(const std::string& call_id,
                                             const absl::Status& status) {
  kiln::v1::ExecChildrenResult result;
  result.set_call_id(call_id);
  result.set_ok(false);
  result.set_error(std::string(status.message()));
  result.set_code(static_cast<int32_t>(status.code()));
  return result;
}

}  // namespace kiln::agent
