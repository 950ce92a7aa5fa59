#pragma once

// Chunk fingerprints (FORMAT.md §4, version 3): a keyed polynomial hash over GF(2^128), much
// cheaper than the chunk ID's HMAC-SHA-256. A backup stores one per chunk of a file next to the
// file's extents; when the file has changed, the next backup compares the fingerprint of the
// bytes at a parent chunk's place with the stored one and, when they are equal, reuses the
// parent's chunk (its ID and its cut) without running the chunker or the HMAC over it.
//
// fp(m) for a message of n bytes, cut into 16-byte blocks m_1..m_k (the last one zero-padded),
// each read as a little-endian 128-bit polynomial over GF(2) (bit i = coefficient of x^i):
//   a_0 = 0,  a_i = (a_{i-1} + m_i) * H  for i = 1..k,  fp = (a_k + n) * H
// in GF(2)[x] / (x^128 + x^7 + x^2 + x + 1), written as 16 little-endian bytes. H is secret
// (from the vault's MAC key), so for two different messages of equal length the fingerprints
// collide with probability at most (k + 1) / 2^128 for data chosen without knowing H.
#include <array>
#include <cstddef>
#include <cstdint>

#include "engines/vault/crypto.h"

namespace lifeboat::vault {

using ChunkFingerprint = std::array<uint8_t, 16>;

class Fingerprinter {
 public:
  explicit Fingerprinter(const std::array<uint8_t, kKeySize>& mac_key);

  // The fingerprint, computed with the fastest implementation this CPU has (all give the same
  // value: AVX-512 VPCLMULQDQ, PCLMULQDQ, or portable C++).
  ChunkFingerprint Of(const uint8_t* data, size_t size) const;
  // Whether this CPU has a carry-less multiply (PCLMULQDQ): without it fingerprints cost more
  // than they save, and backup neither computes nor uses them.
  bool fast() const { return level_ > 0; }

  // The same value by each implementation (tests compare them); an implementation this CPU
  // lacks falls back to the next slower one.
  enum class Impl { kPortable, kPclmul, kVpclmul };
  ChunkFingerprint OfWith(Impl impl, const uint8_t* data, size_t size) const;

  struct U128 {
    uint64_t lo = 0;
    uint64_t hi = 0;
  };

 private:
  static constexpr int kPowers = 16;
  // powers_[i] = H^(i+1).
  std::array<U128, kPowers> powers_{};
  int level_ = 0;  // 0 portable, 1 PCLMULQDQ, 2 VPCLMULQDQ (AVX-512)
};

}  // namespace lifeboat::vault
