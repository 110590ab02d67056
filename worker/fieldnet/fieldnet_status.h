// A small status type for worker/fieldnet. The library builds without Abseil (the GPU box
// builds it standalone), so it cannot return absl::Status; the codes mirror absl's so a
// caller inside Kiln maps them one to one onto absl::StatusCode.
// Value type, no ownership, any thread.
#pragma once

#include <string>
#include <utility>

namespace kiln::fieldnet {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad weights, grid or pointers: fix the input
  kFailedPrecondition,  // the device cannot run this (e.g. bf16 below sm_80)
  kResourceExhausted,   // device memory
  kUnavailable,         // no device / driver
  kCancelled,           // the progress callback asked to stop
  kInternal,            // CUDA or cuBLAS failed unexpectedly
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: widths[0] must be 3 ..."; "OK" when ok().
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
const char* StatusCodeName(StatusCode code);

}  // namespace kiln::fieldnet

#define KILN_FIELDNET_RETURN_IF_ERROR(expr)                        \
  do {                                                             \
    ::kiln::fieldnet::Status kiln_fieldnet_status_ = (expr);       \
    if (!kiln_fieldnet_status_.ok()) return kiln_fieldnet_status_; \
  } while (false)
