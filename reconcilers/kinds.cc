#include "reconcilers/kinds.h"

#include <algorithm>

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

std::vector<std::string> PolicyKeysOfPoint(const Json& point) {
  static const Json::json_pointer kNs("/metadata/namespace");
  static const Json::json_pointer kLabel("/metadata/labels/lifeboat.dev~1policy");
  static const Json::json_pointer kRef("/spec/policyRef/name");
  std::vector<std::string> keys;
  const std::string ns = point.value(kNs, "");
  for (const Json::json_pointer* p : {&kLabel, &kRef}) {
    const Json* v = point.contains(*p) ? &point.at(*p) : nullptr;
    if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) continue;
    std::string key = ns + "/" + v->get<std::string>();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<std::string> VaultKeysOfPolicy(const Json& policy) {
  static const Json::json_pointer kNs("/metadata/namespace");
  static const Json::json_pointer kRef("/spec/vaultRef/name");
  const Json* v = policy.contains(kRef) ? &policy.at(kRef) : nullptr;
  if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) return {};
  return {policy.value(kNs, "") + "/" + v->get<std::string>()};
}

std::vector<LifeboatKind> LifeboatKinds() {
  // BackupPolicy: its status is written by its reconciler alone, which reads it back at the next
  // pass; RecoveryPoint and Vault changes enqueue their policies explicitly. Without this, every
  // new policy was reconciled twice (and again while currentRPOSeconds moved on meanwhile).
  LifeboatKind backup_policy = Make("BackupPolicy", "backuppolicies");
  backup_policy.ignore_status_only_updates = true;
  // A policy reads its points from the RecoveryPoint cache (by the index below) and is
  // enqueued by any change of one, so it never acts on a point list older than its trigger.
  LifeboatKind recovery_point = Make("RecoveryPoint", "recoverypoints");
  recovery_point.indexes[kPointsByPolicy] = PolicyKeysOfPoint;
  backup_policy.watches.push_back({recovery_point.resource, PolicyKeysOfPoint});
  // A policy reads its Vault from the Vault cache; a Vault's change enqueues the policies using
  // it once that cache holds it (the Vault reconciler's own enqueue can run ahead of the cache).
  LifeboatKind vault = Make("Vault", "vaults");
  backup_policy.indexes[kPoliciesByVault] = VaultKeysOfPolicy;
  backup_policy.watches.push_back({vault.resource,
                                   [](const Json& v) {
                                     return std::vector<std::string>{
                                         v.value(Json::json_pointer("/metadata/namespace"), "") +
                                         "/" + v.value(Json::json_pointer("/metadata/name"), "")};
                                   },
                                   kPoliciesByVault});
  return {vault,
          backup_policy,
          recovery_point,
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
