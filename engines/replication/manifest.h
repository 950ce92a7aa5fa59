#pragma once

// The replication manifest: what one recovery point holds. A list of entries (directories, files,
// symlinks); a file is a list of chunk references, each (length, SHA-256 of the bytes) or a hole
// (zero bytes, never stored, materialised sparse). Disk images use fixed 4 KiB blocks, other files
// content-defined chunks. The same binary encoding serves three purposes: the point file at the
// target, the sender's local state (with inode numbers), and the commit request, where a file may
// be sent as "unchanged since the base point" or as a block patch of the base (FORMAT below).
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lifeboat::replication {

using Hash = std::array<uint8_t, 32>;

// All-zero hash = a hole (zero-filled range, not stored).
constexpr Hash kHoleHash{};
constexpr uint32_t kImageBlockSize = 4096;

struct ChunkRef {
  uint32_t length = 0;
  Hash hash{};
  bool hole() const { return hash == kHoleHash; }
  friend bool operator==(const ChunkRef&, const ChunkRef&) = default;
};

enum class EntryType : uint8_t { kDirectory = 0, kFile = 1, kSymlink = 2 };
// How a file's chunk list is carried in a commit request.
enum class FileEncoding : uint8_t {
  kFull = 0,       // every chunk listed
  kUnchanged = 1,  // same chunks as the base point's entry of the same path
  kPatch = 2,      // the base entry's chunks with `patches` applied, resized to `patch_count`
};
enum class ChunkingKind : uint8_t { kContentDefined = 0, kFixedBlocks = 1 };

struct Entry {
  EntryType type = EntryType::kFile;
  std::string path;  // "<volume>/<relative path>", '/'-separated, no "." or ".." components
  uint32_t mode = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  uint64_t inode = 0;  // source side only (unchanged-file detection); 0 at the target
  std::string target;  // symlink target
  ChunkingKind chunking = ChunkingKind::kContentDefined;
  std::vector<ChunkRef> chunks;
  // Commit requests only:
  FileEncoding encoding = FileEncoding::kFull;
  uint32_t patch_count = 0;                            // kPatch: final number of chunks
  std::vector<std::pair<uint32_t, ChunkRef>> patches;  // kPatch: (index, new chunk)
};

enum class Consistency : uint8_t { kCrash = 0, kApplication = 1 };
std::string_view ConsistencyName(Consistency c);  // "Crash" / "Application"
StatusOr<Consistency> ParseConsistency(std::string_view s);

struct PointInfo {
  std::string id;       // "<unix ms, 13 digits>-<8 hex>": sorts by time
  int64_t time_ms = 0;  // when the source state was captured
  Consistency consistency = Consistency::kCrash;
  uint64_t logical_bytes = 0;  // sum of file sizes
  uint64_t files = 0;
  std::string base;  // commit requests: the point the delta refers to ("" = full)
};

struct Manifest {
  PointInfo info;
  std::vector<Entry> entries;  // sorted by path
};

std::string EncodeManifest(const Manifest& m);
// `what` names the source in errors (a file path, "commit request").
StatusOr<Manifest> DecodeManifest(std::string_view data, std::string_view what);

// Rebuilds a full manifest from a delta (`delta.info.base` == base.info.id). kFailedPrecondition
// when an entry refers to a base entry that does not exist.
StatusOr<Manifest> ApplyDelta(const Manifest& base, Manifest delta);
// The delta encoding of `next` against `base` (files whose chunks did not change become
// kUnchanged; fixed-block files with few changed blocks become kPatch).
Manifest MakeDelta(const Manifest& base, const Manifest& next);

// A relative path is safe when it has no empty, "." or ".." component and does not start with '/'.
bool SafeRelativePath(std::string_view path);

std::string HashHex(const Hash& h);

}  // namespace lifeboat::replication
