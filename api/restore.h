#pragma once

// Restore: bring back whole volumes or some paths from a recovery point, a policy's latest point
// or a snapshot.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

// Exactly one of the three references.
struct RestoreSource {
  std::optional<LocalObjectReference> recovery_point_ref;
  std::optional<LocalObjectReference> policy_ref;
  std::optional<LocalObjectReference> snapshot_ref;
  friend bool operator==(const RestoreSource&, const RestoreSource&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RestoreSource);

struct RestoreTarget {
  std::string path;
  friend bool operator==(const RestoreTarget&, const RestoreTarget&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RestoreTarget);

enum class Overwrite { kNever, kIfNewer, kAlways };
template <>
struct EnumNames<Overwrite> {
  static constexpr std::array<std::string_view, 3> kNames = {"Never", "IfNewer", "Always"};
};

struct RestoreSpec {
  RestoreSource source;
  std::vector<std::string> volumes;  // empty = all
  std::vector<std::string> paths;    // empty = everything
  RestoreTarget target;
  std::optional<Overwrite> overwrite;  // = Never
  friend bool operator==(const RestoreSpec&, const RestoreSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RestoreSpec);

enum class RestorePhase { kPending, kRunning, kCompleted, kFailed };
template <>
struct EnumNames<RestorePhase> {
  static constexpr std::array<std::string_view, 4> kNames = {"Pending", "Running", "Completed",
                                                             "Failed"};
};
enum class RestoreTier { kSnapshot, kVault };
template <>
struct EnumNames<RestoreTier> {
  static constexpr std::array<std::string_view, 2> kNames = {"Snapshot", "Vault"};
};

struct RestoreStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<RestorePhase> phase;
  std::optional<RestoreTier> tier;
  std::optional<Progress> progress;
  std::optional<int64_t> restored_bytes;
  std::optional<int64_t> restored_files;
  std::optional<bool> verified;
  std::optional<Time> start_time;
  std::optional<Time> completion_time;
  std::optional<std::string> message;
  friend bool operator==(const RestoreStatus&, const RestoreStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RestoreStatus);

struct Restore {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "Restore";
  ObjectMeta metadata;
  RestoreSpec spec;
  RestoreStatus status;
  friend bool operator==(const Restore&, const Restore&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Restore);
FieldErrors Validate(const Restore& restore);

}  // namespace lifeboat::api
