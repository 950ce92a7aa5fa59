#pragma once

// BlobStore: the storage interface under the vault (STYLE.md §3.8). Blobs are immutable byte
// strings named by slash-separated paths ("data/3f9a..."). Every implementation passes the typed
// conformance suite in tests/conformance/blob_store_conformance_test.cc.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lifeboat::storage {

// A byte range of a blob: `length` nullopt means "to the end".
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

struct BlobInfo {
  std::string name;
  uint64_t size = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `data` under `name` if no blob has that name (put-if-absent): kAlreadyExists
  // otherwise. Atomic and durable when it returns OK: readers see the whole blob or nothing.
  // A full device is kResourceExhausted.
  virtual Status Put(std::string_view name, std::string_view data) = 0;
  // Reads `range` of a blob. kNotFound if absent; kOutOfRange if the range exceeds the blob
  // (never a short read, so truncation is always visible).
  virtual StatusOr<std::string> Get(std::string_view name, ByteRange range) = 0;
  StatusOr<std::string> Get(std::string_view name) { return Get(name, ByteRange{}); }
  // Reads `length` bytes at `offset` of a blob into `space`, which must start on a kReadAlign
  // boundary and hold at least ReadSpace(length) bytes, and returns where in `space` they start
  // (a store may read whole blocks around the range, e.g. with O_DIRECT). Same errors as Get.
  // Restore reads gigabytes this way without allocating, zeroing and copying a string per read.
  // The default copies what Get returns.
  virtual StatusOr<const char*> GetInto(std::string_view name, uint64_t offset, uint64_t length,
                                        char* space);
  // All blobs whose name starts with `prefix`, sorted by name.
  virtual StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) = 0;
  // Removes a blob; kNotFound if absent.
  virtual Status Delete(std::string_view name) = 0;
  virtual StatusOr<BlobInfo> Stat(std::string_view name) = 0;
  // Where the store lives, for messages ("local:/srv/vault").
  virtual std::string Describe() const = 0;
};

// Alignment and size of the space GetInto reads into.
constexpr size_t kReadAlign = 4096;
constexpr size_t ReadSpace(uint64_t length) {
  return static_cast<size_t>((length + kReadAlign - 1) / kReadAlign * kReadAlign + 2 * kReadAlign);
}

// Names are 1..512 bytes of [A-Za-z0-9._-] components separated by single '/', with no
// component starting with '.'; kInvalidArgument naming the blob otherwise.
Status ValidateBlobName(std::string_view name);

// Checks `range` against a blob of `size` bytes and returns [begin, end).
StatusOr<std::pair<uint64_t, uint64_t>> ResolveRange(std::string_view name, uint64_t size,
                                                     const ByteRange& range);

}  // namespace lifeboat::storage
