// Caller: who is making a scheduler call (the token's name, tenant and role), and the
// permission rules of issue 8 as pure functions of it: which RPCs a role may call, which
// tenants' jobs and blobs it may see, which worker ids a worker token may act as. No gRPC
// here: rpc/ authenticates a call into a Caller and asks these functions; core/ uses the
// tenant rules for blobs named at submit. Values; thread-compatible.
#ifndef KILN_SCHEDULER_AUTH_CALLER_H_
#define KILN_SCHEDULER_AUTH_CALLER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kiln/v1/store.pb.h"

namespace kiln::auth {

// The tenant of every caller when authentication is off, and of jobs and blobs stored
// before tenants existed (empty tenant fields).
inline constexpr char kDefaultTenant[] = "default";

enum class Role {
  kUser,    // JobService for its own tenant's jobs and blobs
  kAdmin,   // JobService for every tenant, DrainWorker
  kWorker,  // WorkerService, and PutBlob/GetBlob for the jobs leased to it
};

// "user", "admin", "worker".
absl::string_view RoleName(Role role);
// The inverse of RoleName; nullopt for anything else.
std::optional<Role> ParseRole(absl::string_view name);

struct Caller {
  // Name of the token (TokenEntry.name), for messages and blob records.
  std::string name;
  std::string tenant = kDefaultTenant;
  Role role = Role::kUser;
  // kWorker: the worker ids it may act as; empty means any.
  std::vector<std::string> worker_ids;
  // True only for Anonymous(): authentication is off and every check passes (a worker
  // process then calls WorkerService with it too).
  bool anonymous = false;

  // Everyone when authentication is off: an admin of the default tenant.
  static Caller Anonymous();
};

// The tenant a stored tenant field means ("" is kDefaultTenant).
std::string EffectiveTenant(absl::string_view stored_tenant);

// PERMISSION_DENIED unless the caller is a user or an admin (JobService calls).
absl::Status RequireClient(const Caller& caller, absl::string_view rpc);
// PERMISSION_DENIED unless the caller is an admin.
absl::Status RequireAdmin(const Caller& caller, absl::string_view rpc);
// PERMISSION_DENIED unless the caller is a worker token allowed to act as `worker_id`.
absl::Status RequireWorker(const Caller& caller, absl::string_view rpc,
                           absl::string_view worker_id);
// Whether a worker token may act as `worker_id` (false for other roles).
bool MayActAsWorker(const Caller& caller, absl::string_view worker_id);

// Whether the caller sees jobs of `tenant` (its own tenant, or any for admins).
bool MaySeeTenant(const Caller& caller, absl::string_view tenant);

// Whether users of `tenant` may read `blob` (uploaded by the tenant, or output or log of
// one of its jobs).
bool TenantMayReadBlob(const kiln::v1::StoredBlob& blob, absl::string_view tenant);

// Whether a user or admin may read `blob` (admins read all). Workers are answered by
// WorkerMayNameBlob and the scheduler's leases, not here: false for them.
bool ClientMayReadBlob(const Caller& caller, const kiln::v1::StoredBlob& blob);

// Whether a worker may name `blob` as an output or log of a job of `job_tenant` (and read
// it back): it uploaded the blob itself, or the job's tenant may read it already.
bool WorkerMayNameBlob(const Caller& caller, const kiln::v1::StoredBlob& blob,
                       absl::string_view job_tenant);

}  // namespace kiln::auth

#endif  // KILN_SCHEDULER_AUTH_CALLER_H_
