#include "scheduler/rpc/authenticator.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace kiln::rpc {

absl::StatusOr<auth::Caller> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  std::shared_ptr<const auth::TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return auth::Caller::Anonymous();
  const auto& metadata = context.client_metadata();
  auto range = metadata.equal_range("authorization");
  if (range.first == range.second) {
    return absl::UnauthenticatedError(
        "this scheduler requires a token: send \"authorization: Bearer <token>\" (kilnctl "
        "--token or KILN_TOKEN, kiln-worker --token-file)");
  }
  if (std::next(range.first) != range.second) {
    return absl::UnauthenticatedError("more than one authorization header");
  }
  const std::string value(range.first->second.data(), range.first->second.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(value).substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <token>\"");
  }
  return table->Authenticate(
      absl::StripAsciiWhitespace(absl::string_view(value).substr(kScheme.size())));
}

absl::StatusOr<auth::Caller> Authenticator::AuthenticateToken(absl::string_view token) const {
  std::shared_ptr<const auth::TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return auth::Caller::Anonymous();
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this scheduler requires a token: send \"Authorization: Bearer <token>\"");
  }
  return table->Authenticate(token);
}

void Authenticator::Replace(std::shared_ptr<const auth::TokenTable> table) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
}

bool Authenticator::enabled() const {
  absl::MutexLock lock(&mu_);
  return table_ != nullptr;
}

}  // namespace kiln::rpc
