#pragma once

// The Lifeboat kinds (lifeboat.dev/v1alpha1, all namespaced) and their REST resources.
#include <map>
#include <string>
#include <vector>

#include "controller/kube_client.h"
#include "controller/manager.h"

namespace lifeboat::reconcilers {

inline constexpr char kLifeboatGroup[] = "lifeboat.dev";
inline constexpr char kLifeboatVersion[] = "v1alpha1";

struct LifeboatKind {
  std::string controller;  // controller name: "backuppolicy"
  controller::ResourceRef resource;
  // ControllerSpec::ignore_status_only_updates: set where only the kind's own reconciler writes
  // its status and nothing waits for a reconcile after that write.
  bool ignore_status_only_updates = false;
  // ControllerSpec::indexes and ::watches.
  std::map<std::string, controller::Store::IndexFunc> indexes;
  std::vector<controller::ControllerSpec::Watch> watches;
};

// The index of the RecoveryPoint cache by policy: "ns/policy" of the BackupPolicy a point
// belongs to (its lifeboat.dev/policy label, else spec.policyRef.name).
inline constexpr char kPointsByPolicy[] = "policy";
std::vector<std::string> PolicyKeysOfPoint(const Json& point);
// BackupPolicies by the "ns/name" of the Vault their spec.vaultRef names.
inline constexpr char kPoliciesByVault[] = "vault";
std::vector<std::string> VaultKeysOfPolicy(const Json& policy);

// Vault, BackupPolicy, RecoveryPoint, Restore, Snapshot, Site, ReplicationPolicy,
// RecoveryPlan, Failover.
std::vector<LifeboatKind> LifeboatKinds();

// The resource of `kind` ("BackupPolicy"); kNotFound for an unknown kind.
StatusOr<controller::ResourceRef> LifeboatResource(const std::string& kind);

}  // namespace lifeboat::reconcilers
