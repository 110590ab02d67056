// The live progress line that `kilnctl watch` redraws in place on a terminal, and the
// column-safe cutting it needs: a line must never be wider than the terminal (it would
// wrap, and "\r" would then redraw only its last row) and must never end in half a UTF-8
// sequence. Pure functions of their arguments (time is passed in); any thread.
#ifndef KILN_CLIENT_KILNCTL_PROGRESS_H_
#define KILN_CLIENT_KILNCTL_PROGRESS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kiln/v1/job.pb.h"

namespace kiln::kilnctl {

// One line, at most `width` columns (no limit when width <= 0):
//   "[#########-----------]  42%  running  1m05s  slept 0.8 of 2.0 s"
// The bar takes a quarter of the width (10 to 30 cells); elapsed runs from the job's
// creation to its end (or `now`); the message (progress message while running, else the
// status message) comes last, so it is what a narrow terminal cuts.
std::string FormatWatchProgress(const v1::Job& job, absl::Time now, int width);

// Cells the bar of FormatWatchProgress has at `width` columns.
int ProgressBarCells(int width);

// "0s", "42s", "1m05s", "2h03m", "3d04h".
std::string FormatElapsed(absl::Duration elapsed);

// The longest prefix of `text` that fits `columns` terminal columns, cut between UTF-8
// sequences. East Asian wide characters count two columns; control characters (which
// would move the cursor) become spaces and malformed UTF-8 bytes become '?'.
std::string FitToColumns(absl::string_view text, int columns);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_PROGRESS_H_
