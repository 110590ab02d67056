#include "scheduler/rpc/server_credentials.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/tls_pem.h"

namespace kiln::rpc {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerTlsOptions& tls) {
  if (!tls.active()) return grpc::InsecureServerCredentials();
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls-cert and --tls-key (--tls-client-ca alone is not enough)");
  }
  const std::string cert_what = absl::StrCat("--tls-cert ", tls.cert_file);
  const std::string key_what = absl::StrCat("--tls-key ", tls.key_file);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  KILN_ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFile(tls.cert_file, "--tls-cert"));
  KILN_ASSIGN_OR_RETURN(pair.private_key, ReadPemFile(tls.key_file, "--tls-key"));
  KILN_RETURN_IF_ERROR(CheckPemKeyPair(pair.cert_chain, cert_what, pair.private_key, key_what));
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca_file.empty()) {
    KILN_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPemFile(tls.client_ca_file, "--tls-client-ca"));
    KILN_RETURN_IF_ERROR(CheckPemCertificates(
        ssl.pem_root_certs, absl::StrCat("--tls-client-ca ", tls.client_ca_file)));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

bool IsLoopbackListenAddress(absl::string_view listen) {
  absl::string_view host = listen;
  // A unix socket never leaves the host.
  if (absl::StartsWith(host, "unix:")) return true;
  // Strip a gRPC URI scheme ("ipv4:", "ipv6:"), then the port.
  if (!absl::ConsumePrefix(&host, "ipv4:")) absl::ConsumePrefix(&host, "ipv6:");
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace kiln::rpc
