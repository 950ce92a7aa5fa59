#pragma once

// The snapshot engine: read-only, point-in-time copies of volumes kept in a local store.
//
// A volume is a single file (a disk image, possibly sparse) or a directory tree. A snapshot
// copies the volume's bytes into the store's content-addressed blocks (blocks.h), so it is
// independent of the source: changing or deleting the source never changes a snapshot. Blocks
// are shared between snapshots (and within one), so a new snapshot of a volume stores only the
// blocks that changed; holes and all-zero blocks are recorded as holes and cost nothing.
//
// Store layout (`dir`):
//   store.json             {"format":1,"blockSize":N,"fingerprintKey":"<32 hex>"} (the key is
//                          added when missing; older readers ignore it)
//   blocks/<n>.data|.idx   packs of blocks (BlockStore)
//   snapshots/<id>.snap    one manifest per snapshot, checksummed, written last (temp + fsync +
//                          rename), so a snapshot exists only once all its blocks are durable
//   snapshots/<id>.fp      the keyed fingerprint of every block of that snapshot (checksummed;
//                          written before the manifest). The next snapshot of the volume reads
//                          each block, compares its fingerprint with this one at the same index
//                          and shares the previous block without computing its SHA-256 when they
//                          match. Optional: missing or damaged, the next snapshot hashes all.
//   lock                   flock: Create/Delete exclusive, List/Verify/Materialize shared
//
// Crash safety: a killed Create leaves an unreferenced pack that the next Create or Delete
// removes; Delete removes the manifest first and then frees the blocks no other snapshot uses,
// so a killed Delete only leaves garbage for the next run. A full disk fails Create cleanly.
//
// Usage (what the Snapshot reconciler, Restore and instant restore call):
//   ASSIGN_OR_RETURN(auto store, SnapshotStore::Open(data_dir / "snapshots"));
//   ASSIGN_OR_RETURN(CreateResult r, store->Create({.volume = "db", .source = "/srv/db.img"}));
//   ASSIGN_OR_RETURN(auto m, store->Materialize({.id = r.snapshot.id, .target = "/srv/new.img"}));
//   ASSIGN_OR_RETURN(DeleteResult d, store->Delete(r.snapshot.id));
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engines/snapshot/blocks.h"

namespace lifeboat::snapshot {

enum class VolumeKind { kImage, kDirectory };
std::string_view VolumeKindName(VolumeKind kind);  // "image", "directory"

struct Progress {
  std::string phase;  // "create", "verify", "restore"
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};
using ProgressFn = std::function<void(const Progress&)>;

// What Create does when a source file changes while it is read (size, mtime or ctime differ
// before and after reading it).
enum class SourceChangePolicy {
  kFail,    // fail Create with kAborted naming the file; no snapshot is written (default)
  kReport,  // keep the snapshot, list the files in SnapshotInfo::changed_during_read
};

struct SnapshotInfo {
  std::string id;
  std::string volume;
  VolumeKind kind = VolumeKind::kImage;
  std::string source;  // the path snapshotted
  std::chrono::system_clock::time_point creation_time;
  std::string parent;  // previous snapshot of the same volume when this one was made ("" none)
  uint64_t provisioned_bytes = 0;  // the volume's size (sum of file sizes for a directory)
  uint64_t used_bytes = 0;         // distinct non-zero block bytes it references
  uint64_t exclusive_bytes = 0;    // bytes only it references: what deleting it frees
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t symlinks = 0;
  std::vector<std::string> changed_during_read;  // SourceChangePolicy::kReport only
};

struct CreateOptions {
  std::string volume;            // [A-Za-z0-9._-], 1..128 characters
  std::filesystem::path source;  // a regular file (image) or a directory
  int threads = 0;               // hashing threads; 0 = one per core
  SourceChangePolicy on_source_change = SourceChangePolicy::kFail;
  ProgressFn progress;
};

struct CreateResult {
  SnapshotInfo snapshot;
  uint64_t bytes_read = 0;    // source bytes read (holes and reused files are not read)
  uint64_t bytes_stored = 0;  // new block bytes written to the store
  uint64_t blocks_stored = 0;
  uint64_t files_reused = 0;  // unchanged files taken from the parent without reading
  // Blocks read and found equal to the previous snapshot's by fingerprint (no SHA-256).
  uint64_t blocks_unchanged = 0;
  std::vector<std::string> skipped;  // sockets, fifos, devices: "path: reason"
};

struct DeleteResult {
  uint64_t bytes_freed = 0;
  uint64_t blocks_freed = 0;
};

struct VerifyResult {
  uint64_t blocks_checked = 0;
  uint64_t bytes_checked = 0;
};

struct MaterializeOptions {
  std::string id;                // a snapshot ID or a unique prefix
  std::filesystem::path target;  // must not exist (an empty directory is accepted for trees)
  int threads = 0;               // 0 = one per core
  ProgressFn progress;
};

struct MaterializeResult {
  std::filesystem::path target;
  uint64_t bytes_written = 0;  // non-hole bytes
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t symlinks = 0;
};

struct StoreOptions {
  uint32_t block_size = kDefaultBlockSize;  // used when the store is new; else must match
  bool block_size_set = false;              // true: fail if an existing store differs
  WriteFaultFn write_fault;                 // test seam (ENOSPC injection)
};

// Not thread-safe: use one SnapshotStore object per thread (Open is cheap). Several objects and
// processes may share a directory; the store's lock file serialises them.
class SnapshotStore {
 public:
  // Opens the store in `dir`, creating it when missing.
  static StatusOr<std::unique_ptr<SnapshotStore>> Open(const std::filesystem::path& dir,
                                                       const StoreOptions& options = {});
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  uint32_t block_size() const { return block_size_; }

  StatusOr<CreateResult> Create(const CreateOptions& options);
  // All snapshots, oldest first, with current accounting.
  StatusOr<std::vector<SnapshotInfo>> List();
  // One snapshot by ID or unique prefix (kNotFound / kInvalidArgument when ambiguous).
  StatusOr<SnapshotInfo> Get(const std::string& id);
  StatusOr<DeleteResult> Delete(const std::string& id);
  // Re-reads and re-hashes every block the snapshot references; kDataLoss names the damage.
  StatusOr<VerifyResult> Verify(const std::string& id, const ProgressFn& progress = nullptr);
  // Writes a new sparse file or directory tree byte-identical to the source at snapshot time.
  // Every block is verified; the result appears at `target` only when complete.
  StatusOr<MaterializeResult> Materialize(const MaterializeOptions& options);
  // Removes what crashed runs left behind (temp files, unreferenced blocks).
  StatusOr<SweepStats> CollectGarbage();

 private:
  SnapshotStore(std::filesystem::path dir, uint32_t block_size, const FingerprintKey& key,
                std::unique_ptr<BlockStore> blocks)
      : dir_(std::move(dir)),
        block_size_(block_size),
        fingerprint_key_(key),
        blocks_(std::move(blocks)) {}
  struct Impl;
  std::filesystem::path dir_;
  uint32_t block_size_;
  FingerprintKey fingerprint_key_;
  std::unique_ptr<BlockStore> blocks_;
  WriteFaultFn write_fault_;
};

}  // namespace lifeboat::snapshot
