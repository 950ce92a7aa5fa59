#pragma once

// Snapshot: a read-only point-in-time copy of a volume kept locally.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

struct SnapshotSpec {
  Volume source;
  friend bool operator==(const SnapshotSpec&, const SnapshotSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SnapshotSpec);

struct SnapshotStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<bool> ready_to_use;
  std::optional<int64_t> provisioned_bytes;
  std::optional<int64_t> used_bytes;
  std::optional<int64_t> exclusive_bytes;
  std::optional<Time> creation_time;
  std::optional<std::string> snapshot_id;
  std::optional<std::string> message;
  friend bool operator==(const SnapshotStatus&, const SnapshotStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SnapshotStatus);

struct Snapshot {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "Snapshot";
  ObjectMeta metadata;
  SnapshotSpec spec;
  SnapshotStatus status;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Snapshot);
FieldErrors Validate(const Snapshot& snapshot);

}  // namespace lifeboat::api
