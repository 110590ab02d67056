#include "client/kilnctl_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/kilnctl_format.h"
#include "common/proto_time.h"

namespace kiln::kilnctl {
namespace {

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// Wide (two-column) code points: the East Asian Wide/Fullwidth blocks and emoji.
bool IsWide(uint32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
         (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
         (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

// Length of the well-formed UTF-8 sequence at the start of `text` and its code point;
// 0 when the bytes there are malformed (stray continuation, overlong, surrogate, cut).
size_t DecodeUtf8(absl::string_view text, uint32_t* cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    *cp = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, *cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, *cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, *cp = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (byte(i) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return length;
}

}  // namespace

int ProgressBarCells(int width) { return std::clamp(width / 4, 10, 30); }

std::string FormatElapsed(absl::Duration elapsed) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(elapsed));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string FitToColumns(absl::string_view text, int columns) {
  std::string out;
  int used = 0;
  while (!text.empty()) {
    uint32_t cp = 0;
    size_t length = DecodeUtf8(text, &cp);
    std::string piece;
    int cells = 1;
    if (length == 0) {
      piece = "?";
      length = 1;
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      piece = " ";  // \r, \n, ESC... would wreck the redrawn line.
    } else {
      piece = std::string(text.substr(0, length));
      cells = IsWide(cp) ? 2 : 1;
    }
    if (used + cells > columns) break;
    out += piece;
    used += cells;
    text.remove_prefix(length);
  }
  return out;
}

std::string FormatWatchProgress(const v1::Job& job, absl::Time now, int width) {
  const int cells = ProgressBarCells(width);
  const double fraction =
      job.state() == v1::JOB_STATE_SUCCEEDED ? 1.0 : std::clamp(job.progress(), 0.0, 1.0);
  const int filled = std::clamp(static_cast<int>(std::floor(fraction * cells)), 0, cells);
  absl::Time end = now;
  if (IsTerminal(job.state()) && IsSet(job.finished_at())) end = FromProtoTime(job.finished_at());
  const absl::Duration elapsed =
      IsSet(job.created_at()) ? end - FromProtoTime(job.created_at()) : absl::ZeroDuration();
  std::string line = absl::StrCat("[", std::string(filled, '#'), std::string(cells - filled, '-'),
                                  "]  ", absl::StrFormat("%4s", FormatProgress(job)), "  ",
                                  JobStateName(job.state()), "  ", FormatElapsed(elapsed));
  const std::string& message =
      job.state() == v1::JOB_STATE_RUNNING ? job.progress_message() : job.status_message();
  // "succeeded  succeeded" says nothing twice.
  if (!message.empty() && message != JobStateName(job.state())) {
    absl::StrAppend(&line, "  ", message);
  }
  return width > 0 ? FitToColumns(line, width)
                   : FitToColumns(line, std::numeric_limits<int>::max());
}

}  // namespace kiln::kilnctl
