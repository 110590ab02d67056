#include "client/channel_credentials.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls_pem.h"

namespace kiln {
namespace {

// The PEM text of one role: the inline field when set, else the file's content.
absl::StatusOr<std::string> PemOf(const std::string& pem, const std::string& file,
                                  absl::string_view file_what) {
  if (!pem.empty()) return pem;
  if (file.empty()) return std::string();
  return ReadPemFile(file, file_what);
}

// "tls.ca_file /path" or "tls.ca_pem": how an error names where the text came from.
std::string Origin(const std::string& pem, const std::string& file, absl::string_view name) {
  return pem.empty() ? absl::StrCat("tls.", name, "_file ", file)
                     : absl::StrCat("tls.", name, "_pem");
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> SchedulerChannelCredentials(
    const ClientTlsOptions& tls) {
  if (!tls.active()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  KILN_ASSIGN_OR_RETURN(ssl.pem_root_certs, PemOf(tls.ca_pem, tls.ca_file, "tls.ca_file"));
  if (!ssl.pem_root_certs.empty()) {
    KILN_RETURN_IF_ERROR(
        CheckPemCertificates(ssl.pem_root_certs, Origin(tls.ca_pem, tls.ca_file, "ca")));
  }
  KILN_ASSIGN_OR_RETURN(ssl.pem_cert_chain, PemOf(tls.cert_pem, tls.cert_file, "tls.cert_file"));
  KILN_ASSIGN_OR_RETURN(ssl.pem_private_key, PemOf(tls.key_pem, tls.key_file, "tls.key_file"));
  if (ssl.pem_cert_chain.empty() != ssl.pem_private_key.empty()) {
    return absl::InvalidArgumentError(
        "tls: a client certificate and its private key go together; give both or neither");
  }
  if (!ssl.pem_cert_chain.empty()) {
    KILN_RETURN_IF_ERROR(
        CheckPemKeyPair(ssl.pem_cert_chain, Origin(tls.cert_pem, tls.cert_file, "cert"),
                        ssl.pem_private_key, Origin(tls.key_pem, tls.key_file, "key")));
  }
  return grpc::SslCredentials(ssl);
}

void AddTlsChannelArguments(const ClientTlsOptions& tls, grpc::ChannelArguments& args) {
  if (tls.active() && !tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
}

}  // namespace kiln
