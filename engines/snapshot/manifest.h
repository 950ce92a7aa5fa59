#pragma once

// A snapshot's manifest (internal to the snapshot engine): its metadata, the volume's entries
// and the block table. Encoded as magic | raw length | zstd(JSON + delta-coded block keys) |
// SHA-256 of everything before, so any flipped byte is detected when it is read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engines/snapshot/snapshot.h"

namespace lifeboat::snapshot {

enum class EntryType : uint8_t { kFile, kDirectory, kSymlink };

struct Entry {
  std::string path;  // relative, '/'-separated; "" is the image itself or the root directory
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;  // permission bits
  int64_t mtime_ns = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;   // files
  std::string target;  // symlinks
  uint64_t ino = 0;    // identity for reuse by the next snapshot (never for integrity)
  uint64_t dev = 0;
  int64_t ctime_ns = 0;
  uint64_t first_block = 0;  // files: index of block 0 in Manifest::blocks
};

struct Manifest {
  std::string id;
  std::string volume;
  VolumeKind kind = VolumeKind::kImage;
  std::string source;
  int64_t created_ns = 0;  // Unix time
  std::string parent;
  uint32_t block_size = 0;
  uint64_t provisioned = 0;
  std::vector<std::string> changed;
  std::vector<Entry> entries;
  std::vector<uint64_t> blocks;  // BlockAddress keys; 0 = hole (packs start at 1)
};

inline uint64_t BlockCount(uint64_t size, uint32_t block_size) {
  return (size + block_size - 1) / block_size;
}

std::string EncodeManifest(const Manifest& m);
// `what` names the file in errors. kDataLoss on any damage or inconsistency.
StatusOr<Manifest> DecodeManifest(std::string_view raw, const std::string& what);

}  // namespace lifeboat::snapshot
