#pragma once

// The vault's operations: the C++ API the CLI and the backup reconcilers call. Structs in and
// out, a progress callback, Status errors (kDataLoss for vault damage, kUnauthenticated for a
// wrong passphrase, kUnavailable for a held lock, kResourceExhausted for a full device).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engines/vault/repository.h"
#include "engines/vault/tree.h"

namespace lifeboat::vault {

struct Progress {
  std::string phase;  // "backup", "restore", "check", "prune", "copy"
  uint64_t files_done = 0;
  uint64_t files_total = 0;  // 0 while unknown
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 while unknown
};
using ProgressFn = std::function<void(const Progress&)>;

// ---- backup ----
struct BackupOptions {
  std::vector<std::string> paths;  // directories and files (disk images); basenames must differ
  // Names of the paths' entries at the point's root (same order as `paths`): a BackupPolicy
  // names each volume. Empty: the basenames. Names must differ and contain no '/'.
  std::vector<std::string> names;
  std::vector<std::string> tags;
  std::string hostname;  // default: this host
  // Parent for the metadata cache: "" picks the latest point with the same paths and host.
  std::string parent;
  bool no_parent = false;
  int threads = 0;  // 0: hardware concurrency
  // Bounds the work queued ahead of the workers: each queued part of a file counts 64 KiB
  // (32 MiB: 512 parts). Each worker also holds its own read buffer (2 × chunker max + 4 MiB).
  uint64_t memory_budget = 32 << 20;
  ProgressFn progress;
  const Clock* clock = nullptr;  // default SystemClock()
};

struct BackupResult {
  Manifest manifest;  // manifest.id is the new point; manifest.partial / errors on unreadable files
};

StatusOr<BackupResult> Backup(Repository& repo, const BackupOptions& options);

// ---- points ----
StatusOr<std::vector<Manifest>> ListPoints(Repository& repo);
// "latest", a full ID, or a unique ID prefix (at least 4 hex digits).
StatusOr<Manifest> FindPoint(Repository& repo, const std::string& ref);

// ---- restore ----
struct RestoreOptions {
  std::string point;
  // Paths relative to the point's root ("src/a.txt", "disk.img") or globs ("src/*.c"); a
  // directory selects everything below it. Empty: everything.
  std::vector<std::string> include;
  std::string target;
  int threads = 0;
  ProgressFn progress;
};

struct RestoreResult {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;
  // How the chunks written were verified (FORMAT.md §10): by the fingerprint the tree holds
  // for them, or by recomputing their ID.
  uint64_t chunks_by_fingerprint = 0;
  uint64_t chunks_by_id = 0;
  std::vector<FileError> errors;  // files not restored (never left at their final name)
};

StatusOr<RestoreResult> Restore(Repository& repo, const RestoreOptions& options);

// ---- ls / diff ----
struct Entry {
  std::string path;  // relative to the point's root
  Node node;
};
// Calls `fn` for every entry in depth-first order; `pattern` (glob on the path) filters.
Status Ls(Repository& repo, const std::string& point, const std::string& pattern,
          const std::function<void(const Entry&)>& fn);

struct Change {
  char kind;  // '+' added, '-' removed, 'M' content changed, 'U' metadata changed, 'T' type
  std::string path;
};
StatusOr<std::vector<Change>> Diff(Repository& repo, const std::string& a, const std::string& b);

// ---- check ----
struct CheckOptions {
  bool read_data = false;
  ProgressFn progress;
};
struct CheckResult {
  std::vector<std::string> errors;    // each names the file (and blob) affected
  std::vector<std::string> warnings;  // e.g. packs no index names (left by an interrupted run)
  uint64_t points = 0;
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t trees = 0;
  bool ok() const { return errors.empty(); }
};
StatusOr<CheckResult> Check(Repository& repo, const CheckOptions& options);

// ---- forget / prune ----
struct RetentionPolicy {
  int keep_last = 0;
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  bool empty() const {
    return keep_last + keep_hourly + keep_daily + keep_weekly + keep_monthly + keep_yearly == 0;
  }
};
struct ForgetResult {
  std::vector<Manifest> keep;
  std::vector<Manifest> remove;
};
// Which points a policy keeps (pure; UTC buckets, newest first, as restic does).
ForgetResult ApplyRetention(std::vector<Manifest> points, const RetentionPolicy& policy);
// Deletes the manifests the policy does not keep, under the exclusive lock.
StatusOr<ForgetResult> Forget(Repository& repo, const RetentionPolicy& policy, bool dry_run,
                              const Clock& clock);

struct PruneOptions {
  // Packs with more unused bytes than this fraction are repacked; others are kept as they are.
  double max_unused_fraction = 0.05;
  ProgressFn progress;
};
struct PruneResult {
  uint64_t packs_deleted = 0;
  uint64_t packs_repacked = 0;
  uint64_t packs_kept = 0;
  uint64_t bytes_freed = 0;
  uint64_t blobs_removed = 0;
};
StatusOr<PruneResult> Prune(Repository& repo, const PruneOptions& options, const Clock& clock);

// ---- stats / copy ----
struct VaultStats {
  uint64_t points = 0;
  uint64_t logical_bytes = 0;  // sum of the points' sizes
  uint64_t unique_bytes = 0;   // plaintext bytes of distinct blobs
  uint64_t stored_bytes = 0;   // bytes of all files in the vault
  uint64_t packs = 0;
  uint64_t blobs = 0;
  double dedup_ratio = 0;        // logical / stored
  double compression_ratio = 0;  // unique / packed
};
StatusOr<VaultStats> Stats(Repository& repo);

struct CopyResult {
  uint64_t packs_copied = 0;
  uint64_t bytes_copied = 0;
  uint64_t files_copied = 0;  // keys, config, index, manifests
};
// Makes `target` a replica of the vault (same keys): copies the files it lacks — packs first
// (each verified: its SHA-256 must match its name), then index files, then manifests.
StatusOr<CopyResult> Copy(Repository& repo, storage::BlobStore& target, ProgressFn progress);

}  // namespace lifeboat::vault
