#include "scheduler/auth/caller.h"

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

Caller Make(Role role, const std::string& tenant, std::vector<std::string> worker_ids = {}) {
  Caller caller;
  caller.name = "t";
  caller.role = role;
  caller.tenant = tenant;
  caller.worker_ids = std::move(worker_ids);
  return caller;
}

kiln::v1::StoredBlob Blob(std::vector<std::string> tenants, std::vector<std::string> workers = {}) {
  kiln::v1::StoredBlob blob;
  for (auto& t : tenants) blob.add_tenants(t);
  for (auto& w : workers) blob.add_worker_uploaders(w);
  return blob;
}

TEST(CallerTest, RolesGateServices) {
  const Caller user = Make(Role::kUser, "acme");
  const Caller admin = Make(Role::kAdmin, "ops");
  const Caller worker = Make(Role::kWorker, "ops", {"w-1"});
  EXPECT_TRUE(RequireClient(user, "GetJob").ok());
  EXPECT_TRUE(RequireClient(admin, "GetJob").ok());
  EXPECT_EQ(RequireClient(worker, "GetJob").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireAdmin(user, "DrainWorker").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireAdmin(admin, "DrainWorker").ok());
  EXPECT_EQ(RequireWorker(user, "AcquireJob", "w-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireWorker(admin, "AcquireJob", "w-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireWorker(worker, "AcquireJob", "w-1").ok());
  EXPECT_EQ(RequireWorker(worker, "AcquireJob", "w-2").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireWorker(Make(Role::kWorker, "ops"), "AcquireJob", "any-id").ok());
  const Caller anonymous = Caller::Anonymous();
  EXPECT_TRUE(RequireWorker(anonymous, "AcquireJob", "w-9").ok());
  EXPECT_TRUE(RequireAdmin(anonymous, "DrainWorker").ok());
  EXPECT_EQ(anonymous.tenant, kDefaultTenant);
}

TEST(CallerTest, TenantsSeparateJobsAndBlobs) {
  const Caller user = Make(Role::kUser, "acme");
  EXPECT_TRUE(MaySeeTenant(user, "acme"));
  EXPECT_FALSE(MaySeeTenant(user, "other"));
  EXPECT_FALSE(MaySeeTenant(user, ""));  // legacy jobs are the default tenant's
  EXPECT_TRUE(MaySeeTenant(Make(Role::kUser, "default"), ""));
  EXPECT_TRUE(MaySeeTenant(Make(Role::kAdmin, "ops"), "acme"));
  EXPECT_FALSE(MaySeeTenant(Make(Role::kWorker, "acme"), "acme"));

  EXPECT_TRUE(ClientMayReadBlob(user, Blob({"other", "acme"})));
  EXPECT_FALSE(ClientMayReadBlob(user, Blob({"other"})));
  EXPECT_FALSE(ClientMayReadBlob(user, Blob({})));
  EXPECT_TRUE(ClientMayReadBlob(Make(Role::kUser, "default"), Blob({})));
  EXPECT_TRUE(ClientMayReadBlob(Make(Role::kAdmin, "ops"), Blob({"other"})));
  EXPECT_FALSE(ClientMayReadBlob(Make(Role::kWorker, "other"), Blob({"other"})));
}

TEST(CallerTest, WorkersNameOnlyTheirUploadsOrTheJobTenantsBlobs) {
  Caller worker = Make(Role::kWorker, "ops");
  worker.name = "pool-a";
  EXPECT_TRUE(WorkerMayNameBlob(worker, Blob({}, {"pool-a"}), "acme"));
  EXPECT_FALSE(WorkerMayNameBlob(worker, Blob({}, {"pool-b"}), "acme"));
  EXPECT_TRUE(WorkerMayNameBlob(worker, Blob({"acme"}), "acme"));
  EXPECT_FALSE(WorkerMayNameBlob(worker, Blob({"other"}), "acme"));
  EXPECT_FALSE(WorkerMayNameBlob(Make(Role::kAdmin, "acme"), Blob({"acme"}), "acme"));
}

TEST(CallerTest, RoleNamesRoundTrip) {
  for (Role role : {Role::kUser, Role::kAdmin, Role::kWorker}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
}

}  // namespace
}  // namespace kiln::auth
