#include "engines/vault/chunker.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace lifeboat::vault {

namespace {
constexpr uint32_t kMinChunkFloor = 4 << 10;
constexpr uint32_t kMaxChunkCeiling = 64 << 20;
// FastCDC normalization level 2: avg bits +/- 2.
constexpr int kNormalization = 2;

// A mask of `bits` ones in the high part of the hash: with h = (h << 1) + gear[b], high bits
// depend on the last 64 bytes, low bits only on the last few.
uint64_t HighMask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }
}  // namespace

Status ValidateChunkerParams(const ChunkerParams& p) {
  if (p.min_size < kMinChunkFloor) {
    return InvalidArgumentError("chunker.min must be at least 4096, got " +
                                std::to_string(p.min_size));
  }
  if (!(p.min_size < p.avg_size && p.avg_size < p.max_size)) {
    return InvalidArgumentError("chunker sizes must satisfy min < avg < max");
  }
  if (p.max_size > kMaxChunkCeiling) {
    return InvalidArgumentError("chunker.max must be at most 64 MiB");
  }
  if (!std::has_single_bit(p.avg_size)) {
    return InvalidArgumentError("chunker.avg must be a power of two, got " +
                                std::to_string(p.avg_size));
  }
  return OkStatus();
}

Chunker::Chunker(const ChunkerParams& params, const std::array<uint8_t, kKeySize>& mac_key)
    : params_(params) {
  int bits = std::countr_zero(params.avg_size);
  mask_small_ = HighMask(bits + kNormalization);
  mask_large_ = HighMask(bits - kNormalization);
  Hmac hmac(mac_key);
  for (size_t i = 0; i < gear_.size(); i += 4) {
    std::string label = "lifeboat-gear-" + std::to_string(i);
    Digest d = hmac.Sum(label);
    std::memcpy(&gear_[i], d.data(), 32);
  }
}

size_t Chunker::Cut(const uint8_t* data, size_t size, bool at_end) const {
  if (size <= params_.min_size) {
    return size;
  }
  size_t normal = std::min<size_t>(params_.avg_size, size);
  size_t end = std::min<size_t>(params_.max_size, size);
  uint64_t h = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    h = (h << 1) + gear_[data[i]];
    if ((h & mask_small_) == 0) {
      return i + 1;
    }
  }
  for (; i < end; ++i) {
    h = (h << 1) + gear_[data[i]];
    if ((h & mask_large_) == 0) {
      return i + 1;
    }
  }
  (void)at_end;
  return end;
}

bool Chunker::EndsAtCutPoint(const uint8_t* chunk, size_t size) const {
  if (size == params_.max_size) {
    return true;
  }
  if (size <= params_.min_size || size > params_.max_size) {
    return false;
  }
  // Cut's hash at position size-1: started at 0 at min_size, only the last 64 bytes count.
  size_t from = std::max<size_t>(params_.min_size, size - 64);
  uint64_t h = 0;
  for (size_t i = from; i < size; ++i) {
    h = (h << 1) + gear_[chunk[i]];
  }
  uint64_t mask = size - 1 < params_.avg_size ? mask_small_ : mask_large_;
  return (h & mask) == 0;
}

size_t Chunker::FindSplit(const uint8_t* data, size_t size) const {
  const uint64_t mask = HighMask(kSplitBits);
  uint64_t h = 0;
  for (size_t i = 0; i < size; ++i) {
    h = (h << 1) + gear_[data[i]];
    if (i >= kSplitWindow && (h & mask) == 0) {
      return i + 1;
    }
  }
  return 0;
}

}  // namespace lifeboat::vault
