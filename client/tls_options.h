// ClientTlsOptions: how a client of the scheduler (the SDK, kilnctl, kiln-worker) secures
// its connection. Part of the public SDK (a member of kiln::ClientOptions); plain data.
#ifndef KILN_CLIENT_TLS_OPTIONS_H_
#define KILN_CLIENT_TLS_OPTIONS_H_

#include <string>

namespace kiln {

// TLS is used when `enabled` is set or any other field is non-empty; otherwise the
// connection is plaintext (the scheduler's default today; see docs/operations.md, "TLS").
// Files are read once, when the client is created; a PEM field, when set, wins over the
// file of the same role.
struct ClientTlsOptions {
  // TLS with gRPC's default roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH or the system's) when
  // no CA is given below.
  bool enabled = false;
  // CA certificates the scheduler's certificate must chain to.
  std::string ca_file;
  std::string ca_pem;
  // A client certificate (chain) and its unencrypted private key, both or neither: for a
  // scheduler started with --tls-client-ca (mutual TLS).
  std::string cert_file;
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;
  // The name the scheduler's certificate must carry, instead of the address's host (e.g.
  // "localhost", or the certificate's DNS name when dialling an IP address).
  std::string server_name;

  bool active() const {
    return enabled || !ca_file.empty() || !ca_pem.empty() || !cert_file.empty() ||
           !cert_pem.empty() || !key_file.empty() || !key_pem.empty() || !server_name.empty();
  }
};

}  // namespace kiln

#endif  // KILN_CLIENT_TLS_OPTIONS_H_
