// scrypt (RFC 7914) with the Salsa20/8 core in SSE2: the same function as OpenSSL's
// EVP_PBE_scrypt, whose portable core makes every command that opens a vault with a passphrase
// spend ~0.1 s of one core before anything else can start (N=32768, r=8). PBKDF2-HMAC-SHA-256
// (the cheap outer steps) is OpenSSL's. Tested against EVP_PBE_scrypt and RFC 7914's vectors.
#include "engines/vault/scrypt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define LB_SCRYPT_SSE2 1
#endif

namespace lifeboat::vault {

#if LB_SCRYPT_SSE2
namespace {

// A 64-byte Salsa20 block is kept with its words permuted so that each of the four vectors holds
// one diagonal of the 4x4 state: word i of the permuted block is word (5 * i) mod 16 of the
// block as RFC 7914 lays it out. Column and row rounds then work on whole vectors, with one
// rotation of three vectors between them. XOR and copy do not care about the order, and
// Integerify reads word 0, which does not move.
constexpr int Permuted(int i) { return (5 * i) % 16; }

inline __m128i Rotl(__m128i v, int bits) {
  return _mm_or_si128(_mm_slli_epi32(v, bits), _mm_srli_epi32(v, 32 - bits));
}

// x = Salsa20/8(x ^ in), on permuted blocks; x and in are 4 vectors each.
inline void SalsaXor(__m128i x[4], const __m128i in[4]) {
  __m128i x0 = _mm_xor_si128(x[0], in[0]);
  __m128i x1 = _mm_xor_si128(x[1], in[1]);
  __m128i x2 = _mm_xor_si128(x[2], in[2]);
  __m128i x3 = _mm_xor_si128(x[3], in[3]);
  const __m128i s0 = x0, s1 = x1, s2 = x2, s3 = x3;
  for (int round = 0; round < 8; round += 2) {
    // Columns.
    x1 = _mm_xor_si128(x1, Rotl(_mm_add_epi32(x0, x3), 7));
    x2 = _mm_xor_si128(x2, Rotl(_mm_add_epi32(x1, x0), 9));
    x3 = _mm_xor_si128(x3, Rotl(_mm_add_epi32(x2, x1), 13));
    x0 = _mm_xor_si128(x0, Rotl(_mm_add_epi32(x3, x2), 18));
    x1 = _mm_shuffle_epi32(x1, 0x93);
    x2 = _mm_shuffle_epi32(x2, 0x4e);
    x3 = _mm_shuffle_epi32(x3, 0x39);
    // Rows.
    x3 = _mm_xor_si128(x3, Rotl(_mm_add_epi32(x0, x1), 7));
    x2 = _mm_xor_si128(x2, Rotl(_mm_add_epi32(x3, x0), 9));
    x1 = _mm_xor_si128(x1, Rotl(_mm_add_epi32(x2, x3), 13));
    x0 = _mm_xor_si128(x0, Rotl(_mm_add_epi32(x1, x2), 18));
    x1 = _mm_shuffle_epi32(x1, 0x39);
    x2 = _mm_shuffle_epi32(x2, 0x4e);
    x3 = _mm_shuffle_epi32(x3, 0x93);
  }
  x[0] = _mm_add_epi32(x0, s0);
  x[1] = _mm_add_epi32(x1, s1);
  x[2] = _mm_add_epi32(x2, s2);
  x[3] = _mm_add_epi32(x3, s3);
}

// BlockMix of `in` (2r permuted blocks) into `out`: even results first, then odd.
inline void BlockMix(const __m128i* in, __m128i* out, size_t r) {
  __m128i x[4];
  std::memcpy(x, in + 4 * (2 * r - 1), 64);
  for (size_t i = 0; i < 2 * r; i += 2) {
    SalsaXor(x, in + 4 * i);
    std::memcpy(out + 4 * (i / 2), x, 64);
    SalsaXor(x, in + 4 * (i + 1));
    std::memcpy(out + 4 * (r + i / 2), x, 64);
  }
}

// The same with `in` XORed with `v` first (ROMix's second loop), without a separate pass.
inline void BlockMixXor(const __m128i* in, const __m128i* v, __m128i* out, size_t r) {
  __m128i x[4];
  __m128i t[4];
  for (int k = 0; k < 4; ++k) {
    x[k] = _mm_xor_si128(in[4 * (2 * r - 1) + k], v[4 * (2 * r - 1) + k]);
  }
  for (size_t i = 0; i < 2 * r; ++i) {
    for (int k = 0; k < 4; ++k) t[k] = _mm_xor_si128(in[4 * i + k], v[4 * i + k]);
    SalsaXor(x, t);
    std::memcpy(out + 4 * ((i % 2 == 0) ? i / 2 : r + i / 2), x, 64);
  }
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// ROMix on one 128r-byte slice of B (RFC 7914 §5), in place, with `v` of N * 128r bytes.
void RoMix(uint8_t* b, size_t r, uint64_t n, __m128i* v, __m128i* x, __m128i* y) {
  const size_t words = 32 * r;  // 32-bit words in 128r bytes
  const size_t vecs = 8 * r;    // 128-bit vectors in 128r bytes
  uint32_t* xw = reinterpret_cast<uint32_t*>(x);
  for (size_t k = 0; k < words; ++k) {
    const size_t block = k / 16;
    const size_t word = k % 16;
    uint32_t w;
    std::memcpy(&w, b + 4 * (16 * block + Permuted(static_cast<int>(word))), 4);
    xw[k] = w;  // x86 is little-endian, as RFC 7914's words are
  }
  for (uint64_t i = 0; i < n; i += 2) {
    std::memcpy(v + i * vecs, x, 128 * r);
    BlockMix(x, y, r);
    std::memcpy(v + (i + 1) * vecs, y, 128 * r);
    BlockMix(y, x, r);
  }
  for (uint64_t i = 0; i < n; i += 2) {
    uint64_t j = reinterpret_cast<const uint32_t*>(x + 4 * (2 * r - 1))[0] & (n - 1);
    BlockMixXor(x, v + j * vecs, y, r);
    j = reinterpret_cast<const uint32_t*>(y + 4 * (2 * r - 1))[0] & (n - 1);
    BlockMixXor(y, v + j * vecs, x, r);
  }
  for (size_t k = 0; k < words; ++k) {
    const size_t block = k / 16;
    const size_t word = k % 16;
    std::memcpy(b + 4 * (16 * block + Permuted(static_cast<int>(word))), xw + k, 4);
  }
}

}  // namespace

bool ScryptSse2(std::string_view passphrase, std::string_view salt, uint64_t n, uint64_t r,
                uint64_t p, uint64_t max_memory, uint8_t* out, size_t out_len) {
  // The parameters RFC 7914 allows, within the memory bound; anything else is left to OpenSSL
  // (which reports the error).
  if (n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0 || r > (1u << 20) || p > (1u << 20) ||
      r * p >= (1u << 30) || n > max_memory / (128 * r) || out_len == 0) {
    return false;
  }
  const uint64_t v_bytes = 128 * r * n;
  const uint64_t b_bytes = 128 * r * p;
  if (v_bytes + b_bytes + 256 * r > max_memory) {
    return false;
  }
  std::unique_ptr<uint8_t[]> b(new uint8_t[b_bytes]);
  std::unique_ptr<void, FreeDeleter> v(std::aligned_alloc(64, v_bytes));
  std::unique_ptr<void, FreeDeleter> xy(std::aligned_alloc(64, 256 * r));
  if (v == nullptr || xy == nullptr) {
    return false;
  }
  const auto* pass = passphrase.data();
  const auto* s = reinterpret_cast<const unsigned char*>(salt.data());
  if (PKCS5_PBKDF2_HMAC(pass, static_cast<int>(passphrase.size()), s, static_cast<int>(salt.size()),
                        1, EVP_sha256(), static_cast<int>(b_bytes), b.get()) != 1) {
    return false;
  }
  auto* x = static_cast<__m128i*>(xy.get());
  for (uint64_t i = 0; i < p; ++i) {
    RoMix(b.get() + 128 * r * i, r, n, static_cast<__m128i*>(v.get()), x, x + 8 * r);
  }
  bool ok = PKCS5_PBKDF2_HMAC(pass, static_cast<int>(passphrase.size()), b.get(),
                              static_cast<int>(b_bytes), 1, EVP_sha256(), static_cast<int>(out_len),
                              out) == 1;
  OPENSSL_cleanse(b.get(), b_bytes);
  OPENSSL_cleanse(v.get(), v_bytes);
  OPENSSL_cleanse(xy.get(), 256 * r);
  return ok;
}

#else

bool ScryptSse2(std::string_view, std::string_view, uint64_t, uint64_t, uint64_t, uint64_t,
                uint8_t*, size_t) {
  return false;
}

#endif

}  // namespace lifeboat::vault
