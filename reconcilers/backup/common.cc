#include "reconcilers/backup/common.h"

#include <cmath>
#include <system_error>

#include "api/codec.h"
#include "controller/client_config.h"
#include "engines/storage/local_blob_store.h"
#include "engines/storage/open_store.h"
#include "engines/vault/format.h"
#include "engines/vault/lock.h"
#include "engines/vault/secondary.h"
#include "reconcilers/backup/shared.h"
#include "reconcilers/conditions.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::backup {

const controller::ResourceRef kVaults{"lifeboat.dev", "v1alpha1", "vaults", "Vault", true};
const controller::ResourceRef kBackupPolicies{"lifeboat.dev", "v1alpha1", "backuppolicies",
                                              "BackupPolicy", true};
const controller::ResourceRef kRecoveryPoints{"lifeboat.dev", "v1alpha1", "recoverypoints",
                                              "RecoveryPoint", true};
const controller::ResourceRef kRestores{"lifeboat.dev", "v1alpha1", "restores", "Restore", true};
const controller::ResourceRef kSnapshots{"lifeboat.dev", "v1alpha1", "snapshots", "Snapshot", true};
const controller::ResourceRef kSecrets{"", "v1", "secrets", "Secret", true};

Status PatchStatus(controller::KubeClient& client, const controller::ResourceRef& resource,
                   const controller::ObjectKey& key, const Json& status) {
  auto patched = client.Patch(resource, key, controller::PatchType::kMerge,
                              Json{{"status", status}}, "status");
  return patched.status();
}

StatusOr<std::string> ReadSecretValue(controller::KubeClient& client, const std::string& ns,
                                      const std::string& name, const std::string& key) {
  auto secret = client.Get(kSecrets, controller::ObjectKey{ns, name});
  if (!secret.ok()) {
    if (IsNotFound(secret.status())) {
      return NotFoundError("Secret " + ns + "/" + name + " not found");
    }
    return secret.status().WithPrefix("Secret " + ns + "/" + name);
  }
  if (auto data = secret->find("data"); data != secret->end() && data->is_object()) {
    if (auto it = data->find(key); it != data->end() && it->is_string()) {
      auto decoded = controller::DecodeBase64(it->get<std::string>());
      if (!decoded.ok()) {
        return InvalidArgumentError("Secret " + ns + "/" + name + " key " + key +
                                    ": not valid base64");
      }
      return *decoded;
    }
  }
  if (auto data = secret->find("stringData"); data != secret->end() && data->is_object()) {
    if (auto it = data->find(key); it != data->end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return NotFoundError("Secret " + ns + "/" + name + " has no key \"" + key + "\"");
}

StatusOr<std::unique_ptr<storage::BlobStore>> OpenStorage(controller::KubeClient& client,
                                                          const std::string& ns,
                                                          const api::StorageSpec& spec,
                                                          bool create, int object_lock_days) {
  storage::StorageLocation location;
  if (spec.filesystem.has_value()) {
    location.path = spec.filesystem->path;
  } else if (spec.s3.has_value()) {
    const api::S3Storage& s3 = *spec.s3;
    storage::S3Location where;
    where.endpoint = s3.endpoint;
    where.bucket = s3.bucket;
    where.prefix = s3.prefix.value_or("");
    where.region = s3.region.value_or(std::string(api::kDefaultS3Region));
    where.force_path_style = s3.force_path_style.value_or(true);
    const std::string& secret = s3.credentials_secret_ref.name;
    ASSIGN_OR_RETURN(where.access_key_id, ReadSecretValue(client, ns, secret, "accessKeyID"));
    ASSIGN_OR_RETURN(where.secret_access_key,
                     ReadSecretValue(client, ns, secret, "secretAccessKey"));
    where.object_lock_days = object_lock_days;
    location.s3 = std::move(where);
  } else {
    return InvalidArgumentError("storage: exactly one of filesystem or s3 must be set");
  }
  storage::OpenStoreOptions options;
  options.create = create;
  return storage::OpenStore(location, options);
}

namespace {

VaultProblem Problem(std::string reason, std::string message) {
  return VaultProblem{std::move(reason), std::move(message)};
}

vault::VaultConfig ConfigFor(const api::VaultSpec& spec) {
  vault::VaultConfig config;
  if (spec.chunking.has_value()) {
    auto set = [](const std::optional<api::Quantity>& q, auto* out) {
      if (q.has_value()) {
        if (auto bytes = q->Bytes(); bytes.ok() && *bytes > 0) {
          *out = static_cast<std::remove_pointer_t<decltype(out)>>(*bytes);
        }
      }
    };
    set(spec.chunking->min_size, &config.chunker.min_size);
    set(spec.chunking->avg_size, &config.chunker.avg_size);
    set(spec.chunking->max_size, &config.chunker.max_size);
  }
  if (spec.compression == api::Compression::kOff) {
    config.compression_level = 0;
  }
  return config;
}

}  // namespace

std::optional<OpenedVault> OpenVault(controller::KubeClient& client, const std::string& ns,
                                     const std::string& name, const OpenVaultOptions& options,
                                     VaultProblem* problem) {
  auto object = client.Get(kVaults, controller::ObjectKey{ns, name});
  if (!object.ok()) {
    *problem = IsNotFound(object.status())
                   ? Problem("VaultNotFound", "Vault " + ns + "/" + name + " not found")
                   : Problem("VaultUnavailable", "Vault " + ns + "/" + name + ": " +
                                                     object.status().message());
    return std::nullopt;
  }
  OpenedVault opened;
  opened.object = *object;
  if (api::FieldErrors errors = api::FromJson(*object, &opened.vault); !errors.empty()) {
    *problem = Problem("InvalidSpec", "Vault " + ns + "/" + name + ": " + errors[0].ToString());
    return std::nullopt;
  }
  const api::VaultSpec& spec = opened.vault.spec;
  const api::SecretKeySelector& secret = spec.encryption_key_secret_ref;
  auto passphrase = ReadSecretValue(client, ns, secret.name, secret.key);
  if (!passphrase.ok()) {
    *problem = Problem(IsNotFound(passphrase.status()) ? "SecretNotFound" : "SecretUnreadable",
                       "encryptionKeySecretRef: " + passphrase.status().message());
    return std::nullopt;
  }
  if (passphrase->empty()) {
    *problem = Problem("SecretUnreadable", "encryptionKeySecretRef: Secret " + ns + "/" +
                                               secret.name + " key \"" + secret.key +
                                               "\" is empty");
    return std::nullopt;
  }
  auto annotations = object->value("/metadata/annotations"_json_pointer, Json::object());
  std::string known_id = annotations.value(kVaultIdAnnotation, "");
  bool may_initialise = options.initialise && known_id.empty();
  const int lock_days =
      spec.immutability ? static_cast<int>(spec.immutability->days.value_or(0)) : 0;
  auto store = OpenStorage(client, ns, spec.storage, may_initialise, lock_days);
  if (spec.secondary.has_value()) {
    auto secondary = OpenStorage(client, ns, *spec.secondary, true, lock_days);
    if (secondary.ok()) {
      opened.secondary = std::move(*secondary);
    } else if (!store.ok() || !options.allow_secondary_only) {
      // Reported by the Vault's status; backups go on to the primary.
    }
  }
  if (!store.ok()) {
    if (options.allow_secondary_only && opened.secondary != nullptr) {
      opened.primary_problem = "primary storage: " + store.status().message();
    } else {
      *problem = Problem("StorageUnavailable", "storage: " + store.status().message());
      return std::nullopt;
    }
  } else {
    opened.store = std::move(*store);
    if (opened.secondary != nullptr) {
      opened.fallback =
          std::make_unique<vault::FallbackBlobStore>(*opened.store, *opened.secondary);
    }
  }
  storage::BlobStore& read_from = opened.fallback   ? *opened.fallback
                                  : opened.store ? *opened.store
                                                 : *opened.secondary;
  vault::Credentials credentials{*passphrase, ""};
  auto repo = vault::Repository::Open(read_from, credentials);
  if (!repo.ok() && IsNotFound(repo.status()) && may_initialise) {
    vault::InitOptions init;
    init.credentials = credentials;
    init.config = ConfigFor(spec);
    if (Status s = vault::Repository::Init(read_from, init); !s.ok()) {
      *problem = Problem(s.code() == StatusCode::kInvalidArgument ? "InvalidSpec"
                                                                  : "StorageUnavailable",
                         "initialising " + read_from.Describe() + ": " + s.message());
      return std::nullopt;
    }
    opened.initialised_now = true;
    repo = vault::Repository::Open(read_from, credentials);
  }
  if (!repo.ok()) {
    const Status& s = repo.status();
    std::string where = read_from.Describe();
    if (s.code() == StatusCode::kUnauthenticated) {
      *problem = Problem("WrongKey", "the key in Secret " + ns + "/" + secret.name +
                                         " does not open the vault at " + where);
    } else if (IsNotFound(s)) {
      *problem = Problem("VaultMissing",
                         known_id.empty()
                             ? "no vault at " + where
                             : "no vault at " + where + " (it held vault " + known_id +
                                   "): the storage was moved, emptied or is not mounted");
    } else if (s.code() == StatusCode::kDataLoss) {
      *problem = Problem("VaultDamaged", where + ": " + s.message());
    } else {
      *problem = Problem("StorageUnavailable", where + ": " + s.message());
    }
    return std::nullopt;
  }
  opened.repo = std::move(*repo);
  if (!known_id.empty() && opened.repo->config().id != known_id) {
    *problem = Problem("VaultMismatch", read_from.Describe() + " holds vault " +
                                            opened.repo->config().id + ", not " + known_id +
                                            " that this Vault was created with");
    return std::nullopt;
  }
  return opened;
}

StatusOr<std::vector<Json>> PointsOfPolicy(controller::KubeClient& client, const std::string& ns,
                                           const std::string& policy) {
  ASSIGN_OR_RETURN(controller::ObjectList list, client.List(kRecoveryPoints, ns, {}));
  std::vector<Json> out;
  for (Json& p : list.items) {
    const Json labels = p.value("/metadata/labels"_json_pointer, Json::object());
    if (labels.value(kPolicyLabel, "") == policy ||
        p.value("/spec/policyRef/name"_json_pointer, "") == policy) {
      out.push_back(std::move(p));
    }
  }
  return out;
}

Status FailInvalidSpec(controller::KubeClient& client, controller::EventRecorder& recorder,
                       const Clock& clock, const controller::ResourceRef& resource,
                       const controller::ObjectKey& key, const Json& object,
                       const api::FieldErrors& errors) {
  std::string message = JoinFieldErrors(errors);
  Json status = object.value("status", Json::object());
  status["phase"] = "Failed";
  status["message"] = message;
  SetStatusCondition(status,
                     MakeCondition(api::kConditionReady, false, kReasonInvalidSpec, message,
                                   GenerationOf(object)),
                     clock.Now());
  SetObservedGeneration(status, GenerationOf(object));
  recorder.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
  Status s = PatchStatus(client, resource, key, status);
  return IsNotFound(s) ? OkStatus() : s;
}

std::string HumanDuration(double seconds) {
  auto total = static_cast<int64_t>(std::llround(std::max(seconds, 0.0)));
  int64_t d = total / 86400, h = total % 86400 / 3600, m = total % 3600 / 60, s = total % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d";
  if (h) out += std::to_string(h) + "h";
  if (m && !d) out += std::to_string(m) + "m";
  if ((s && !d && !h) || out.empty()) out += std::to_string(s) + "s";
  return out;
}

}  // namespace lifeboat::reconcilers::backup
