#include "api/vault.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, FilesystemStorage>) {
    c.Required("path", v.path);
  } else if constexpr (std::is_same_v<V, S3Storage>) {
    c.Required("endpoint", v.endpoint);
    c.Required("bucket", v.bucket);
    c.Optional("prefix", v.prefix);
    c.Optional("region", v.region);
    c.Optional("forcePathStyle", v.force_path_style);
    c.Required("credentialsSecretRef", v.credentials_secret_ref);
  } else if constexpr (std::is_same_v<V, StorageSpec>) {
    c.Optional("filesystem", v.filesystem);
    c.Optional("s3", v.s3);
  } else if constexpr (std::is_same_v<V, ChunkingSpec>) {
    c.Optional("minSize", v.min_size);
    c.Optional("avgSize", v.avg_size);
    c.Optional("maxSize", v.max_size);
  } else if constexpr (std::is_same_v<V, VaultCheckSpec>) {
    c.Optional("schedule", v.schedule);
    c.Optional("readDataPercent", v.read_data_percent);
  } else if constexpr (std::is_same_v<V, ImmutabilitySpec>) {
    c.Optional("days", v.days);
  } else if constexpr (std::is_same_v<V, VaultSpec>) {
    c.Required("storage", v.storage);
    c.Optional("secondary", v.secondary);
    c.Required("encryptionKeySecretRef", v.encryption_key_secret_ref);
    c.Optional("chunking", v.chunking);
    c.Optional("compression", v.compression);
    c.Optional("check", v.check);
    c.Optional("immutability", v.immutability);
  } else if constexpr (std::is_same_v<V, VaultStatus>) {
    StatusCommonFields(c, v);
    c.Optional("logicalBytes", v.logical_bytes);
    c.Optional("storedBytes", v.stored_bytes);
    c.Optional("dedupRatio", v.dedup_ratio);
    c.Optional("recoveryPointCount", v.recovery_point_count);
    c.Optional("lastCheckTime", v.last_check_time);
    c.Optional("lastCheckResult", v.last_check_result);
    c.Optional("secondaryLagSeconds", v.secondary_lag_seconds);
  } else {
    static_assert(std::is_same_v<V, Vault>);
    KindFields(c, v);
  }
}

constexpr size_t kMinBucketLength = 3;
constexpr size_t kMaxBucketLength = 63;
constexpr int64_t kMaxPercent = 100;

void ValidateStorage(const StorageSpec& storage, const std::string& path, FieldErrors* errors) {
  if (storage.filesystem.has_value() == storage.s3.has_value()) {
    errors->push_back({path, "must set exactly one of filesystem or s3"});
  }
  if (storage.filesystem) {
    ValidateAbsolutePath(storage.filesystem->path, Child(Child(path, "filesystem"), "path"),
                         errors);
  }
  if (storage.s3) {
    const S3Storage& s3 = *storage.s3;
    std::string s3_path = Child(path, "s3");
    ValidateUrl(s3.endpoint, {"http", "https"}, Child(s3_path, "endpoint"), errors);
    if (s3.bucket.size() < kMinBucketLength || s3.bucket.size() > kMaxBucketLength ||
        !IsDns1123Subdomain(s3.bucket)) {
      errors->push_back({Child(s3_path, "bucket"),
                         "bucket " + Quote(s3.bucket) +
                             " must be 3-63 lowercase letters, digits, '-' and '.'"});
    }
    if (s3.region && s3.region->empty()) {
      errors->push_back({Child(s3_path, "region"), "must not be empty"});
    }
    ValidateLocalObjectReference(s3.credentials_secret_ref,
                                 Child(s3_path, "credentialsSecretRef"), errors);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(FilesystemStorage)
LIFEBOAT_API_DEFINE_CODEC(S3Storage)
LIFEBOAT_API_DEFINE_CODEC(StorageSpec)
LIFEBOAT_API_DEFINE_CODEC(ChunkingSpec)
LIFEBOAT_API_DEFINE_CODEC(VaultCheckSpec)
LIFEBOAT_API_DEFINE_CODEC(ImmutabilitySpec)
LIFEBOAT_API_DEFINE_CODEC(VaultSpec)
LIFEBOAT_API_DEFINE_CODEC(VaultStatus)
LIFEBOAT_API_DEFINE_CODEC(Vault)

FieldErrors Validate(const Vault& vault) {
  FieldErrors errors;
  ValidateKindHeader(vault, &errors);
  const VaultSpec& spec = vault.spec;
  ValidateStorage(spec.storage, "spec.storage", &errors);
  if (spec.secondary) {
    ValidateStorage(*spec.secondary, "spec.secondary", &errors);
  }
  ValidateSecretKeySelector(spec.encryption_key_secret_ref, "spec.encryptionKeySecretRef",
                            &errors);
  if (spec.chunking) {
    const ChunkingSpec& c = *spec.chunking;
    auto min = ValidateQuantity(c.min_size, true, "spec.chunking.minSize", &errors);
    auto avg = ValidateQuantity(c.avg_size, true, "spec.chunking.avgSize", &errors);
    auto max = ValidateQuantity(c.max_size, true, "spec.chunking.maxSize", &errors);
    int64_t min_v = min.value_or(*ParseQuantity(kDefaultChunkMinSize));
    int64_t avg_v = avg.value_or(*ParseQuantity(kDefaultChunkAvgSize));
    int64_t max_v = max.value_or(*ParseQuantity(kDefaultChunkMaxSize));
    bool all_parsed = (!c.min_size || min) && (!c.avg_size || avg) && (!c.max_size || max);
    if (all_parsed && min_v > avg_v) {
      errors.push_back({"spec.chunking.avgSize", "must be >= minSize (" + std::to_string(avg_v) +
                                                     " < " + std::to_string(min_v) + " bytes)"});
    }
    if (all_parsed && avg_v > max_v) {
      errors.push_back({"spec.chunking.maxSize", "must be >= avgSize (" + std::to_string(max_v) +
                                                     " < " + std::to_string(avg_v) + " bytes)"});
    }
  }
  if (spec.check) {
    if (spec.check->schedule) {
      ValidateCron(*spec.check->schedule, "spec.check.schedule", &errors);
    }
    ValidateRange(spec.check->read_data_percent, 0, kMaxPercent, "spec.check.readDataPercent",
                  &errors);
  }
  if (spec.immutability) {
    ValidateMin(spec.immutability->days, 0, "spec.immutability.days", &errors);
  }
  const VaultStatus& st = vault.status;
  ValidateStatusCommon(st, &errors);
  ValidateMin(st.logical_bytes, 0, "status.logicalBytes", &errors);
  ValidateMin(st.stored_bytes, 0, "status.storedBytes", &errors);
  ValidateMin(st.recovery_point_count, 0, "status.recoveryPointCount", &errors);
  return errors;
}

}  // namespace lifeboat::api
