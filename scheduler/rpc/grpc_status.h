// absl::Status <-> grpc::Status, the one translation point of the scheduler's RPC layer.
#ifndef KILN_SCHEDULER_RPC_GRPC_STATUS_H_
#define KILN_SCHEDULER_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace kiln::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_GRPC_STATUS_H_
