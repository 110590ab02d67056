#include "common/tls_pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr MemoryBio(absl::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// OpenSSL's reason for the last failure (and an empty error queue afterwards).
std::string LastOpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  const char* reason = ERR_reason_error_string(code);
  return reason == nullptr ? "" : absl::StrCat(" (", reason, ")");
}

// Never prompts on a terminal for an encrypted key: a server must start unattended.
int NoPassphrase(char*, int, int, void*) { return -1; }

X509Ptr FirstCertificate(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": read error"));
  if (text.str().empty())
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": empty"));
  return text.str();
}

absl::Status CheckPemCertificates(absl::string_view pem, absl::string_view what) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  int count = 0;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) ++count;
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a block that
  // does not parse; only the first is fine.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (count == 0) {
    const std::string detail = LastOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found",
                     clean_end ? "" : detail));
  }
  if (!clean_end && last != 0) {
    const std::string detail = LastOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": certificate ", count + 1, " does not parse", detail));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::Status CheckPemKeyPair(absl::string_view cert_pem, absl::string_view cert_what,
                             absl::string_view key_pem, absl::string_view key_what) {
  if (absl::Status s = CheckPemCertificates(cert_pem, cert_what); !s.ok()) return s;
  ERR_clear_error();
  BioPtr bio = MemoryBio(key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    const std::string detail = LastOpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat(key_what, ": no unencrypted PEM private key found", detail));
  }
  X509Ptr cert = FirstCertificate(cert_pem);
  if (cert == nullptr || X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        key_what, ": the private key does not belong to the certificate in ", cert_what));
  }
  return absl::OkStatus();
}

}  // namespace kiln
