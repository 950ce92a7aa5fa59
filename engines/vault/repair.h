#pragma once

// Repair: rebuilds the vault's index from the pack files themselves, for a vault whose index
// files were lost or damaged. Every pack carries its own encrypted header (FORMAT.md §5), so
// the index is redundant: repair reads each pack's header (with `read_data`, the whole pack:
// its SHA-256 name and every blob), writes one new index file naming every sound pack, and only
// then deletes the old index files. Packs that cannot be read are left in place, out of the
// index, and reported. Runs under the exclusive lock; a crash at any instant leaves a vault
// whose index is the old one, the new one, or their union.
#include <string>
#include <vector>

#include "common/clock.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

struct RepairOptions {
  bool read_data = false;  // verify every pack's name and every blob, not only its header
  ProgressFn progress;
};

struct RepairResult {
  uint64_t packs = 0;                     // packs in the new index
  uint64_t blobs = 0;                     // blobs in the new index
  uint64_t packs_not_indexed_before = 0;  // packs no old index file named (or only a damaged one)
  uint64_t index_files_removed = 0;
  std::string index_file;            // the new index file ("" when the vault has no packs)
  std::vector<std::string> damaged;  // packs left out of the index, each with the reason
};

StatusOr<RepairResult> Repair(Repository& repo, const RepairOptions& options, const Clock& clock);

}  // namespace lifeboat::vault
