// FromGrpcStatus: the one translation of a grpc::Status into an absl::Status for the
// client side of Kiln (the SDK and the worker agent). Internal header of the kiln_client
// library: it names gRPC types, so the public SDK header (client/kiln_client.h) does not
// include it. A pure function; any thread may call it.
#ifndef KILN_CLIENT_GRPC_STATUS_H_
#define KILN_CLIENT_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace kiln {

// The code carries over as is (gRPC and Abseil share the google.rpc.Code numbers). The
// scheduler's own messages are self-explanatory, "connection refused" is not: UNAVAILABLE
// and DEADLINE_EXCEEDED get "<method> to scheduler at <address>: " prepended.
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view method,
                            absl::string_view address);

}  // namespace kiln

#endif  // KILN_CLIENT_GRPC_STATUS_H_
