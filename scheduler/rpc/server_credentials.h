// The scheduler's listening credentials: plaintext, TLS from a certificate and key, or
// mutual TLS (every caller of the port, workers and clients alike, must present a
// certificate signed by the client CA). Files are read and checked once, at start, so a
// bad file is a startup error naming it. Pure functions; any thread.
#ifndef KILN_SCHEDULER_RPC_SERVER_CREDENTIALS_H_
#define KILN_SCHEDULER_RPC_SERVER_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::rpc {

struct ServerTlsOptions {
  // PEM certificate chain and unencrypted private key; both or neither (neither: plaintext).
  std::string cert_file;
  std::string key_file;
  // PEM CA certificates; when set, every connection must present a client certificate
  // signed by one of them (mutual TLS for the whole port). Needs cert_file and key_file.
  std::string client_ca_file;

  bool active() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
};

// INVALID_ARGUMENT naming the file (by its flag, --tls-cert, --tls-key or --tls-client-ca)
// that is missing, unreadable, not PEM, or whose key does not match its certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerTlsOptions& tls);

// True when a --listen address binds only loopback (127.0.0.0/8, ::1, localhost) or is a
// unix: socket; false for wildcard addresses (0.0.0.0, [::], empty host) and the rest.
bool IsLoopbackListenAddress(absl::string_view listen);

}  // namespace kiln::rpc

#endif  // KILN_SCHEDULER_RPC_SERVER_CREDENTIALS_H_
