#include "reconcilers/kinds.h"

namespace lifeboat::reconcilers {
namespace {

LifeboatKind Make(const std::string& kind, const std::string& plural) {
  std::string controller;
  for (char c : kind) {
    controller.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  return {controller, controller::ResourceRef{kLifeboatGroup, kLifeboatVersion, plural, kind,
                                              /*namespaced=*/true}};
}

}  // namespace

std::vector<LifeboatKind> LifeboatKinds() {
  // BackupPolicy: its status is written by its reconciler alone, which reads it back at the next
  // pass; RecoveryPoint and Vault changes enqueue their policies explicitly. Without this, every
  // new policy was reconciled twice (and again while currentRPOSeconds moved on meanwhile).
  LifeboatKind backup_policy = Make("BackupPolicy", "backuppolicies");
  backup_policy.ignore_status_only_updates = true;
  return {Make("Vault", "vaults"),
          backup_policy,
          Make("RecoveryPoint", "recoverypoints"),
          Make("Restore", "restores"),
          Make("Snapshot", "snapshots"),
          Make("Site", "sites"),
          Make("ReplicationPolicy", "replicationpolicies"),
          Make("RecoveryPlan", "recoveryplans"),
          Make("Failover", "failovers")};
}

StatusOr<controller::ResourceRef> LifeboatResource(const std::string& kind) {
  for (const LifeboatKind& k : LifeboatKinds()) {
    if (k.resource.kind == kind) {
      return k.resource;
    }
  }
  return NotFoundError("unknown Lifeboat kind \"" + kind + "\"");
}

}  // namespace lifeboat::reconcilers
