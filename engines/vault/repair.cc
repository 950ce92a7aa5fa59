#include "engines/vault/repair.h"

#include "engines/vault/lock.h"

namespace lifeboat::vault {

namespace {

// Reads a pack's header from its tail (one request for most packs, two when the header is
// larger than the first guess).
StatusOr<std::vector<PackEntry>> ReadHeader(Repository& repo, const std::string& name,
                                            uint64_t size) {
  uint64_t want = std::min<uint64_t>(size, kPackTailGuess);
  ASSIGN_OR_RETURN(std::string tail, repo.store().Get(name, {size - want, want}));
  auto header = ReadPackHeader(repo.key().encryption, tail, size);
  if (header.ok() || header.status().code() != StatusCode::kOutOfRange) {
    return header;
  }
  want = std::stoull(header.status().message());
  ASSIGN_OR_RETURN(tail, repo.store().Get(name, {size - want, want}));
  return ReadPackHeader(repo.key().encryption, tail, size);
}

// Verifies a whole pack: its SHA-256 name and every blob (decrypt, decompress, keyed hash).
Status VerifyPack(Repository& repo, const Digest& id, const std::string& name,
                  const std::vector<PackEntry>& entries) {
  ASSIGN_OR_RETURN(std::string bytes, repo.store().Get(name));
  if (Sha256(bytes) != id) {
    return DataLossError("content does not match its name");
  }
  for (const PackEntry& e : entries) {
    RETURN_IF_ERROR(
        repo.DecodeBlob(e.id, e, std::string_view(bytes).substr(e.offset, e.length), id).status());
  }
  return OkStatus();
}

}  // namespace

StatusOr<RepairResult> Repair(Repository& repo, const RepairOptions& options, const Clock& clock) {
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kExclusive, clock));
  RETURN_IF_ERROR(repo.LoadIndex());
  const auto indexed_before = repo.IndexedPacks();
  ASSIGN_OR_RETURN(auto old_index, repo.store().List(kIndexPrefix));
  ASSIGN_OR_RETURN(auto stored, repo.store().List(kDataPrefix));

  RepairResult result;
  std::vector<PackInfo> packs;
  uint64_t done = 0;
  for (const storage::BlobInfo& f : stored) {
    Digest id;
    if (!ParseDigest(std::string_view(f.name).substr(kDataPrefix.size()), &id)) {
      result.damaged.push_back(f.name + ": not a pack name");
      continue;
    }
    auto header = ReadHeader(repo, f.name, f.size);
    Status s = header.status();
    if (s.ok() && options.read_data) {
      s = VerifyPack(repo, id, f.name, *header);
    }
    if (!s.ok()) {
      if (s.code() != StatusCode::kDataLoss && s.code() != StatusCode::kOutOfRange &&
          !IsNotFound(s)) {
        return s.WithPrefix("reading " + f.name);  // the store failed, not the pack
      }
      result.damaged.push_back(f.name + ": " + s.message());
      continue;
    }
    auto before = indexed_before.find(id);
    if (before == indexed_before.end() || before->second != f.size) {
      result.packs_not_indexed_before++;
    }
    result.blobs += header->size();
    packs.push_back(PackInfo{id, f.size, std::move(header).value()});
    if (options.progress) {
      options.progress(Progress{"repair", ++done, stored.size(), 0, 0});
    }
  }
  result.packs = packs.size();
  if (!packs.empty()) {
    ASSIGN_OR_RETURN(result.index_file, repo.SaveFile(kIndexPrefix, EncodeIndex(packs), kAadIndex));
  }
  // The new index names every sound pack: the old files go only now.
  for (const storage::BlobInfo& f : old_index) {
    if (f.name == result.index_file) continue;
    Status d = repo.store().Delete(f.name);
    if (!d.ok() && !IsNotFound(d)) return d;
    result.index_files_removed++;
  }
  RETURN_IF_ERROR(repo.LoadIndex());
  return result;
}

}  // namespace lifeboat::vault
