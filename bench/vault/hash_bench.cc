// Micro-benchmarks behind the vault's choices (FORMAT.md §4): the keyed chunk-ID hash
// (HMAC-SHA-256 vs keyed BLAKE2b), the chunker, zstd levels, and AES-256-GCM, per core.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <random>
#include <string>

#include "engines/vault/chunker.h"
#include "engines/vault/compress.h"
#include "engines/vault/crypto.h"
#include "engines/vault/fingerprint.h"

namespace lifeboat::vault {
namespace {

constexpr size_t kBuffer = 1 << 20;

std::string Random(size_t n) {
  std::mt19937_64 rng(1);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    __builtin_memcpy(&out[i], &v, 8);
  }
  return out;
}

std::string Text(size_t n) {
  static const char* kWords[] = {"int ", "return ", "lifeboat::", "vault ", "(x);\n", "  if "};
  std::mt19937_64 rng(2);
  std::string out;
  while (out.size() < n) out += kWords[rng() % 6];
  out.resize(n);
  return out;
}

void BM_HmacSha256(benchmark::State& state) {
  std::array<uint8_t, kKeySize> key{};
  Hmac hmac(key);
  std::string data = Random(kBuffer);
  for (auto _ : state) benchmark::DoNotOptimize(hmac.Sum(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_HmacSha256);

// The chunk fingerprint (FORMAT.md §4) by implementation: 0 portable, 1 PCLMULQDQ, 2 VPCLMULQDQ.
void BM_ChunkFingerprint(benchmark::State& state) {
  std::array<uint8_t, kKeySize> key{};
  Fingerprinter fp(key);
  std::string data = Random(kBuffer);
  auto impl = static_cast<Fingerprinter::Impl>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        fp.OfWith(impl, reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_ChunkFingerprint)->Arg(0)->Arg(1)->Arg(2);

void BM_KeyedBlake2b256(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "BLAKE2BMAC", nullptr);
  if (mac == nullptr) {
    state.SkipWithError("BLAKE2BMAC not available");
    return;
  }
  EVP_MAC_CTX* base = EVP_MAC_CTX_new(mac);
  uint8_t key[32] = {};
  size_t out_len = 32;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &out_len),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_init(base, key, sizeof(key), params);
  std::string data = Random(kBuffer);
  uint8_t out[64];
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(base);
    EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    size_t n = 0;
    EVP_MAC_final(ctx, out, &n, sizeof(out));
    EVP_MAC_CTX_free(ctx);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(base);
  EVP_MAC_free(mac);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_KeyedBlake2b256);

void BM_Chunker(benchmark::State& state) {
  std::array<uint8_t, kKeySize> key{};
  Chunker chunker(ChunkerParams{static_cast<uint32_t>(state.range(0)) / 2,
                                static_cast<uint32_t>(state.range(0)),
                                static_cast<uint32_t>(state.range(0)) * 8},
                  key);
  std::string data = Random(16 << 20);
  for (auto _ : state) {
    size_t pos = 0;
    while (pos < data.size()) {
      pos += chunker.Cut(reinterpret_cast<const uint8_t*>(data.data() + pos), data.size() - pos,
                         true);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Chunker)->Arg(256 << 10)->Arg(1 << 20);

void BM_ZstdText(benchmark::State& state) {
  std::string data = Text(kBuffer);
  for (auto _ : state) {
    benchmark::DoNotOptimize(MaybeCompress(data, static_cast<int>(state.range(0))));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_ZstdText)->Arg(1)->Arg(3);

void BM_ZstdSkipsRandom(benchmark::State& state) {
  std::string data = Random(kBuffer);
  for (auto _ : state) benchmark::DoNotOptimize(MaybeCompress(data, 3));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_ZstdSkipsRandom);

void BM_Aes256GcmSeal(benchmark::State& state) {
  std::array<uint8_t, kKeySize> key{};
  std::string data = Random(kBuffer);
  for (auto _ : state) benchmark::DoNotOptimize(Seal(key, data, "id"));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBuffer));
}
BENCHMARK(BM_Aes256GcmSeal);

}  // namespace
}  // namespace lifeboat::vault

BENCHMARK_MAIN();
