#include "client/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace kiln {

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view method,
                            absl::string_view address) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
    return absl::Status(
        code, absl::StrCat(method, " to scheduler at ", address, ": ", status.error_message()));
  }
  return absl::Status(code, status.error_message());
}

}  // namespace kiln
