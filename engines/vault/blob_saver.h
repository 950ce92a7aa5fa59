#pragma once

// BlobSaver: the write half of the pipeline — dedup against the index and blobs in flight,
// compress, encrypt, gather into packs, and upload full packs on background threads. Finish()
// writes one index file naming every new pack (write order: packs, then index).
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engines/vault/repository.h"

namespace lifeboat::vault {

struct SaverStats {
  uint64_t new_blobs = 0;
  uint64_t new_raw_bytes = 0;     // plaintext bytes of blobs not yet in the vault
  uint64_t packed_bytes = 0;      // bytes of pack files written
  uint64_t packs = 0;
};

class BlobSaver {
 public:
  explicit BlobSaver(Repository& repo, int upload_threads = 2);
  ~BlobSaver();
  BlobSaver(const BlobSaver&) = delete;
  BlobSaver& operator=(const BlobSaver&) = delete;

  // Stores `plain` unless the vault (or this saver) already has it; returns its ID. Thread-safe.
  StatusOr<Digest> Save(BlobType type, std::string_view plain);
  // Stores a blob whose ID is known (verified by the caller) even if the index has it: prune
  // uses it to move still-used blobs out of a pack that is going away.
  Status Repack(BlobType type, const Digest& id, std::string_view plain);
  // Uploads partial packs and waits for every upload.
  Status FlushPacks();
  // FlushPacks, then writes one index file naming the new packs. Returns its name ("" when
  // nothing new was written).
  StatusOr<std::string> Finish();
  SaverStats stats() const;
  // New packs uploaded so far (after Finish: all of them).
  std::vector<PackInfo> new_packs() const;

 private:
  struct OpenPack {
    std::string bytes;
    std::vector<PackEntry> entries;
  };
  enum class Dedup { kAgainstIndex, kInFlightOnly };
  Status Add(BlobType type, const Digest& id, std::string_view plain, Dedup dedup);
  void Enqueue(OpenPack&& pack);
  void UploadLoop();
  Status Upload(OpenPack& pack);
  Status error() const;

  Repository& repo_;
  mutable std::mutex mu_;
  std::unordered_set<Digest, DigestHash> in_flight_;
  OpenPack open_[2];  // one per BlobType: trees and data go to different packs
  std::deque<OpenPack> queue_;
  int uploading_ = 0;
  std::condition_variable queue_cv_;
  std::condition_variable space_cv_;
  bool stopping_ = false;
  Status error_;
  SaverStats stats_;
  std::vector<PackInfo> new_packs_;
  std::vector<std::thread> uploaders_;
};

}  // namespace lifeboat::vault
