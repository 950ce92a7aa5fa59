#pragma once

// Content-defined chunking: FastCDC (gear hash, normalized chunking) with a keyed gear table, so
// chunk boundaries reveal nothing about content to someone without the vault key.
#include <array>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "engines/vault/crypto.h"

namespace lifeboat::vault {

struct ChunkerParams {
  uint32_t min_size = 512 << 10;
  uint32_t avg_size = 1 << 20;
  uint32_t max_size = 8 << 20;
};

// min >= 4 KiB, min < avg < max <= 64 MiB, avg a power of two.
Status ValidateChunkerParams(const ChunkerParams& p);

class Chunker {
 public:
  Chunker(const ChunkerParams& params, const std::array<uint8_t, kKeySize>& mac_key);

  // Length of the next chunk of `data[0..size)`. With `at_end` false, `size` must be at least
  // max_size; with `at_end` true the rest of the stream is `size` bytes.
  size_t Cut(const uint8_t* data, size_t size, bool at_end) const;
  const ChunkerParams& params() const { return params_; }

  // For the bytes of a chunk Cut returned earlier (so no cut point lies before `size`): whether
  // Cut, started at the same place, returns `size` again whenever at least `size` bytes are
  // there — the chunk was cut at max_size or at a cut point, not where its piece ended. Looks at
  // the last 64 bytes only (the gear hash forgets older ones).
  bool EndsAtCutPoint(const uint8_t* chunk, size_t size) const;

  // Large files are read and chunked in parallel pieces; a piece starts at a content-defined
  // split point found near a nominal offset, so an insertion before it does not move it. Returns
  // the length of the prefix of `data` (read from the nominal offset) before the split point:
  // just after the first position at least kSplitWindow bytes in whose gear hash has
  // kSplitBits high zero bits, or 0 (split at the nominal offset) when `size` bytes hold none.
  size_t FindSplit(const uint8_t* data, size_t size) const;
  static constexpr size_t kSplitWindow = 64;  // the gear hash depends on the last 64 bytes only
  static constexpr int kSplitBits = 16;       // one split point per ~64 KiB
  static constexpr size_t kSplitSearch = 512 << 10;

 private:
  ChunkerParams params_;
  uint64_t mask_small_ = 0;  // before avg: more bits, harder to match
  uint64_t mask_large_ = 0;  // after avg: fewer bits, easier
  std::array<uint64_t, 256> gear_{};
};

}  // namespace lifeboat::vault
