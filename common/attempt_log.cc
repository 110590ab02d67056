#include "common/attempt_log.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

constexpr absl::string_view kNoticePrefix = "[kiln: output cut: the first ";
constexpr absl::string_view kNoticeMiddle = " bytes were dropped, the last ";

}  // namespace

std::string AttemptLogName(int attempt) { return absl::StrCat("attempt-", attempt, ".log"); }

std::string AttemptLogCutNotice(int64_t dropped_bytes, int64_t kept_bytes) {
  return absl::StrCat(kNoticePrefix, dropped_bytes, kNoticeMiddle, kept_bytes, " bytes follow]\n");
}

AttemptLogLayout ParseAttemptLog(absl::string_view blob) {
  AttemptLogLayout layout;
  if (!absl::StartsWith(blob, kNoticePrefix)) return layout;
  const size_t end_of_line = blob.find('\n');
  if (end_of_line == absl::string_view::npos) return layout;
  const absl::string_view rest =
      blob.substr(kNoticePrefix.size(), end_of_line - kNoticePrefix.size());
  const size_t middle = rest.find(kNoticeMiddle);
  int64_t dropped = 0;
  if (middle == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, middle), &dropped) ||
      dropped < 0) {
    return layout;  // Not our notice: the task printed something like it.
  }
  layout.dropped = dropped;
  layout.body_start = static_cast<int64_t>(end_of_line) + 1;
  return layout;
}

}  // namespace kiln
