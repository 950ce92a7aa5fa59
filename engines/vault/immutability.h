#pragma once

// Immutability (Vault.spec.immutability.days): a recovery point cannot be forgotten or pruned
// before its lock expires.
//
// The lock ledger lives in the vault, next to what it protects: one file per lock,
// "retention/<point-id>.<expiry-unix-seconds>", written once (put-if-absent) and never changed;
// a point's expiry is the latest of its entries. The ledger is copied to the secondary with the
// rest (SyncSecondary). Enforcement:
//   - ForgetPoint (deleting one point, as a RecoveryPoint deletion does) refuses a locked point
//     with kFailedPrecondition naming the point and its expiry;
//   - Forget (retention) keeps locked points whatever the policy says, in ForgetResult::keep;
//   - Prune never repacks or deletes a pack holding data of a locked point.
// On filesystem storage the vault's files are read-only (LocalBlobStore writes them 0444, and
// ApplyImmutability takes write access away from any that regained it), so nothing rewrites
// them in place; deleting a file needs write access to its directory, which
// the vault keeps, and root bypasses file modes altogether: the ledger, enforced by Lifeboat, is
// the guard against deletion there. On S3, S3Options::object_lock_days sends Object Lock headers
// (COMPLIANCE, retain-until, Content-MD5) with every write where the bucket has Object Lock
// enabled. s3rver has no Object Lock; tests/s3/server.js emulates it on one bucket (retained
// objects refuse DELETE), which is what s3_blob_store_test checks.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "engines/storage/blob_store.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

constexpr std::string_view kRetentionPrefix = "retention/";

struct PointLock {
  std::string point;  // manifest ID
  Clock::TimePoint until;
  std::string file;  // retention/<point>.<seconds>
};

// Every ledger entry (files whose names do not parse are skipped).
StatusOr<std::vector<PointLock>> ListPointLocks(storage::BlobStore& store);
// Point ID -> latest expiry.
StatusOr<std::map<std::string, Clock::TimePoint>> LockExpiries(storage::BlobStore& store);

struct ImmutabilityResult {
  uint64_t points_locked = 0;         // ledger entries written now
  uint64_t files_made_read_only = 0;  // filesystem storage only
};
// Locks every point until its time + `days` (points already locked that long are left alone),
// then, on filesystem storage, makes the vault's files read-only. Idempotent; run it after each
// backup. kInvalidArgument for days < 1.
StatusOr<ImmutabilityResult> ApplyImmutability(Repository& repo, int days, const Clock& clock);

// OK when `point` may be deleted now; kFailedPrecondition "recovery point ID (taken T) is
// immutable until U" otherwise.
Status CheckDeletable(const std::map<std::string, Clock::TimePoint>& expiries,
                      const Manifest& point, const Clock& clock);

// Deletes one recovery point ("latest", an ID or a unique prefix) under the exclusive lock,
// refusing a locked one. Its data goes at the next Prune.
StatusOr<Manifest> ForgetPoint(Repository& repo, const std::string& ref, const Clock& clock);

}  // namespace lifeboat::vault
