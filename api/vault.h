#pragma once

// Vault: where recovery points are stored (api/TYPES.md "Vault").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"
#include "api/quantity.h"

namespace lifeboat::api {

struct FilesystemStorage {
  std::string path;
  friend bool operator==(const FilesystemStorage&, const FilesystemStorage&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(FilesystemStorage);

inline constexpr std::string_view kDefaultS3Region = "us-east-1";

struct S3Storage {
  std::string endpoint;
  std::string bucket;
  std::optional<std::string> prefix;
  std::optional<std::string> region;         // = us-east-1
  std::optional<bool> force_path_style;      // = true
  LocalObjectReference credentials_secret_ref;
  friend bool operator==(const S3Storage&, const S3Storage&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(S3Storage);

// Exactly one of filesystem / s3.
struct StorageSpec {
  std::optional<FilesystemStorage> filesystem;
  std::optional<S3Storage> s3;
  friend bool operator==(const StorageSpec&, const StorageSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(StorageSpec);

inline constexpr std::string_view kDefaultChunkMinSize = "512Ki";
inline constexpr std::string_view kDefaultChunkAvgSize = "1Mi";
inline constexpr std::string_view kDefaultChunkMaxSize = "8Mi";

struct ChunkingSpec {
  std::optional<Quantity> min_size;  // = 512Ki
  std::optional<Quantity> avg_size;  // = 1Mi
  std::optional<Quantity> max_size;  // = 8Mi
  friend bool operator==(const ChunkingSpec&, const ChunkingSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ChunkingSpec);

enum class Compression { kAuto, kOff };
template <>
struct EnumNames<Compression> {
  static constexpr std::array<std::string_view, 2> kNames = {"Auto", "Off"};
};

struct VaultCheckSpec {
  std::optional<std::string> schedule;         // cron
  std::optional<int64_t> read_data_percent;    // 0..100, = 0
  friend bool operator==(const VaultCheckSpec&, const VaultCheckSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(VaultCheckSpec);

struct ImmutabilitySpec {
  std::optional<int64_t> days;
  friend bool operator==(const ImmutabilitySpec&, const ImmutabilitySpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ImmutabilitySpec);

struct VaultSpec {
  StorageSpec storage;
  std::optional<StorageSpec> secondary;
  SecretKeySelector encryption_key_secret_ref;
  std::optional<ChunkingSpec> chunking;
  std::optional<Compression> compression;  // = Auto
  std::optional<VaultCheckSpec> check;
  std::optional<ImmutabilitySpec> immutability;
  friend bool operator==(const VaultSpec&, const VaultSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(VaultSpec);

enum class CheckResult { kPassed, kFailed };
template <>
struct EnumNames<CheckResult> {
  static constexpr std::array<std::string_view, 2> kNames = {"Passed", "Failed"};
};

struct VaultStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<int64_t> logical_bytes;
  std::optional<int64_t> stored_bytes;
  std::optional<double> dedup_ratio;
  std::optional<int64_t> recovery_point_count;
  std::optional<Time> last_check_time;
  std::optional<CheckResult> last_check_result;
  std::optional<double> secondary_lag_seconds;
  friend bool operator==(const VaultStatus&, const VaultStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(VaultStatus);

struct Vault {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "Vault";
  ObjectMeta metadata;
  VaultSpec spec;
  VaultStatus status;
  friend bool operator==(const Vault&, const Vault&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Vault);
FieldErrors Validate(const Vault& vault);

}  // namespace lifeboat::api
