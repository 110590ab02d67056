#include "scheduler/rpc/grpc_status.h"

#include <string>

namespace kiln::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // The numeric codes of absl and gRPC are the same canonical codes.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace kiln::rpc
