#pragma once

// BlobSaver: the write half of the pipeline — dedup against the index and blobs in flight,
// compress, encrypt straight into an open pack, and upload full packs on background threads.
// Each calling thread fills its own open packs (a lane), so workers never wait for each other
// while sealing; pack buffers are recycled. A pack's SHA-256 name is computed from its buffer as
// its blobs are appended, with the bytes still in cache: a lane keeps two data packs open, fills
// the smaller one, and hashes the two together (sha256ni::Compress2, about 1.8x the rate of one
// SHA-256 stream); what is left unpaired is hashed at upload. Finish() writes one index file
// naming every new pack (packs, then index).
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engines/vault/repository.h"

namespace lifeboat::vault {

struct SaverStats {
  uint64_t new_blobs = 0;
  uint64_t new_raw_bytes = 0;  // plaintext bytes of blobs not yet in the vault
  uint64_t packed_bytes = 0;   // bytes of pack files written
  uint64_t packs = 0;
};

class BlobSaver {
 public:
  explicit BlobSaver(Repository& repo, int upload_threads = 3);
  ~BlobSaver();
  BlobSaver(const BlobSaver&) = delete;
  BlobSaver& operator=(const BlobSaver&) = delete;

  // Stores `plain` unless the vault (or this saver) already has it; returns its ID. Thread-safe.
  StatusOr<Digest> Save(BlobType type, std::string_view plain);
  // The same for a blob whose ID the caller computed with repo.hmac() (backup hashes first and
  // looks the ID up, so known chunks are never compressed or encrypted again).
  Status SaveWithId(BlobType type, const Digest& id, std::string_view plain);
  // Whether the vault or this saver already has `id`.
  bool Has(const Digest& id) const;
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
  struct FreeDeleter {
    void operator()(char* p) const;
  };
  struct OpenPack {
    // Block-aligned, so that the store can write it with O_DIRECT without copying it.
    std::unique_ptr<char[], FreeDeleter> bytes;
    size_t size = 0;
    size_t capacity = 0;
    std::vector<PackEntry> entries;
    // SHA-256 of bytes[0, hashed) with SHA-NI (hashed is a multiple of 64); without it, `sha`
    // is fed every appended byte instead.
    uint32_t state[8];
    size_t hashed = 0;
    Sha256Stream sha;
    void Reserve(size_t n);
    // Appends `data` (header and trailer at upload).
    void Append(std::string_view data);
    // Notes that bytes[size, size + n) were written in place, and counts them.
    void Appended(size_t n);
    // The SHA-256 of bytes[0, size): hashes what was not hashed yet.
    Digest FinalHash();
  };
  struct Lane {
    std::mutex mu;
    std::unique_ptr<OpenPack> tree;
    // Two open data packs, filled smaller-first so that their bytes can be hashed in pairs.
    std::unique_ptr<OpenPack> data[2];
  };
  // Lanes are picked by thread; a collision only means two threads share a lane's mutex.
  static constexpr size_t kLanes = 8;
  // Blobs in flight (sealed into a pack not yet in the index), sharded by the ID's first byte so
  // that workers checking for duplicates rarely wait for each other or for an uploader.
  struct InFlightShard {
    std::mutex mu;
    std::unordered_set<Digest, DigestHash> ids;
  };
  static constexpr size_t kInFlightShards = 16;
  InFlightShard& ShardOf(const Digest& id) const { return in_flight_[id[0] % kInFlightShards]; }

  enum class Dedup { kAgainstIndex, kInFlightOnly };
  Status Add(BlobType type, const Digest& id, std::string_view plain, Dedup dedup);
  std::unique_ptr<OpenPack> NewPack(BlobType type);
  void Enqueue(std::unique_ptr<OpenPack> pack);
  void UploadLoop();
  Status Upload(OpenPack& pack);
  Status error() const;

  Repository& repo_;
  std::array<Lane, kLanes> lanes_;
  mutable std::array<InFlightShard, kInFlightShards> in_flight_;
  std::atomic<uint64_t> new_blobs_{0};
  std::atomic<uint64_t> new_raw_bytes_{0};
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<OpenPack>> queue_;
  std::vector<std::unique_ptr<OpenPack>> free_;
  int uploading_ = 0;
  std::condition_variable queue_cv_;
  std::condition_variable space_cv_;
  bool stopping_ = false;
  Status error_;
  std::atomic<bool> failed_{false};  // error_ is set (checked without mu_ on every blob)
  SaverStats stats_;
  std::vector<PackInfo> new_packs_;
  std::vector<std::thread> uploaders_;
};

}  // namespace lifeboat::vault
