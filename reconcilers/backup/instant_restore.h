#pragma once

// The snapshot tier of the backup reconcilers (issue 6):
// - instant restore: a BackupPolicy with spec.instantRestore.snapshotRetention N > 0 takes a
//   local snapshot of every volume in each RecoveryPoint (inside the hooks' freeze window),
//   records the IDs on the point (annotation lifeboat.dev/snapshots: "vol=id,vol=id") and keeps
//   only the newest N points' snapshots per policy;
// - restores from snapshots (a Snapshot object, or a point that still has its snapshots) share
//   with the vault tier the "move staged entries into place" step.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "api/restore.h"
#include "common/status.h"
#include "controller/kube_client.h"
#include "reconcilers/engine_env.h"

namespace lifeboat::reconcilers::backup {

// On a RecoveryPoint: the snapshots taken for it, "vol=id,vol=id".
inline constexpr char kSnapshotsAnnotation[] = "lifeboat.dev/snapshots";

// volume → snapshot ID; empty for "" or malformed entries (skipped).
std::map<std::string, std::string> ParseSnapshotsAnnotation(const std::string& value);
std::string FormatSnapshotsAnnotation(const std::map<std::string, std::string>& ids);
// The point's annotation parsed ({} when absent).
std::map<std::string, std::string> PointSnapshots(const Json& point);

// The store's volume name for a policy's volume: snapshots of the same volume of the same policy
// share blocks (each new one is incremental to the previous one).
std::string InstantVolumeName(const std::string& ns, const std::string& policy,
                              const std::string& volume);

// Deletes the snapshots `ids` from the controller's snapshot store (already gone is fine).
// Returns the first error.
Status DeleteSnapshots(const EngineEnv& env, const std::map<std::string, std::string>& ids);

// Keeps the snapshots of the newest `keep` points of `policy` (by status.startTime, then name)
// and deletes the others' from the store and their annotation. `current` (the point that just
// took its snapshots) counts as the newest.
Status ApplySnapshotRetention(controller::KubeClient& client, const EngineEnv& env,
                              const std::string& ns, const std::string& policy,
                              const std::string& current, int64_t keep);

// Moves what a restore staged in `staging` (relative paths as they go below `target`) into
// `target`, following `overwrite`; directories are merged. `placed` maps each moved entry's
// relative path to its final path.
struct PlaceResult {
  std::map<std::string, std::filesystem::path> placed;
  uint64_t skipped = 0;  // existing entries kept (overwrite)
  uint64_t bytes = 0;    // regular-file bytes moved
  std::string error;     // "" on success
};
PlaceResult MoveStagedIntoPlace(const std::filesystem::path& staging,
                                const std::filesystem::path& target, api::Overwrite overwrite);

}  // namespace lifeboat::reconcilers::backup
