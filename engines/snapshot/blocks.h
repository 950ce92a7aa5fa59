#pragma once

// The block layer of the snapshot engine, reusable on its own (e.g. for disk-image deltas):
//
//  * ScanFile: reads a file as fixed-size blocks, skipping holes with SEEK_DATA/SEEK_HOLE and
//    reporting all-zero blocks as zero without hashing them; every other block gets its SHA-256,
//    unless its keyed fingerprint equals the one the caller knows for that index (the block of
//    the previous snapshot at the same place): then it is `unchanged` and not hashed.
//  * BlockStore: a content-addressed store of such blocks in a directory. Blocks are appended to
//    pack files (`<n>.data`, one fixed-size slot per block) sealed by an index (`<n>.idx`: the
//    SHA-256 and length of every slot plus a checksum of the index). Freeing a block punches a
//    hole in its slot, so freed space is returned to the filesystem block by block.
//
// A BlockStore does not know who references its blocks: its owner passes the set of live
// addresses to Sweep(), which frees everything else (including the leftovers of a crashed
// writer) and rebuilds the hash lookup from live blocks only, so a freed block is never reused.
#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace lifeboat::snapshot {

using BlockHash = std::array<uint8_t, 32>;  // SHA-256 of the block's bytes

// Change tracking between snapshots of one volume: a 128-bit AES-128-GMAC tag of a block under
// the store's secret key (ghash with PCLMULQDQ runs about 4x faster than SHA-256 with SHA-NI).
// It only ever compares a block with the block at the same index of the same volume's previous
// snapshot; it is never a content address (dedup and verification stay on SHA-256). Without the
// key, two different blocks share a tag with probability < 2^-118 (GHASH is almost universal).
using Fingerprint = std::array<uint8_t, 16>;  // all zero: unknown
using FingerprintKey = std::array<uint8_t, 16>;
FingerprintKey NewFingerprintKey();

// The fingerprint functions (see blocks.cc): 1 = AES-128-GMAC (OpenSSL), 2 = the same kind of
// polynomial hash at the same secret point in GF(2^128), evaluated with VPCLMULQDQ (AVX-512).
// FingerprintFunction() is the one this machine computes (2 where the CPU has VPCLMULQDQ);
// fingerprints of different functions are never compared.
constexpr int kFingerprintGmac = 1;
constexpr int kFingerprintPoly = 2;
int FingerprintFunction();

class Fingerprinter {
 public:
  // `function` 0: FingerprintFunction().
  explicit Fingerprinter(const FingerprintKey& key, int function = 0);
  ~Fingerprinter();
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;
  Fingerprint Of(std::span<const uint8_t> data);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

constexpr uint32_t kKiB = 1024;
// Fixed block size for new stores; 4 KiB .. 1 MiB, a multiple of 4 KiB (see bench/snapshot).
constexpr uint32_t kDefaultBlockSize = 16 * kKiB;
constexpr uint32_t kMinBlockSize = 4 * kKiB;
constexpr uint32_t kMaxBlockSize = 1024 * kKiB;

BlockHash HashBlock(std::span<const uint8_t> data);
// SHA-256 of two blocks at once, equal to HashBlock of each. Where the CPU has the SHA
// extensions, the two messages' rounds are interleaved in one loop: SHA256RNDS2 waits for its
// previous result, so one message leaves the unit idle half the time (16 KiB blocks: 3.2 GB/s
// against OpenSSL's 1.7 GB/s on one core of this VM's EPYC). Blocks of different lengths, or
// no SHA extensions, are hashed one by one with OpenSSL.
void HashBlockPair(std::span<const uint8_t> a, std::span<const uint8_t> b, BlockHash& hash_a,
                   BlockHash& hash_b);
// True when HashBlockPair interleaves (the CPU has SHA-NI).
bool HaveSha256Pair();
std::string HashToHex(const BlockHash& hash);
// All bytes zero (fast path for the zero test of every block).
bool IsZero(std::span<const uint8_t> data);
Status ValidateBlockSize(uint32_t block_size);

// One block of a scanned file: block `index` covers bytes [index * block_size, +length).
struct BlockInfo {
  uint64_t index = 0;
  uint32_t length = 0;  // block_size, except for the last block of a file
  bool zero = false;    // a hole or all-zero bytes: not hashed, never stored
  // Its fingerprint equals ScanOptions::previous[index]: `hash` was not computed.
  bool unchanged = false;
  BlockHash hash{};           // valid when !zero && !unchanged
  Fingerprint fingerprint{};  // valid when !zero and ScanOptions::fingerprint_key is set
};

struct ScanOptions {
  uint32_t block_size = kDefaultBlockSize;
  int threads = 0;  // hashing threads; 0 = one per core
  // Set: every non-zero block gets its fingerprint under this key.
  const FingerprintKey* fingerprint_key = nullptr;
  // Fingerprints known for the blocks of this file (index i = block i; all zero or beyond the
  // end: unknown). A block whose fingerprint matches is reported `unchanged` without its SHA-256.
  std::span<const Fingerprint> previous;
  // Read with pread only, never through a mapping of the file (tests; by default a scan with
  // known fingerprints reads through a read-only mapping, guarded against SIGBUS).
  bool no_mapping = false;
  // How many chunk buffers the sink may keep through BufferHolds after its calls return (e.g. a
  // pack writer until its direct writes of them are done): the scan allocates that many more,
  // so that reading and hashing go on meanwhile.
  int held_buffers = 0;
  // Called after each read chunk with bytes done / total (the file size; holes count as done).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Called once per block, in index order, on the calling thread. `data` holds the block's bytes
// (empty for zero blocks) and is valid only during the call. A non-OK return stops the scan.
using BlockSink = std::function<Status(const BlockInfo& block, std::span<const uint8_t> data)>;

// A share of the buffer that holds a block's bytes during a scan: while a copy of it lives, the
// bytes stay valid and unchanged and the buffer is not reused. Empty: the bytes are valid only
// during the sink's call (the scan reuses its only buffer at once).
using BufferHold = std::shared_ptr<const void>;
using HeldBlockSink = std::function<Status(const BlockInfo& block, std::span<const uint8_t> data,
                                           const BufferHold& hold)>;

// Scans the first `size` bytes of the open file `fd` (pread only; the offset is not moved).
Status ScanFile(int fd, uint64_t size, const ScanOptions& options, const BlockSink& sink);
// The same, handing the sink a hold on each block's buffer: a sink that keeps it may use the
// bytes after its call (ScanOptions::held_buffers says how many buffers it keeps at most).
Status ScanFile(int fd, uint64_t size, const ScanOptions& options, const HeldBlockSink& sink);
// Convenience: opens `path` and returns every block's info (zero blocks included).
StatusOr<std::vector<BlockInfo>> HashFile(const std::filesystem::path& path,
                                          const ScanOptions& options);

// Where a stored block lives: slot `slot` of pack `pack` (packs are numbered from 1).
struct BlockAddress {
  uint32_t pack = 0;
  uint32_t slot = 0;
  uint64_t Key() const { return (uint64_t{pack} << 32) | slot; }
  static BlockAddress FromKey(uint64_t key) {
    return {static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key)};
  }
  friend bool operator==(const BlockAddress& a, const BlockAddress& b) = default;
};

struct StoredBlock {
  BlockHash hash{};
  uint32_t length = 0;
};

// Test seam: called before each write to a pack file with the bytes about to be written;
// a non-OK status fails that write as if the disk returned it (e.g. ENOSPC).
using WriteFaultFn = std::function<Status(uint64_t bytes)>;

struct SweepStats {
  uint64_t packs_removed = 0;
  uint64_t blocks_freed = 0;
  uint64_t bytes_freed = 0;
};

class BlockStore {
 public:
  // Opens the store in `dir` (created if missing). The caller serialises writers (SnapshotStore
  // holds an exclusive lock on its directory for Sweep and writes).
  static StatusOr<std::unique_ptr<BlockStore>> Open(const std::filesystem::path& dir,
                                                    uint32_t block_size);
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  uint32_t block_size() const { return block_size_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Frees every block whose address is not in `live` (punches its slot; removes a pack with no
  // live slot and any unsealed pack), and makes exactly the live blocks available to Find().
  StatusOr<SweepStats> Sweep(const std::unordered_set<uint64_t>& live_keys);

  // The live block with this content, if any (only after Sweep; includes blocks added by the
  // current writer).
  const BlockAddress* Find(const BlockHash& hash) const;
  // Makes room in the lookup for `more` blocks a writer is about to add (saves rehashing).
  void ReserveLookup(size_t more);

  // Metadata of a sealed block (hash + length), read from the pack's verified index.
  StatusOr<StoredBlock> Describe(const BlockAddress& address);
  // Reads a block's bytes into `out` (resized to its length) and checks its SHA-256;
  // kDataLoss names the pack file and slot on a mismatch.
  Status Read(const BlockAddress& address, std::vector<uint8_t>& out);
  // Reads `count` blocks stored in consecutive slots from `first` with one read, checking every
  // block's SHA-256; `out` holds their bytes back to back (all but the last must be full).
  Status ReadRun(const BlockAddress& first, uint32_t count, std::vector<uint8_t>& out);
  // The pack's data file descriptor for bulk copies (read-only; owned by the store).
  StatusOr<int> PackFd(uint32_t pack);
  std::filesystem::path PackDataPath(uint32_t pack) const;
  std::filesystem::path PackIndexPath(uint32_t pack) const;

  // Appends new blocks to one new pack. Put() dedups against Find(); nothing is durable or
  // visible to other processes until Seal() has returned OK (data fsynced, index written, fsynced
  // and renamed into place). An unsealed writer's pack is removed by the next Sweep.
  class Writer {
   public:
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    // Up to this many runs are written at once (on this disk two or more direct writes in flight
    // write about twice as fast as one).
    static constexpr size_t kWritesInFlight = 4;
    // The most lent buffers a writer holds at once (the run being gathered, and the runs in
    // flight): ScanOptions::held_buffers for a scan that feeds it.
    static constexpr int kHeldBuffers = static_cast<int>(kWritesInFlight) + 1;
    // Returns the address of an equal live block, or stores `data` in a new slot. With a `hold`
    // on the buffer of `data`, a block whose memory suits a direct write is written from there
    // (the writer keeps the hold until that write is done) instead of being copied first.
    StatusOr<BlockAddress> Put(const BlockHash& hash, std::span<const uint8_t> data,
                               const BufferHold& hold = {});
    uint64_t new_blocks() const { return new_blocks_; }
    uint64_t new_bytes() const { return new_bytes_; }
    Status Seal();

   private:
    friend class BlockStore;
    Writer(BlockStore& store, uint32_t pack, int fd) : store_(store), pack_(pack), fd_(fd) {}
    // Starts writing the gathered run of consecutive blocks with one pwritev on a background
    // thread, so the disk writes while the caller reads and hashes the next runs. Up to
    // kWritesInFlight runs are written at once (the disk's throughput grows with the writes in
    // flight); they go to disjoint ranges of the pack, so their order does not matter: Seal waits
    // for all of them before the pack's data is synced and its index written.
    Status Flush();
    // Stores a new block in the next slot (Put has checked it and entered it in the lookup).
    Status Append(const BlockHash& hash, std::span<const uint8_t> data, const BufferHold& hold);
    // Appends [data, data + size) to the run's pieces (merged with the last one when adjacent).
    void AppendPiece(const uint8_t* data, uint64_t size);
    // A staging buffer for copied blocks (allocated on first use; else the oldest write's).
    Status TakeStaging();
    // Waits for every background write; the first error of any of them.
    Status WaitForWrites();
    // Waits for the oldest background write and returns its buffer to the free list.
    Status WaitForOldestWrite();
    // Extends the pack's allocation (O_DIRECT only) so that [0, end) lies within the file: a
    // direct write inside the file's size may run in parallel with others, while one that
    // extends the file holds the inode exclusively (ext4).
    void Preallocate(uint64_t end);
    struct FreeAligned {
      void operator()(uint8_t* p) const;
    };
    using AlignedBuffer = std::unique_ptr<uint8_t, FreeAligned>;
    struct InFlight {
      std::future<Status> done;
      AlignedBuffer buffer;  // the run's staging buffer (null: none)
    };
    BlockStore& store_;
    uint32_t pack_;
    int fd_;
    std::vector<StoredBlock> slots_;
    uint64_t new_blocks_ = 0;
    uint64_t new_bytes_ = 0;
    uint64_t synced_until_ = 0;
    // Consecutive new blocks not yet written: pieces of memory in file order, each either in a
    // lent scan buffer (kept by `pending_holds_`) or copied into the staging buffer `pending_`
    // (aligned for O_DIRECT; a short block is padded there).
    std::vector<std::pair<const uint8_t*, uint64_t>> pending_pieces_;
    std::vector<BufferHold> pending_holds_;
    AlignedBuffer pending_;
    uint64_t staged_ = 0;  // bytes used in pending_
    std::vector<AlignedBuffer> free_buffers_;
    size_t staging_allocated_ = 0;
    std::deque<InFlight> in_flight_;  // oldest first
    // The threads that run the writes (started with the first one, kept for the writer's life:
    // a thread per write cost a fresh stack each time).
    void StartWrite(std::packaged_task<Status()> job);
    void StopWriteThreads();
    std::vector<std::thread> write_threads_;
    std::mutex write_mu_;
    std::condition_variable write_cv_;
    std::deque<std::packaged_task<Status()>> write_jobs_;
    bool write_stop_ = false;
    Status write_error_;  // the first failed background write
    uint64_t pending_size_ = 0;
    uint64_t pending_offset_ = 0;
    uint64_t written_end_ = 0;  // end of the furthest write (the pack's final size)
    uint64_t allocated_ = 0;    // the pack file's size after Preallocate
    bool preallocate_ = true;   // off once the file system refused
    bool direct_ = false;       // the pack is written with O_DIRECT (no page-cache copy)
    bool sealed_ = false;
  };
  StatusOr<std::unique_ptr<Writer>> NewWriter();

  void set_write_fault(WriteFaultFn fn) { write_fault_ = std::move(fn); }
  // Forgets cached pack indexes and the lookup (another process may have changed the store);
  // the owner calls it at the start of each operation, under its lock.
  void ResetCache();

 private:
  BlockStore(std::filesystem::path dir, uint32_t block_size)
      : dir_(std::move(dir)), block_size_(block_size) {}
  struct Pack {
    int fd = -1;
    std::vector<StoredBlock> slots;  // from the sealed index
  };
  StatusOr<Pack*> LoadPack(uint32_t pack);
  std::vector<uint32_t> ListPackNumbers(bool sealed_only) const;

  std::filesystem::path dir_;
  uint32_t block_size_;
  std::mutex packs_mu_;  // guards packs_ (readers may run in parallel)
  std::unordered_map<uint32_t, Pack> packs_;
  struct HashHasher {
    size_t operator()(const BlockHash& h) const;
  };
  std::unordered_map<BlockHash, BlockAddress, HashHasher> lookup_;
  WriteFaultFn write_fault_;
};

// Reads and verifies a pack index file (exposed for tests and tools).
StatusOr<std::vector<StoredBlock>> ReadPackIndex(const std::filesystem::path& path,
                                                 uint32_t block_size);

}  // namespace lifeboat::snapshot
