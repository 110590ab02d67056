// Authenticator: turns a call's "authorization: Bearer <token>" metadata into an
// auth::Caller through the scheduler's TokenTable; without a table (no --auth-tokens)
// every call is auth::Caller::Anonymous(), an admin of the default tenant. The table can
// be replaced while serving (a reload); calls in flight keep the one they started with.
// Owned by SchedulerServer; thread-safe (gRPC threads call Authenticate concurrently).
#ifndef KILN_SCHEDULER_RPC_AUTHENTICATOR_H_
#define KILN_SCHEDULER_RPC_AUTHENTICATOR_H_

#include <grpcpp/server_context.h>

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/auth/caller.h"
#include "scheduler/auth/token_table.h"

namespace kiln::rpc {

class Authenticator {
 public:
  // `table` null: authentication off.
  explicit Authenticator(std::shared_ptr<const auth::TokenTable> table)
      : table_(std::move(table)) {}

  // UNAUTHENTICATED when authentication is on and the call carries no bearer token, a
  // malformed one, or one the table does not know.
  absl::StatusOr<auth::Caller> Authenticate(const grpc::ServerContextBase& context) const;
  // The same for a bare token (the dashboard's `Authorization: Bearer <token>`; empty when
  // the request had none).
  absl::StatusOr<auth::Caller> AuthenticateToken(absl::string_view token) const;

  // Swaps in a new table (null turns authentication off).
  void Replace(std::shared_ptr<const auth::TokenTable> table);
  bool enabled() const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const auth::TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_AUTHENTICATOR_H_
