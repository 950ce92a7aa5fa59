#include "common/sha256_ni.h"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace lifeboat::sha256ni {

#if defined(__x86_64__)

namespace {

alignas(16) constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define LB_SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

// The SHA-NI round instructions keep the state as ABEF and CDGH.
LB_SHA_TARGET inline void Load(const uint32_t s[8], __m128i& abef, __m128i& cdgh) {
  __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)), 0xB1);
  __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 4)), 0x1B);
  abef = _mm_alignr_epi8(abcd, efgh, 8);
  cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
}

LB_SHA_TARGET inline void Store(__m128i abef, __m128i cdgh, uint32_t s[8]) {
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s + 4), _mm_alignr_epi8(dchg, feba, 8));
}

LB_SHA_TARGET inline __m128i Word(const uint8_t* p) {
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), swap);
}

// Four rounds with message words `w` (rounds 4i..4i+3).
#define LB_ROUNDS(abef, cdgh, w, i)                                                           \
  do {                                                                                        \
    __m128i k_ =                                                                              \
        _mm_add_epi32(w, _mm_load_si128(reinterpret_cast<const __m128i*>(&kRound[4 * (i)]))); \
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k_);                                             \
    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k_, 0x0E));                    \
  } while (0)
// The next four message words into m0, from the last sixteen m0..m3.
#define LB_SCHEDULE(m0, m1, m2, m3) \
  m0 = _mm_sha256msg2_epu32(        \
      _mm_add_epi32(_mm_sha256msg1_epu32(m0, m1), _mm_alignr_epi8(m3, m2, 4)), m3)

bool Detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const bool ssse3 = (c & (1u << 9)) != 0;
  const bool sse41 = (c & (1u << 19)) != 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  const bool sha = (b & (1u << 29)) != 0;
  return ssse3 && sse41 && sha;
}
}  // namespace

// Asked once: in a virtual machine every CPUID traps to the hypervisor (microseconds).
bool Available() {
  static const bool available = Detect();
  return available;
}

LB_SHA_TARGET void Compress(uint32_t state[8], const uint8_t* p, size_t n) {
  __m128i abef, cdgh;
  Load(state, abef, cdgh);
  for (size_t blk = 0; blk < n; ++blk, p += 64) {
    const __m128i abef0 = abef, cdgh0 = cdgh;
    __m128i m0 = Word(p), m1 = Word(p + 16), m2 = Word(p + 32), m3 = Word(p + 48);
    LB_ROUNDS(abef, cdgh, m0, 0);
    LB_ROUNDS(abef, cdgh, m1, 1);
    LB_ROUNDS(abef, cdgh, m2, 2);
    LB_ROUNDS(abef, cdgh, m3, 3);
    for (int i = 4; i < 16; i += 4) {
      LB_SCHEDULE(m0, m1, m2, m3);
      LB_ROUNDS(abef, cdgh, m0, i);
      LB_SCHEDULE(m1, m2, m3, m0);
      LB_ROUNDS(abef, cdgh, m1, i + 1);
      LB_SCHEDULE(m2, m3, m0, m1);
      LB_ROUNDS(abef, cdgh, m2, i + 2);
      LB_SCHEDULE(m3, m0, m1, m2);
      LB_ROUNDS(abef, cdgh, m3, i + 3);
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
  }
  Store(abef, cdgh, state);
}

LB_SHA_TARGET void Compress2(uint32_t state_a[8], const uint8_t* p, uint32_t state_b[8],
                             const uint8_t* q, size_t n) {
  __m128i a_abef, a_cdgh, b_abef, b_cdgh;
  Load(state_a, a_abef, a_cdgh);
  Load(state_b, b_abef, b_cdgh);
  for (size_t blk = 0; blk < n; ++blk, p += 64, q += 64) {
    const __m128i a_abef0 = a_abef, a_cdgh0 = a_cdgh, b_abef0 = b_abef, b_cdgh0 = b_cdgh;
    __m128i a0 = Word(p), a1 = Word(p + 16), a2 = Word(p + 32), a3 = Word(p + 48);
    __m128i b0 = Word(q), b1 = Word(q + 16), b2 = Word(q + 32), b3 = Word(q + 48);
    LB_ROUNDS(a_abef, a_cdgh, a0, 0);
    LB_ROUNDS(b_abef, b_cdgh, b0, 0);
    LB_ROUNDS(a_abef, a_cdgh, a1, 1);
    LB_ROUNDS(b_abef, b_cdgh, b1, 1);
    LB_ROUNDS(a_abef, a_cdgh, a2, 2);
    LB_ROUNDS(b_abef, b_cdgh, b2, 2);
    LB_ROUNDS(a_abef, a_cdgh, a3, 3);
    LB_ROUNDS(b_abef, b_cdgh, b3, 3);
    for (int i = 4; i < 16; i += 4) {
      LB_SCHEDULE(a0, a1, a2, a3);
      LB_SCHEDULE(b0, b1, b2, b3);
      LB_ROUNDS(a_abef, a_cdgh, a0, i);
      LB_ROUNDS(b_abef, b_cdgh, b0, i);
      LB_SCHEDULE(a1, a2, a3, a0);
      LB_SCHEDULE(b1, b2, b3, b0);
      LB_ROUNDS(a_abef, a_cdgh, a1, i + 1);
      LB_ROUNDS(b_abef, b_cdgh, b1, i + 1);
      LB_SCHEDULE(a2, a3, a0, a1);
      LB_SCHEDULE(b2, b3, b0, b1);
      LB_ROUNDS(a_abef, a_cdgh, a2, i + 2);
      LB_ROUNDS(b_abef, b_cdgh, b2, i + 2);
      LB_SCHEDULE(a3, a0, a1, a2);
      LB_SCHEDULE(b3, b0, b1, b2);
      LB_ROUNDS(a_abef, a_cdgh, a3, i + 3);
      LB_ROUNDS(b_abef, b_cdgh, b3, i + 3);
    }
    a_abef = _mm_add_epi32(a_abef, a_abef0);
    a_cdgh = _mm_add_epi32(a_cdgh, a_cdgh0);
    b_abef = _mm_add_epi32(b_abef, b_abef0);
    b_cdgh = _mm_add_epi32(b_cdgh, b_cdgh0);
  }
  Store(a_abef, a_cdgh, state_a);
  Store(b_abef, b_cdgh, state_b);
}

#undef LB_ROUNDS
#undef LB_SCHEDULE
#undef LB_SHA_TARGET

#else  // not x86-64: no SHA-NI; Available() is false and the others are never called

bool Available() { return false; }
void Compress(uint32_t*, const uint8_t*, size_t) {}
void Compress2(uint32_t*, const uint8_t*, uint32_t*, const uint8_t*, size_t) {}

#endif

const uint32_t kInitialState[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

size_t PaddingBlocks(const uint8_t* tail, size_t tail_len, uint64_t total, uint8_t out[128]) {
  const size_t blocks = tail_len + 9 <= 64 ? 1 : 2;
  std::memset(out, 0, 128);
  std::memcpy(out, tail, tail_len);
  out[tail_len] = 0x80;
  uint64_t bits = total * 8;
  for (int i = 7; i >= 0; --i, bits >>= 8) {
    out[blocks * 64 - 8 + i] = static_cast<uint8_t>(bits);
  }
  return blocks;
}

void DigestOf(const uint32_t state[8], uint8_t out[32]) {
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) {
      out[4 * i + j] = static_cast<uint8_t>(state[i] >> (24 - 8 * j));
    }
  }
}

void Pair(const uint8_t* a, const uint8_t* b, size_t size, uint8_t digest_a[32],
          uint8_t digest_b[32]) {
  uint32_t sa[8];
  uint32_t sb[8];
  std::memcpy(sa, kInitialState, sizeof(sa));
  std::memcpy(sb, kInitialState, sizeof(sb));
  const size_t whole = size / 64;
  Compress2(sa, a, sb, b, whole);
  alignas(16) uint8_t pad_a[128];
  alignas(16) uint8_t pad_b[128];
  const size_t tail = size % 64;
  const size_t n = PaddingBlocks(a + whole * 64, tail, size, pad_a);
  PaddingBlocks(b + whole * 64, tail, size, pad_b);
  Compress2(sa, pad_a, sb, pad_b, n);
  DigestOf(sa, digest_a);
  DigestOf(sb, digest_b);
}

}  // namespace lifeboat::sha256ni
