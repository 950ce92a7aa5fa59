#pragma once

// Binary layouts of pack headers and index files (FORMAT.md §4–§5). Little-endian throughout.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engines/vault/crypto.h"

namespace lifeboat::vault {

constexpr uint32_t kFormatVersion = 1;

enum class BlobType : uint8_t { kData = 0, kTree = 1 };
const char* BlobTypeName(BlobType t);

// One blob inside a pack: `length` bytes at `offset` (sealed: nonce, ciphertext, tag) that
// decrypt to `raw_length` bytes after decompression (when `compressed`).
struct PackEntry {
  Digest id{};
  BlobType type = BlobType::kData;
  bool compressed = false;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t raw_length = 0;
};

struct PackInfo {
  Digest id{};  // SHA-256 of the whole pack file
  uint64_t size = 0;
  std::vector<PackEntry> blobs;
};

struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    static_assert(sizeof(h) <= sizeof(Digest));
    __builtin_memcpy(&h, d.data(), sizeof(h));
    return h;
  }
};

// Names of files in the store.
std::string PackName(const Digest& id);        // data/<hex>
constexpr std::string_view kDataPrefix = "data/";
constexpr std::string_view kIndexPrefix = "index/";
constexpr std::string_view kSnapshotPrefix = "snapshots/";
constexpr std::string_view kKeyPrefix = "keys/";
constexpr std::string_view kLockPrefix = "locks/";
constexpr std::string_view kConfigName = "config";

// Authenticated-data labels binding each encrypted file to its role.
constexpr std::string_view kAadPackHeader = "lifeboat-v1/pack-header";
constexpr std::string_view kAadIndex = "lifeboat-v1/index";
constexpr std::string_view kAadSnapshot = "lifeboat-v1/snapshot";
constexpr std::string_view kAadConfig = "lifeboat-v1/config";
constexpr std::string_view kAadKey = "lifeboat-v1/key";

std::string EncodePackHeader(const std::vector<PackEntry>& blobs);
StatusOr<std::vector<PackEntry>> DecodePackHeader(std::string_view plain);

std::string EncodeIndex(const std::vector<PackInfo>& packs);
StatusOr<std::vector<PackInfo>> DecodeIndex(std::string_view plain);

// Splits a pack file into its sealed header (the tail) and returns the header entries,
// checking that they tile the data area exactly.
StatusOr<std::vector<PackEntry>> ReadPackHeader(const std::array<uint8_t, kKeySize>& key,
                                                std::string_view pack_tail, uint64_t pack_size);
// Bytes to read from the end of a pack to get its header in one request (most packs).
constexpr uint64_t kPackTailGuess = 64 << 10;
// The 4-byte trailer holding the sealed header length.
constexpr uint64_t kPackTrailer = 4;

}  // namespace lifeboat::vault
