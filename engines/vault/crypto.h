#pragma once

// Cryptographic primitives of the vault format (FORMAT.md §2), on OpenSSL 3 EVP.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace lifeboat::vault {

using Digest = std::array<uint8_t, 32>;

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = kNonceSize + kTagSize;

// The secret of a vault: an AES-256 key for every encrypted byte and a MAC key for chunk IDs
// and the chunker's gear table. Random at `init`, wrapped by key files.
struct MasterKey {
  std::array<uint8_t, kKeySize> encryption{};
  std::array<uint8_t, kKeySize> mac{};
};

std::string ToHex(const uint8_t* data, size_t size);
inline std::string ToHex(const Digest& d) { return ToHex(d.data(), d.size()); }
// Parses 64 hex digits; false otherwise.
bool ParseDigest(std::string_view hex, Digest* out);
StatusOr<std::string> FromHex(std::string_view hex);

void RandomBytes(uint8_t* out, size_t size);
Digest Sha256(std::string_view data);

// HMAC-SHA-256 with a fixed key; the key schedule is computed once. Thread-safe (const).
class Hmac {
 public:
  explicit Hmac(const std::array<uint8_t, kKeySize>& key);
  ~Hmac();
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  Digest Sum(std::string_view data) const;
  // {Sum(a), Sum(b)}, computed together (SumMany of the two): on a CPU with SHA-NI the two
  // SHA-256 streams are interleaved (common/sha256_ni.h), ~60 % of the time of two Sum calls.
  std::pair<Digest, Digest> Sum2(std::string_view a, std::string_view b) const;
  // out[i] = Sum(data[i]) for n messages of any lengths, two SHA-256 streams at a time: when a
  // message (or its padding, or its outer block) ends in one stream, the next one starts there,
  // so only the tail of the last message runs alone. Backup hashes small files this way.
  void SumMany(const std::string_view* data, size_t n, Digest* out) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Incremental SHA-256 (pack names are computed while the pack is built, with its bytes still
// in cache, instead of in a second pass).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(const void* data, size_t size);
  // Returns the digest of everything since construction or the last Final, and starts over.
  Digest Final();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// AES-256-GCM: output = nonce(12) || ciphertext || tag(16). `aad` is authenticated, not stored.
// SealTo writes the same `plaintext.size() + kSealOverhead` bytes to `out` (no allocation).
void SealTo(const std::array<uint8_t, kKeySize>& key, std::string_view plaintext,
            std::string_view aad, uint8_t* out);
std::string Seal(const std::array<uint8_t, kKeySize>& key, std::string_view plaintext,
                 std::string_view aad);
// kDataLoss when the tag does not verify (wrong key, flipped bit, truncation).
// OpenTo writes the `sealed.size() - kSealOverhead` plaintext bytes to `out`; on failure `out`
// holds unauthenticated bytes that must not be used.
Status OpenTo(const std::array<uint8_t, kKeySize>& key, std::string_view sealed,
              std::string_view aad, uint8_t* out);
StatusOr<std::string> Open(const std::array<uint8_t, kKeySize>& key, std::string_view sealed,
                           std::string_view aad);

struct ScryptParams {
  uint64_t n = 1 << 15;
  uint64_t r = 8;
  uint64_t p = 1;
};
// Derives a 32-byte key from a passphrase (OpenSSL EVP_PBE_scrypt).
StatusOr<std::array<uint8_t, kKeySize>> Scrypt(std::string_view passphrase, std::string_view salt,
                                               const ScryptParams& params);

}  // namespace lifeboat::vault
