// TLS material from PEM files for the scheduler, the worker and the SDK: read at start
// and checked (each certificate parses, a private key parses and belongs to its
// certificate), so that a bad file is a startup error that names it rather than a
// handshake that fails later for every caller. Pure functions; any thread.
#ifndef KILN_COMMON_TLS_PEM_H_
#define KILN_COMMON_TLS_PEM_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

// `what` names the setting in error messages, e.g. "--tls-ca" or "tls.ca_file".

// Reads a file and returns its text; INVALID_ARGUMENT naming `what` and `path` when it
// cannot be read or is empty.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what);

// OK when `pem` holds one or more X.509 certificates and nothing that fails to parse.
absl::Status CheckPemCertificates(absl::string_view pem, absl::string_view what);

// OK when `cert_pem` is a certificate chain, `key_pem` an unencrypted private key, and the
// key belongs to the chain's first certificate.
absl::Status CheckPemKeyPair(absl::string_view cert_pem, absl::string_view cert_what,
                             absl::string_view key_pem, absl::string_view key_what);

}  // namespace kiln

#endif  // KILN_COMMON_TLS_PEM_H_
