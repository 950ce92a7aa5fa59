#pragma once

// What the backup reconcilers (Vault, BackupPolicy, RecoveryPoint, Restore) share: resources,
// label and annotation names, status patches, Secret reads and opening a Vault's repository
// with a reason a person understands when it fails.
#include <memory>
#include <optional>
#include <string>

#include "api/vault.h"
#include "api/field_error.h"
#include "common/clock.h"
#include "controller/event_recorder.h"
#include "controller/kube_client.h"
#include "engines/storage/blob_store.h"
#include "engines/vault/repository.h"

namespace lifeboat::reconcilers::backup {

extern const controller::ResourceRef kVaults;
extern const controller::ResourceRef kBackupPolicies;
extern const controller::ResourceRef kRecoveryPoints;
extern const controller::ResourceRef kRestores;
extern const controller::ResourceRef kSnapshots;
extern const controller::ResourceRef kSecrets;

// Controller names (work queues) of the kinds, for EngineEnv::enqueue.
inline constexpr char kVaultController[] = "vault";
inline constexpr char kBackupPolicyController[] = "backuppolicy";
inline constexpr char kRecoveryPointController[] = "recoverypoint";
inline constexpr char kRestoreController[] = "restore";

// RecoveryPoints made by a policy carry this label (value: the policy's name).
inline constexpr char kPolicyLabel[] = "lifeboat.dev/policy";
// A Vault the controller initialised carries its vault ID: such a vault is never initialised
// again (an empty location then means the storage is gone, not that it is new).
inline constexpr char kVaultIdAnnotation[] = "lifeboat.dev/vault-id";
// A RecoveryPoint in an immutable vault: when its lock expires. The API server refuses to delete
// the object before then (apiserver/handler.cc).
inline constexpr char kImmutableUntilAnnotation[] = "lifeboat.dev/immutable-until";
// The Vault a RecoveryPoint without spec.vaultRef was written to (taken from its policy).
inline constexpr char kVaultAnnotation[] = "lifeboat.dev/vault";

// Merge-patches `status` into the object's status subresource (no resourceVersion: the fields
// given win; used by jobs that own those fields). NotFound is returned as is.
Status PatchStatus(controller::KubeClient& client, const controller::ResourceRef& resource,
                   const controller::ObjectKey& key, const Json& status);

// The value of `key` in Secret `name` (data is base64, stringData is plain text).
// kNotFound naming the Secret or the key.
StatusOr<std::string> ReadSecretValue(controller::KubeClient& client, const std::string& ns,
                                      const std::string& name, const std::string& key);

// Why a vault could not be used: `reason` is the CamelCase condition reason
// (VaultNotFound, InvalidSpec, SecretNotFound, StorageUnavailable, WrongKey, VaultDamaged,
// VaultMissing), `message` says what to fix.
struct VaultProblem {
  std::string reason;
  std::string message;
};

struct OpenedVault {
  api::Vault vault;
  Json object;  // the Vault as read
  std::unique_ptr<storage::BlobStore> store;      // the primary (nullptr: unreachable, reading
                                                  // from the secondary alone)
  std::unique_ptr<storage::BlobStore> secondary;  // spec.secondary, when set and reachable
  // Reads fall back to the secondary (and repair the primary); writes go to the primary.
  std::unique_ptr<storage::BlobStore> fallback;
  std::unique_ptr<vault::Repository> repo;  // over `fallback` when there is a secondary
  bool initialised_now = false;
  std::string primary_problem;  // why the primary is not used (secondary-only reads)
};

struct OpenVaultOptions {
  // Initialise an empty location (only the Vault reconciler does, and only when the Vault
  // carries no vault-id annotation yet).
  bool initialise = false;
  // For reads (restores): when the primary is unreachable, open the vault from the secondary.
  bool allow_secondary_only = false;
};

// Reads Vault `name` in `ns`, its key Secret, opens its storage and unlocks the repository.
std::optional<OpenedVault> OpenVault(controller::KubeClient& client, const std::string& ns,
                                     const std::string& name, const OpenVaultOptions& options,
                                     VaultProblem* problem);

// Opens the storage a StorageSpec names (filesystem; s3 once the S3 store is wired).
// `object_lock_days` > 0 asks S3 for Object Lock on new objects (where the bucket has it).
StatusOr<std::unique_ptr<storage::BlobStore>> OpenStorage(controller::KubeClient& client,
                                                          const std::string& ns,
                                                          const api::StorageSpec& spec,
                                                          bool create, int object_lock_days = 0);


// The RecoveryPoints of a policy: labelled with it (scheduled runs, and on-demand points once
// they started) or naming it in spec.policyRef (on-demand points not started yet).
StatusOr<std::vector<Json>> PointsOfPolicy(controller::KubeClient& client, const std::string& ns,
                                           const std::string& policy);

// An operation object (RecoveryPoint, Restore) whose spec is invalid ends at once: phase Failed,
// Ready=False/InvalidSpec with the field errors, a Warning Event. Returns what Reconcile returns.
Status FailInvalidSpec(controller::KubeClient& client, controller::EventRecorder& recorder,
                       const Clock& clock, const controller::ResourceRef& resource,
                       const controller::ObjectKey& key, const Json& object,
                       const api::FieldErrors& errors);

// "3m20s", "2h", "45s" for status messages.
std::string HumanDuration(double seconds);

}  // namespace lifeboat::reconcilers::backup
