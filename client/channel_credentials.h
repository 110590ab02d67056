// The channel credentials of every client of the scheduler (SDK, kilnctl, worker agent),
// built from ClientTlsOptions: plaintext, or TLS with the files read and checked here so
// that a bad file fails Create() by name instead of every later handshake. Internal header
// of the kiln_client library (it names gRPC types). Pure functions; any thread.
#ifndef KILN_CLIENT_CHANNEL_CREDENTIALS_H_
#define KILN_CLIENT_CHANNEL_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "client/tls_options.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace kiln {

// Insecure credentials when !tls.active(); else SSL credentials. INVALID_ARGUMENT naming
// the file (or field) that cannot be read or does not hold what it should.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> SchedulerChannelCredentials(
    const ClientTlsOptions& tls);

// Adds what the channel needs besides its credentials (the server name override).
void AddTlsChannelArguments(const ClientTlsOptions& tls, grpc::ChannelArguments& args);

}  // namespace kiln

#endif  // KILN_CLIENT_CHANNEL_CREDENTIALS_H_
