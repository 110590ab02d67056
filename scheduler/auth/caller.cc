#include "scheduler/auth/caller.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::auth {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kUser:
      return "user";
    case Role::kAdmin:
      return "admin";
    case Role::kWorker:
      return "worker";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kUser, Role::kAdmin, Role::kWorker}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

Caller Caller::Anonymous() {
  Caller caller;
  caller.name = "anonymous";
  caller.tenant = kDefaultTenant;
  caller.role = Role::kAdmin;
  caller.anonymous = true;
  return caller;
}

std::string EffectiveTenant(absl::string_view stored_tenant) {
  return stored_tenant.empty() ? std::string(kDefaultTenant) : std::string(stored_tenant);
}

absl::Status RequireClient(const Caller& caller, absl::string_view rpc) {
  if (caller.role == Role::kUser || caller.role == Role::kAdmin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(rpc, ": token \"", caller.name, "\" has role ",
                                                  RoleName(caller.role),
                                                  "; this call needs a user or admin token"));
}

absl::Status RequireAdmin(const Caller& caller, absl::string_view rpc) {
  if (caller.role == Role::kAdmin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(rpc, ": token \"", caller.name, "\" has role ",
                                                  RoleName(caller.role),
                                                  "; this call needs an admin token"));
}

bool MayActAsWorker(const Caller& caller, absl::string_view worker_id) {
  if (caller.anonymous) return true;
  if (caller.role != Role::kWorker) return false;
  return caller.worker_ids.empty() || std::find(caller.worker_ids.begin(), caller.worker_ids.end(),
                                                worker_id) != caller.worker_ids.end();
}

absl::Status RequireWorker(const Caller& caller, absl::string_view rpc,
                           absl::string_view worker_id) {
  if (caller.anonymous) return absl::OkStatus();
  if (caller.role != Role::kWorker) {
    return absl::PermissionDeniedError(absl::StrCat(rpc, ": token \"", caller.name, "\" has role ",
                                                    RoleName(caller.role),
                                                    "; WorkerService calls need a worker token"));
  }
  if (!MayActAsWorker(caller, worker_id)) {
    return absl::PermissionDeniedError(absl::StrCat(rpc, ": worker token \"", caller.name,
                                                    "\" may not act as worker_id \"",
                                                    worker_id.substr(0, 128), "\""));
  }
  return absl::OkStatus();
}

bool MaySeeTenant(const Caller& caller, absl::string_view tenant) {
  if (caller.role == Role::kAdmin) return true;
  if (caller.role != Role::kUser) return false;
  return EffectiveTenant(tenant) == caller.tenant;
}

bool TenantMayReadBlob(const kiln::v1::StoredBlob& blob, absl::string_view tenant) {
  if (blob.tenants().empty()) return tenant == kDefaultTenant;
  return std::find(blob.tenants().begin(), blob.tenants().end(), tenant) != blob.tenants().end();
}

bool ClientMayReadBlob(const Caller& caller, const kiln::v1::StoredBlob& blob) {
  if (caller.role == Role::kAdmin) return true;
  if (caller.role != Role::kUser) return false;
  return TenantMayReadBlob(blob, caller.tenant);
}

bool WorkerMayNameBlob(const Caller& caller, const kiln::v1::StoredBlob& blob,
                       absl::string_view job_tenant) {
  if (caller.anonymous) return true;
  if (caller.role != Role::kWorker) return false;
  const auto& uploaders = blob.worker_uploaders();
  return std::find(uploaders.begin(), uploaders.end(), caller.name) != uploaders.end() ||
         TenantMayReadBlob(blob, EffectiveTenant(job_tenant));
}

}  // namespace kiln::auth
