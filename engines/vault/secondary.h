#pragma once

// Geo-redundant vaults (Vault.spec.secondary): a second store, elsewhere, kept as a replica of
// the primary.
//   - SyncSecondary copies what the secondary lacks, in the vault's write order (vault::Copy:
//     keys and config, packs each verified against its name, index files, manifests), then the
//     immutability ledger; run it after each backup, off the backup's critical path.
//   - SecondaryLag: seconds since the newest primary point the secondary lacks (the
//     lifeboat_vault_secondary_lag_seconds gauge).
//   - FallbackBlobStore: reads from the primary and falls back to the secondary when the primary
//     is unreachable, lacks a file, or holds a damaged one (content-addressed files are checked
//     against their names), repairing the primary from the good copy. Open the Repository over
//     it and restore, ls and check need no change.
//   - CompareStores: what differs between the two (names, sizes, optionally content).
// The secondary keeps what prune removes from the primary until it is pruned itself.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engines/storage/blob_store.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

struct SyncResult {
  CopyResult copied;
  uint64_t ledger_files_copied = 0;
};

StatusOr<SyncResult> SyncSecondary(Repository& primary, storage::BlobStore& secondary,
                                   ProgressFn progress);

// 0 when the secondary has every point of the primary; otherwise now minus the time of the
// newest point it lacks.
StatusOr<double> SecondaryLagSeconds(Repository& primary, storage::BlobStore& secondary,
                                     const Clock& clock);

struct StoreDifference {
  std::string name;
  std::string problem;  // "missing on the secondary", "size 120 on the primary, 119 on ..." ...
};
struct CompareOptions {
  bool read_data = false;  // also compare the bytes of files present on both
};
// Differences between two stores holding the same vault; lock files (locks/) are ignored.
StatusOr<std::vector<StoreDifference>> CompareStores(storage::BlobStore& primary,
                                                     storage::BlobStore& secondary,
                                                     const CompareOptions& options);

class FallbackBlobStore final : public storage::BlobStore {
 public:
  FallbackBlobStore(storage::BlobStore& primary, storage::BlobStore& secondary);

  // Writes go to the primary only; SyncSecondary carries them over.
  Status Put(std::string_view name, std::string_view data) override;
  using BlobStore::Get;
  StatusOr<std::string> Get(std::string_view name, storage::ByteRange range) override;
  StatusOr<std::vector<storage::BlobInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view name) override;
  StatusOr<storage::BlobInfo> Stat(std::string_view name) override;
  std::string Describe() const override;

  uint64_t fallbacks() const { return fallbacks_.load(); }  // reads served by the secondary
  uint64_t repairs() const { return repairs_.load(); }      // primary files rewritten

 private:
  // The whole file, verified when its name carries its SHA-256; from the secondary (repairing
  // the primary) when the primary cannot give a good copy.
  StatusOr<std::shared_ptr<const std::string>> Whole(std::string_view name);
  void Repair(std::string_view name, const std::string& good);
  std::shared_ptr<const std::string> Recent(std::string_view name);
  void Remember(std::string_view name, const std::shared_ptr<const std::string>& bytes);

  storage::BlobStore& primary_;
  storage::BlobStore& secondary_;
  std::atomic<uint64_t> fallbacks_{0};
  std::atomic<uint64_t> repairs_{0};
  // Recently verified whole files (ranged reads of one pack come in runs).
  std::mutex mu_;
  std::mutex fallback_mu_;  // one fallback read and repair at a time
  std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> recent_;
};

}  // namespace lifeboat::vault
