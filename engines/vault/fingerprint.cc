#include "engines/vault/fingerprint.h"

#include <cstring>
#include <string_view>

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm*_undefined_* operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace lifeboat::vault {

namespace {
using U128 = Fingerprinter::U128;

constexpr std::string_view kFingerprintLabel = "lifeboat-v3/chunk-fingerprint";
// x^128 = x^7 + x^2 + x + 1 in the field.
constexpr uint64_t kReduce = 0x87;

uint64_t Load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void Store64(uint64_t v, uint8_t* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

ChunkFingerprint ToBytes(U128 v) {
  ChunkFingerprint out{};
  Store64(v.lo, out.data());
  Store64(v.hi, out.data() + 8);
  return out;
}

// Carry-less 64 x 64 -> 128 bit product, one bit at a time.
U128 Clmul64(uint64_t a, uint64_t b) {
  U128 r;
  for (int i = 0; i < 64; ++i) {
    if ((a >> i) & 1) {
      r.lo ^= b << i;
      if (i != 0) r.hi ^= b >> (64 - i);
    }
  }
  return r;
}

U128 MulPortable(U128 a, U128 b) {
  U128 lo = Clmul64(a.lo, b.lo);
  U128 hi = Clmul64(a.hi, b.hi);
  U128 m1 = Clmul64(a.lo, b.hi);
  U128 m2 = Clmul64(a.hi, b.lo);
  uint64_t p0 = lo.lo;
  uint64_t p1 = lo.hi ^ m1.lo ^ m2.lo;
  uint64_t p2 = hi.lo ^ m1.hi ^ m2.hi;
  uint64_t p3 = hi.hi;
  // x^128 * (p2 + p3 x^64) = (p2 + p3 x^64) * 0x87; p3 * 0x87 reaches past x^128 by < 7 bits,
  // folded once more.
  U128 r0 = Clmul64(p2, kReduce);
  U128 r1 = Clmul64(p3, kReduce);
  U128 r2 = Clmul64(r1.hi, kReduce);
  return {p0 ^ r0.lo ^ r2.lo, p1 ^ r0.hi ^ r1.lo};
}

ChunkFingerprint OfPortable(U128 h, const uint8_t* data, size_t size) {
  U128 acc;
  size_t i = 0;
  for (; i + 16 <= size; i += 16) {
    acc.lo ^= Load64(data + i);
    acc.hi ^= Load64(data + i + 8);
    acc = MulPortable(acc, h);
  }
  if (i < size) {
    uint8_t last[16] = {};
    std::memcpy(last, data + i, size - i);
    acc.lo ^= Load64(last);
    acc.hi ^= Load64(last + 8);
    acc = MulPortable(acc, h);
  }
  acc.lo ^= static_cast<uint64_t>(size);
  return ToBytes(MulPortable(acc, h));
}

#if defined(__x86_64__)
#define LB_PCLMUL __attribute__((target("pclmul,sse4.1")))
#define LB_VPCLMUL __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1")))

// (lo, mid, hi): the unreduced product lo + mid x^64 + hi x^128 (each 128 bits).
LB_PCLMUL inline __m128i Reduce(__m128i lo, __m128i mid, __m128i hi) {
  lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
  hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
  const __m128i poly = _mm_set_epi64x(0, static_cast<long long>(kReduce));
  __m128i r0 = _mm_clmulepi64_si128(hi, poly, 0x00);  // p2 * 0x87
  __m128i r1 = _mm_clmulepi64_si128(hi, poly, 0x01);  // p3 * 0x87, at x^64
  __m128i r2 = _mm_clmulepi64_si128(r1, poly, 0x01);  // its part past x^128, folded again
  return _mm_xor_si128(_mm_xor_si128(lo, r0), _mm_xor_si128(_mm_slli_si128(r1, 8), r2));
}

LB_PCLMUL inline void MulAcc(__m128i a, __m128i b, __m128i& lo, __m128i& mid, __m128i& hi) {
  lo = _mm_xor_si128(lo, _mm_clmulepi64_si128(a, b, 0x00));
  hi = _mm_xor_si128(hi, _mm_clmulepi64_si128(a, b, 0x11));
  mid = _mm_xor_si128(
      mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10)));
}

LB_PCLMUL inline __m128i Mul(__m128i a, __m128i b) {
  __m128i lo = _mm_setzero_si128();
  __m128i mid = _mm_setzero_si128();
  __m128i hi = _mm_setzero_si128();
  MulAcc(a, b, lo, mid, hi);
  return Reduce(lo, mid, hi);
}

LB_PCLMUL inline __m128i LoadU128(const U128& v) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(&v));
}

// From block `i` on (acc so far): groups of 8 blocks with one reduction each, then the rest.
LB_PCLMUL ChunkFingerprint FinishPclmul(const U128* powers, const uint8_t* data, size_t size,
                                        size_t i, __m128i acc) {
  for (; i + 8 * 16 <= size; i += 8 * 16) {
    __m128i lo = _mm_setzero_si128();
    __m128i mid = _mm_setzero_si128();
    __m128i hi = _mm_setzero_si128();
    for (int k = 0; k < 8; ++k) {
      __m128i m = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 16 * k));
      if (k == 0) m = _mm_xor_si128(m, acc);
      MulAcc(m, LoadU128(powers[7 - k]), lo, mid, hi);
    }
    acc = Reduce(lo, mid, hi);
  }
  const __m128i h = LoadU128(powers[0]);
  for (; i + 16 <= size; i += 16) {
    acc = Mul(_mm_xor_si128(acc, _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i))), h);
  }
  if (i < size) {
    alignas(16) uint8_t last[16] = {};
    std::memcpy(last, data + i, size - i);
    acc = Mul(_mm_xor_si128(acc, _mm_load_si128(reinterpret_cast<const __m128i*>(last))), h);
  }
  acc = Mul(_mm_xor_si128(acc, _mm_set_epi64x(0, static_cast<long long>(size))), h);
  ChunkFingerprint out{};
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data()), acc);
  return out;
}

LB_PCLMUL ChunkFingerprint OfPclmul(const U128* powers, const uint8_t* data, size_t size) {
  return FinishPclmul(powers, data, size, 0, _mm_setzero_si128());
}

LB_VPCLMUL inline __m128i FoldLanes(__m512i v) {
  v = _mm512_xor_si512(v, _mm512_shuffle_i64x2(v, v, 0x4E));  // lanes 2 3 0 1
  v = _mm512_xor_si512(v, _mm512_shuffle_i64x2(v, v, 0xB1));  // lanes 1 0 3 2
  return _mm512_castsi512_si128(v);
}

// Groups of 16 blocks (4 per register, 4 registers) against H^16..H^1, one reduction each.
LB_VPCLMUL ChunkFingerprint OfVpclmul(const U128* powers, const uint8_t* data, size_t size) {
  __m512i pw[4];
  for (int r = 0; r < 4; ++r) {
    // Register r holds blocks 4r..4r+3 of the group, which take H^(16-4r-j) for lane j.
    U128 lanes[4] = {powers[15 - 4 * r], powers[14 - 4 * r], powers[13 - 4 * r],
                     powers[12 - 4 * r]};
    pw[r] = _mm512_loadu_si512(lanes);
  }
  __m128i acc = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 256 <= size; i += 256) {
    const uint8_t* g = data + i;
    __m512i m = _mm512_xor_si512(_mm512_loadu_si512(g), _mm512_zextsi128_si512(acc));
    __m512i lo = _mm512_clmulepi64_epi128(m, pw[0], 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(m, pw[0], 0x11);
    __m512i mid = _mm512_xor_si512(_mm512_clmulepi64_epi128(m, pw[0], 0x01),
                                   _mm512_clmulepi64_epi128(m, pw[0], 0x10));
    for (int r = 1; r < 4; ++r) {
      m = _mm512_loadu_si512(g + 64 * r);
      lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(m, pw[r], 0x00));
      hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(m, pw[r], 0x11));
      mid = _mm512_xor_si512(mid, _mm512_xor_si512(_mm512_clmulepi64_epi128(m, pw[r], 0x01),
                                                   _mm512_clmulepi64_epi128(m, pw[r], 0x10)));
    }
    acc = Reduce(FoldLanes(lo), FoldLanes(mid), FoldLanes(hi));
  }
  return FinishPclmul(powers, data, size, i, acc);
}

bool HavePclmul() {
  static const bool have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return have;
}
bool HaveVpclmul() {
  static const bool have =
      HavePclmul() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
  return have;
}
#else
bool HavePclmul() { return false; }
bool HaveVpclmul() { return false; }
#endif
}  // namespace

Fingerprinter::Fingerprinter(const std::array<uint8_t, kKeySize>& mac_key) {
  Digest d = Hmac(mac_key).Sum(kFingerprintLabel);
  U128 h{Load64(d.data()), Load64(d.data() + 8)};
  if (h.lo == 0 && h.hi == 0) h.lo = 1;  // (probability 2^-128) a zero point hashes nothing
  powers_[0] = h;
  for (int i = 1; i < kPowers; ++i) powers_[i] = MulPortable(powers_[i - 1], h);
  level_ = HaveVpclmul() ? 2 : HavePclmul() ? 1 : 0;
}

ChunkFingerprint Fingerprinter::Of(const uint8_t* data, size_t size) const {
  return OfWith(level_ == 2   ? Impl::kVpclmul
                : level_ == 1 ? Impl::kPclmul
                              : Impl::kPortable,
                data, size);
}

ChunkFingerprint Fingerprinter::OfWith(Impl impl, const uint8_t* data, size_t size) const {
#if defined(__x86_64__)
  if (impl == Impl::kVpclmul && level_ >= 2) return OfVpclmul(powers_.data(), data, size);
  if (impl != Impl::kPortable && level_ >= 1) return OfPclmul(powers_.data(), data, size);
#else
  (void)impl;
#endif
  return OfPortable(powers_[0], data, size);
}

}  // namespace lifeboat::vault
