// Status propagation macros. Debian's Abseil (20220623) ships none, so Kiln keeps
// these two here. Both are usable only inside functions returning absl::Status or
// absl::StatusOr<T>.
#ifndef KILN_COMMON_STATUS_MACROS_H_
#define KILN_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_STATUS_CONCAT_INNER_(a, b) a##b
#define KILN_STATUS_CONCAT_(a, b) KILN_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define KILN_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status kiln_status_ = (expr);        \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (false)

// `KILN_ASSIGN_OR_RETURN(auto x, MakeX());` declares/assigns x from a StatusOr,
// or returns its status from the enclosing function.
#define KILN_ASSIGN_OR_RETURN(lhs, rexpr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_STATUS_CONCAT_(kiln_statusor_, __LINE__), lhs, rexpr)

#define KILN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // KILN_COMMON_STATUS_MACROS_H_
