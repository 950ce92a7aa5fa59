#include "engines/snapshot/blocks.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm*_undefined_* operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "common/sha256_ni.h"
#include "engines/snapshot/file_util.h"

namespace lifeboat::snapshot {
namespace {

constexpr char kIndexMagic[8] = {'L', 'B', 'B', 'I', 'D', 'X', '1', '\n'};
constexpr size_t kIndexHeader = sizeof(kIndexMagic) + 2 * sizeof(uint32_t);
constexpr size_t kIndexRecord = sizeof(BlockHash) + sizeof(uint32_t);
// Blocks of file address space per step of a scan: the unit a hashing thread takes and hands to
// the consumer. Big chunks mean few hand-overs between threads (each a wake-up that, on a busy
// machine, can wait a scheduler slice); within a chunk the thread reads kReadStep bytes at a
// time and hashes them while they are in its core's cache.
constexpr uint64_t kScanChunk = 4ull << 20;
constexpr uint64_t kReadStep = 1ull << 20;
// Start writeback of a pack every this many bytes so Seal's fsync has little left to do.
constexpr uint64_t kWritebackStep = 32ull << 20;
constexpr size_t kZeroPage = 64 * 1024;
// Consecutive new blocks are written with one pwritev of up to this many bytes, up to
// Writer::kWritesInFlight of them at a time.
constexpr uint64_t kWriteRun = 4ull << 20;
constexpr size_t kWritesInFlight = BlockStore::Writer::kWritesInFlight;
// A pack's allocation grows geometrically from this size (capped at kPreallocMax per step), so
// a pack of n bytes costs O(log n) fallocate calls; Seal trims the file to its written end.
constexpr uint64_t kPreallocMin = 32ull << 20;
constexpr uint64_t kPreallocMax = 256ull << 20;
// Alignment of O_DIRECT buffers, offsets and sizes.
constexpr uint64_t kDirectAlign = 4096;

struct FreeBytes {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeBytes>;

// Uninitialised memory aligned for direct writes (null when there is none). Not backed by
// transparent huge pages on purpose: on this VM a fresh huge page often comes from memory the
// host has reclaimed (free page reporting) or needs compaction, and clearing it cost up to 8 %
// of a first snapshot's CPU time (perf), more than the 4 KiB pages' faults and pinning.
AlignedBytes AllocateScanBuffer(uint64_t size) {
  void* p = nullptr;
  if (::posix_memalign(&p, kDirectAlign, std::max<uint64_t>(size, 1)) != 0) {
    return nullptr;
  }
  return AlignedBytes(static_cast<uint8_t*>(p));
}

const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

std::string PackName(uint32_t pack, const char* ext) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08u%s", pack, ext);
  return buf;
}

// Parses "<8 digits>.data" / "<8 digits>.idx"; 0 when the name is something else.
uint32_t ParsePackName(const std::string& name, const std::string& ext) {
  if (name.size() != 8 + ext.size() || name.compare(8, ext.size(), ext) != 0) {
    return 0;
  }
  uint32_t n = 0;
  for (size_t i = 0; i < 8; ++i) {
    if (name[i] < '0' || name[i] > '9') {
      return 0;
    }
    n = n * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  return n;
}

}  // namespace

BlockHash HashBlock(std::span<const uint8_t> data) {
  BlockHash h{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), h.data(), &len, Sha256Md(), nullptr);
  return h;
}

bool HaveSha256Pair() {
  static const bool have = sha256ni::Available();
  return have;
}

void HashBlockPair(std::span<const uint8_t> a, std::span<const uint8_t> b, BlockHash& hash_a,
                   BlockHash& hash_b) {
  if (a.size() == b.size() && HaveSha256Pair()) {
    sha256ni::Pair(a.data(), b.data(), a.size(), hash_a.data(), hash_b.data());
    return;
  }
  hash_a = HashBlock(a);
  hash_b = HashBlock(b);
}

FingerprintKey NewFingerprintKey() {
  FingerprintKey key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    // OpenSSL's CSPRNG failing is a broken invariant of this process, not an input error.
    std::abort();
  }
  return key;
}

// ---- fingerprints ----
//
// Function 1 (kFingerprintGmac): AES-128-GMAC through OpenSSL. One AES-128-GCM context keyed
// once; each block resets the IV (keeping the key schedule) and passes the block as additional
// data only, so the tag is GHASH_H(block) ^ AES_K(J0) with H = AES_K(0^128).
//
// Function 2 (kFingerprintPoly): the same kind of hash, a polynomial evaluated at the same
// secret point H = AES_K(0^128) of GF(2^128), in the field's natural bit order (bit i of the
// little-endian 128-bit word is the coefficient of x^i, modulus x^128 + x^7 + x^2 + x + 1):
// tag = sum of m_i * H^(n + 2 - i) over the 16-byte words m_1..m_n of the block (the last one
// zero-padded) plus (8 * length) * H. Two different blocks collide for at most (n + 1) of the
// 2^128 points H (n = 1024 for 16 KiB). Evaluated 16 words at a time with VPCLMULQDQ on
// AVX-512 (several times the speed of OpenSSL 3.0's GHASH, which uses 128-bit PCLMULQDQ); used
// only where the CPU has it, so a table written with one function is read back only by a
// process that computes the same one (each table records its function).
struct Fingerprinter::Ctx {
  EVP_CIPHER_CTX* evp = nullptr;
  int function = 0;
  std::array<uint64_t, 2> powers[32]{};  // H^1 .. H^32 (function 2)
  ~Ctx() { EVP_CIPHER_CTX_free(evp); }
};

namespace {
constexpr unsigned char kFingerprintIv[12] = {'l', 'i', 'f', 'e', 'b', 'o',
                                              'a', 't', '-', 'f', 'p', '1'};
const EVP_CIPHER* Aes128Gcm() {
  static const EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  return cipher;
}

#if defined(__x86_64__)
__attribute__((target("pclmul,sse4.1"))) inline __m128i PolyReduce(__m128i lo, __m128i hi) {
  const __m128i k = _mm_set_epi64x(0, 0x87);  // x^128 = x^7 + x^2 + x + 1
  __m128i t0 = _mm_clmulepi64_si128(hi, k, 0x00);
  __m128i t1 = _mm_clmulepi64_si128(hi, k, 0x01);
  __m128i r = _mm_xor_si128(lo, t0);
  r = _mm_xor_si128(r, _mm_slli_si128(t1, 8));
  return _mm_xor_si128(r, _mm_clmulepi64_si128(_mm_srli_si128(t1, 8), k, 0x00));
}

__attribute__((target("pclmul,sse4.1"))) inline __m128i PolyMul(__m128i a, __m128i b) {
  __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
  __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
  __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));
  lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
  hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
  return PolyReduce(lo, hi);
}

__attribute__((target("pclmul,sse4.1"))) __m128i LoadPowers(const std::array<uint64_t, 2>& p) {
  return _mm_set_epi64x(static_cast<long long>(p[1]), static_cast<long long>(p[0]));
}

// The XOR of the four 128-bit lanes.
__attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1"))) inline __m128i FoldLanes(
    __m512i v) {
  v = _mm512_xor_si512(v, _mm512_shuffle_i32x4(v, v, 0x4E));  // lanes 2 3 0 1
  v = _mm512_xor_si512(v, _mm512_shuffle_i32x4(v, v, 0xB1));  // lanes 1 0 3 2
  return _mm512_castsi512_si128(v);
}

// Lane j of hp[k] holds H^(top - 4k - j): the powers of the words 4k + j of a group of 16 whose
// first word gets H^top (powers[i] is H^(i + 1)).
__attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1"))) inline void GroupPowers(
    const std::array<uint64_t, 2>* powers, int top, __m512i hp[4]) {
  for (int k = 0; k < 4; ++k) {
    hp[k] = _mm512_setzero_si512();
    hp[k] = _mm512_inserti32x4(hp[k], LoadPowers(powers[top - 1 - 4 * k]), 0);
    hp[k] = _mm512_inserti32x4(hp[k], LoadPowers(powers[top - 2 - 4 * k]), 1);
    hp[k] = _mm512_inserti32x4(hp[k], LoadPowers(powers[top - 3 - 4 * k]), 2);
    hp[k] = _mm512_inserti32x4(hp[k], LoadPowers(powers[top - 4 - 4 * k]), 3);
  }
}

// Adds the unreduced products of 16 words at `g` (the first one XORed with `first`) and their
// powers hp to lo, hi and mid.
__attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1"))) inline void MulGroup(
    const uint8_t* g, __m128i first, const __m512i hp[4], __m512i& lo, __m512i& hi, __m512i& mid) {
  for (int k = 0; k < 4; ++k) {
    __m512i m = _mm512_loadu_si512(g + 64 * k);
    if (k == 0) {
      m = _mm512_xor_si512(m, _mm512_zextsi128_si512(first));
    }
    lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(m, hp[k], 0x00));
    hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(m, hp[k], 0x11));
    mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128(m, hp[k], 0x01));
    mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128(m, hp[k], 0x10));
  }
}

// Folds the lanes of lo, hi and mid and reduces their sum modulo the field polynomial.
__attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1"))) inline __m128i ReduceGroup(
    __m512i lo, __m512i hi, __m512i mid) {
  __m128i l = FoldLanes(lo);
  __m128i u = FoldLanes(hi);
  __m128i md = FoldLanes(mid);
  l = _mm_xor_si128(l, _mm_slli_si128(md, 8));
  u = _mm_xor_si128(u, _mm_srli_si128(md, 8));
  return PolyReduce(l, u);
}

// Words [0, n / 16) are whole; the rest of the block is one zero-padded word; then the length.
// Horner's rule 32 words (512 bytes) per step: acc' = (acc + m_1) H^32 + m_2 H^31 + ... + m_32 H,
// with one reduction per step (the step's only serial dependency), then 16 words at a time, then
// one word at a time.
__attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1"))) Fingerprint PolyHash(
    const std::array<uint64_t, 2>* powers, std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  const size_t words = data.size() / 16;
  const __m128i h = LoadPowers(powers[0]);
  __m128i acc = _mm_setzero_si128();
  size_t i = 0;
  if (words >= 16) {
    __m512i low[4];  // H^16 .. H^1
    GroupPowers(powers, 16, low);
    if (words >= 32) {
      __m512i high[4];  // H^32 .. H^17
      GroupPowers(powers, 32, high);
      for (; i + 32 <= words; i += 32) {
        __m512i lo = _mm512_setzero_si512();
        __m512i hi = _mm512_setzero_si512();
        __m512i mid = _mm512_setzero_si512();
        MulGroup(p + i * 16, acc, high, lo, hi, mid);
        MulGroup(p + i * 16 + 256, _mm_setzero_si128(), low, lo, hi, mid);
        acc = ReduceGroup(lo, hi, mid);
      }
    }
    for (; i + 16 <= words; i += 16) {
      __m512i lo = _mm512_setzero_si512();
      __m512i hi = _mm512_setzero_si512();
      __m512i mid = _mm512_setzero_si512();
      MulGroup(p + i * 16, acc, low, lo, hi, mid);
      acc = ReduceGroup(lo, hi, mid);
    }
  }
  for (; i < words; ++i) {
    acc = PolyMul(_mm_xor_si128(acc, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i * 16))),
                  h);
  }
  const size_t rest = data.size() % 16;
  if (rest != 0) {
    uint8_t last[16] = {};
    std::memcpy(last, p + words * 16, rest);
    acc = PolyMul(_mm_xor_si128(acc, _mm_loadu_si128(reinterpret_cast<const __m128i*>(last))), h);
  }
  acc = PolyMul(_mm_xor_si128(acc, _mm_set_epi64x(0, static_cast<long long>(data.size() * 8))), h);
  Fingerprint tag{};
  _mm_storeu_si128(reinterpret_cast<__m128i*>(tag.data()), acc);
  return tag;
}

bool HavePolyHash() {
  static const bool have = __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul");
  return have;
}
#else
bool HavePolyHash() { return false; }
#endif
}  // namespace

int FingerprintFunction() { return HavePolyHash() ? kFingerprintPoly : kFingerprintGmac; }

Fingerprinter::Fingerprinter(const FingerprintKey& key, int function)
    : ctx_(std::make_unique<Ctx>()) {
  ctx_->function = function == 0 ? FingerprintFunction() : function;
  if (ctx_->function == kFingerprintPoly && !HavePolyHash()) {
    std::abort();  // callers ask for function 2 only where FingerprintFunction() says so
  }
  ctx_->evp = EVP_CIPHER_CTX_new();
  if (ctx_->evp == nullptr ||
      EVP_EncryptInit_ex(ctx_->evp, Aes128Gcm(), nullptr, key.data(), kFingerprintIv) != 1) {
    std::abort();  // AES-GCM is always present in OpenSSL 3
  }
#if defined(__x86_64__)
  if (ctx_->function == kFingerprintPoly) {
    // H = AES_K(0^128), the point GHASH uses too.
    EVP_CIPHER* ecb = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    uint8_t zero[16] = {};
    uint8_t hbytes[32] = {};
    int len = 0;
    if (ecb == nullptr || c == nullptr ||
        EVP_EncryptInit_ex(c, ecb, nullptr, key.data(), nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1 ||
        EVP_EncryptUpdate(c, hbytes, &len, zero, 16) != 1 || len != 16) {
      std::abort();
    }
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(ecb);
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hbytes));
    __m128i power = h;
    for (int i = 0; i < 32; ++i) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(ctx_->powers[i].data()), power);
      power = PolyMul(power, h);
    }
  }
#endif
}

Fingerprinter::~Fingerprinter() = default;

Fingerprint Fingerprinter::Of(std::span<const uint8_t> data) {
#if defined(__x86_64__)
  if (ctx_->function == kFingerprintPoly) {
    return PolyHash(ctx_->powers, data);
  }
#endif
  Fingerprint tag{};
  int len = 0;
  unsigned char none[16];
  if (EVP_EncryptInit_ex(ctx_->evp, nullptr, nullptr, nullptr, kFingerprintIv) != 1 ||
      EVP_EncryptUpdate(ctx_->evp, nullptr, &len, data.data(), static_cast<int>(data.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx_->evp, none, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_->evp, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()),
                          tag.data()) != 1) {
    std::abort();  // cannot fail for a keyed context and a block of at most 1 MiB
  }
  return tag;
}

std::string HashToHex(const BlockHash& hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (uint8_t b : hash) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool IsZero(std::span<const uint8_t> data) {
  static const std::vector<uint8_t> zeros(kZeroPage, 0);
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = std::min(kZeroPage, data.size() - pos);
    if (std::memcmp(data.data() + pos, zeros.data(), n) != 0) {
      return false;
    }
    pos += n;
  }
  return true;
}

Status ValidateBlockSize(uint32_t block_size) {
  if (block_size < kMinBlockSize || block_size > kMaxBlockSize || block_size % kMinBlockSize != 0) {
    return InvalidArgumentError("block size " + std::to_string(block_size) +
                                " must be a multiple of 4096 between 4 KiB and 1 MiB");
  }
  return OkStatus();
}

namespace {

// ---- reads from a mapping of the source, with a guard against SIGBUS ----
//
// An incremental scan compares most blocks' fingerprints with the previous snapshot's and never
// needs their bytes otherwise, so it reads them where they are, in the page cache through a
// read-only shared mapping, instead of copying 600 MiB into buffers. A source truncated while
// mapped turns an access beyond its new end into SIGBUS; the guard turns that into a false return
// of RunGuarded, and the scan reads that part again with pread, as zeros beyond the end (the
// caller's stat check then reports the change, as for any source changed while read).

struct SigbusGuard {
  sigjmp_buf env;
  const uint8_t* lo = nullptr;
  const uint8_t* hi = nullptr;
  volatile sig_atomic_t active = 0;
};
thread_local SigbusGuard t_sigbus_guard;
struct sigaction g_previous_sigbus;
std::once_flag g_sigbus_once;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  SigbusGuard& g = t_sigbus_guard;
  const auto* addr = static_cast<const uint8_t*>(info->si_addr);
  if (g.active != 0 && addr >= g.lo && addr < g.hi) {
    g.active = 0;
    siglongjmp(g.env, 1);
  }
  // Not ours: hand it to the previous handler, or restore the default action and let the
  // faulting access repeat.
  if ((g_previous_sigbus.sa_flags & SA_SIGINFO) != 0 && g_previous_sigbus.sa_sigaction != nullptr) {
    g_previous_sigbus.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN &&
      g_previous_sigbus.sa_handler != nullptr) {
    g_previous_sigbus.sa_handler(sig);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
}

void InstallSigbusHandler() {
  std::call_once(g_sigbus_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnSigbus;
    // SA_NODEFER: leaving the handler by siglongjmp (without restoring a saved mask) must not
    // leave SIGBUS blocked in the thread.
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous_sigbus);
  });
}

// Runs fn() (which must only read [lo, lo + len), write plain memory and call code that holds no
// locks, e.g. memcpy and hashing) and returns false if an access to the range raised SIGBUS.
template <typename Fn>
bool RunGuarded(const uint8_t* lo, uint64_t len, Fn&& fn) {
  if (sigsetjmp(t_sigbus_guard.env, 0) != 0) {
    return false;
  }
  t_sigbus_guard.lo = lo;
  t_sigbus_guard.hi = lo + len;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_sigbus_guard.active = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_sigbus_guard.active = 0;
  return true;
}

// One step of a scan handed from the reading thread to the caller: a run of zero blocks, or a
// chunk of read and hashed blocks in `buffer`, or the end (an error or success).
struct ScanItem {
  enum class Kind { kZero, kData, kEnd } kind = Kind::kEnd;
  uint64_t first = 0;
  uint64_t count = 0;
  int buffer = -1;
  Status status;
};

class ScanPipeline {
 public:
  // `threads` hashing threads each read and hash whole chunks that one planning thread hands
  // out in order (it finds the data runs), while the caller consumes chunks in order, so
  // reading, hashing and the sink's writes overlap.
  ScanPipeline(int fd, uint64_t size, const ScanOptions& options, int threads)
      : fd_(fd),
        size_(size),
        bs_(options.block_size),
        nblocks_((size + bs_ - 1) / bs_),
        chunk_blocks_(std::clamp<uint64_t>(nblocks_, 1, std::max<uint64_t>(1, kScanChunk / bs_))),
        threads_(threads),
        key_(options.fingerprint_key),
        previous_(options.previous),
        // A file of one chunk or less is read and hashed on the caller's thread.
        parallel_(nblocks_ > chunk_blocks_),
        buffers_(parallel_ ? static_cast<size_t>(threads) + 2 +
                                 static_cast<size_t>(std::max(0, options.held_buffers))
                           : 1),
        shared_(std::make_shared<Shared>()),
        mu_(shared_->mu),
        cv_(shared_->cv),
        free_(shared_->free) {
    // Buffers are allocated when first needed (Acquire), not zeroed: only the bytes of read
    // blocks are touched (a fresh page costs a fault and a clear; an incremental scan copies only
    // its changed blocks there).
    shared_->memory.resize(buffers_.size());
    for (Buffer& buf : buffers_) {
      buf.infos.resize(chunk_blocks_);
    }
    if (key_ != nullptr && !previous_.empty() && !options.no_mapping) {
      // Only worth it when most blocks are compared, not copied (see the SIGBUS guard above);
      // a file that cannot be mapped is read with pread.
      void* map = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
      if (map != MAP_FAILED) {
        InstallSigbusHandler();
        map_ = static_cast<const uint8_t*>(map);
      }
    }
  }
  ~ScanPipeline() {
    if (map_ != nullptr) {
      ::munmap(const_cast<uint8_t*>(map_), size_);
    }
  }
  ScanPipeline(const ScanPipeline&) = delete;
  ScanPipeline& operator=(const ScanPipeline&) = delete;

  Status Run(const HeldBlockSink& sink, const std::function<void(uint64_t, uint64_t)>& progress) {
    if (!parallel_) {
      inline_sink_ = &sink;
      inline_progress_ = &progress;
      Status s = ProduceAll(false);
      return inline_status_.ok() ? s : inline_status_;
    }
    std::vector<std::thread> hashers;
    for (int i = 0; i < threads_; ++i) {
      hashers.emplace_back([this] { HashLoop(); });
    }
    std::thread reader([this] { Produce(/*parallel=*/true); });
    Status result;
    while (true) {
      ScanItem item = Pop();
      if (item.kind == ScanItem::Kind::kEnd) {
        result = item.status;
        break;
      }
      // The buffer goes back to the planner when the last hold on it is dropped (at the end of
      // Consume, or when the sink's last kept hold is).
      Status s = Consume(item, sink);
      if (!s.ok()) {
        result = s;
        break;
      }
      if (progress) {
        progress(std::min(size_, (item.first + item.count) * bs_), size_);
      }
    }
    Stop();
    reader.join();
    for (auto& t : hashers) {
      t.join();
    }
    return result;
  }

 private:
  // A run of data blocks inside a chunk: blocks [first, first + count) relative to the chunk.
  struct Segment {
    uint64_t first = 0;
    uint64_t count = 0;
  };
  // A chunk: blocks [first, first + count) of the file, of which only `segments` hold data (the
  // rest are holes, neither read nor hashed). Several small data runs share one chunk, so the
  // threads hand over few chunks however fragmented the file is.
  struct Buffer {
    uint8_t* data = nullptr;  // shared_->memory of its index
    std::vector<BlockInfo> infos;
    std::vector<Segment> segments;
    uint64_t first = 0;
    uint64_t count = 0;
    bool hashed = false;
    Status read_status;  // of the hashing thread's read
  };

  uint32_t LengthOf(uint64_t b) const {
    return static_cast<uint32_t>(std::min(bs_, size_ - b * bs_));
  }

  // Reads the chunk's data segments in steps of up to kReadStep bytes and, right after each
  // read while its bytes are in the core's cache, computes for each block the zero test, the
  // fingerprint (when keyed) and, unless the fingerprint shows the block unchanged, its SHA-256.
  // `fp` is the calling thread's own fingerprinter.
  Status ReadAndHashChunk(Buffer& buf, Fingerprinter* fp) {
    for (uint64_t i = 0; i < buf.count; ++i) {
      BlockInfo& info = buf.infos[i];
      info.index = buf.first + i;
      info.length = LengthOf(buf.first + i);
      info.unchanged = false;
      info.fingerprint = {};
      info.zero = true;  // a hole unless a segment covers it
    }
    const uint64_t step_blocks = std::max<uint64_t>(1, kReadStep / bs_);
    for (const Segment& seg : buf.segments) {
      for (uint64_t i = seg.first; i < seg.first + seg.count; i += step_blocks) {
        uint64_t n = std::min(step_blocks, seg.first + seg.count - i);
        if (map_ != nullptr && CompareMapped(buf, i, n, fp)) {
          continue;
        }
        RETURN_IF_ERROR(ReadBlocks(buf, i, n));
        HashBlocksOf(buf, i, n, fp);
      }
    }
    return OkStatus();
  }

  // Blocks [first, first + count) of the chunk from the mapping: the zero test and fingerprint
  // read the page cache in place; a block that is neither zero nor unchanged is copied into the
  // chunk's buffer and tested and hashed again there, so its fingerprint, SHA-256 and the bytes the
  // sink stores all come from one private copy (the source may change meanwhile). False when
  // the source shrank under the mapping (SIGBUS): the caller reads these blocks with pread.
  bool CompareMapped(Buffer& buf, uint64_t first, uint64_t count, Fingerprinter* fp) {
    static const Fingerprint kUnknown{};
    const uint64_t offset = (buf.first + first) * bs_;
    const uint64_t len = std::min(count * bs_, size_ - offset);
    // After a SIGBUS the caller redoes all these blocks, a block waiting here included.
    PairHasher pairs(*this);
    return RunGuarded(map_ + offset, len, [&] {
      for (uint64_t i = first; i < first + count; ++i) {
        BlockInfo& info = buf.infos[i];
        std::span<const uint8_t> mapped(map_ + info.index * bs_, info.length);
        info.zero = IsZero(mapped);
        if (info.zero) {
          continue;
        }
        info.fingerprint = fp->Of(mapped);
        if (info.index < previous_.size() && previous_[info.index] != kUnknown &&
            previous_[info.index] == info.fingerprint) {
          info.unchanged = true;
          continue;
        }
        std::memcpy(buf.data + i * bs_, mapped.data(), info.length);
        if (TestBlock(buf, i, fp)) {
          pairs.Add(buf, i);
        }
      }
      pairs.Finish(buf);
    });
  }

  // The zero test and the fingerprint of block i of the chunk; true when it needs its SHA-256
  // (neither zero nor unchanged).
  bool TestBlock(Buffer& buf, uint64_t i, Fingerprinter* fp) {
    static const Fingerprint kUnknown{};
    BlockInfo& info = buf.infos[i];
    std::span<const uint8_t> data = DataOf(buf, i);
    info.zero = IsZero(data);
    if (info.zero) {
      return false;
    }
    if (fp != nullptr) {
      info.fingerprint = fp->Of(data);
      if (info.index < previous_.size() && previous_[info.index] != kUnknown &&
          previous_[info.index] == info.fingerprint) {
        info.unchanged = true;
        return false;
      }
    }
    return true;
  }

  // Computes the SHA-256s of the chunk's blocks it is given two at a time (HashBlockPair: about
  // twice the rate of one at a time with SHA-NI); Finish hashes a last block without a partner.
  class PairHasher {
   public:
    explicit PairHasher(const ScanPipeline& scan) : scan_(scan) {}
    void Add(Buffer& buf, uint64_t i) {
      if (waiting_ == kNone) {
        waiting_ = i;
        return;
      }
      HashBlockPair(scan_.DataOf(buf, waiting_), scan_.DataOf(buf, i), buf.infos[waiting_].hash,
                    buf.infos[i].hash);
      waiting_ = kNone;
    }
    void Finish(Buffer& buf) {
      if (waiting_ != kNone) {
        buf.infos[waiting_].hash = HashBlock(scan_.DataOf(buf, waiting_));
        waiting_ = kNone;
      }
    }

   private:
    static constexpr uint64_t kNone = ~uint64_t{0};
    const ScanPipeline& scan_;
    uint64_t waiting_ = kNone;  // a block that needs its SHA-256 and has no partner yet
  };

  std::span<const uint8_t> DataOf(const Buffer& buf, uint64_t i) const {
    return {buf.data + i * bs_, buf.infos[i].length};
  }

  // TestBlock and, where needed, the SHA-256 of blocks [first, first + count) of the chunk.
  void HashBlocksOf(Buffer& buf, uint64_t first, uint64_t count, Fingerprinter* fp) {
    PairHasher pairs(*this);
    for (uint64_t j = first; j < first + count; ++j) {
      if (TestBlock(buf, j, fp)) {
        pairs.Add(buf, j);
      }
    }
    pairs.Finish(buf);
  }

  std::unique_ptr<Fingerprinter> NewFingerprinter() const {
    return key_ != nullptr ? std::make_unique<Fingerprinter>(*key_) : nullptr;
  }

  void HashLoop() {
    std::unique_ptr<Fingerprinter> fp = NewFingerprinter();
    while (true) {
      int index;
      {
        std::unique_lock<std::mutex> lock(mu_);
        hash_cv_.wait(lock, [&] { return stopped_ || produced_all_ || !hash_queue_.empty(); });
        if (stopped_ || hash_queue_.empty()) {
          return;
        }
        index = hash_queue_.front();
        hash_queue_.pop_front();
      }
      Buffer& buf = buffers_[index];
      buf.read_status = ReadAndHashChunk(buf, fp.get());
      {
        std::lock_guard<std::mutex> lock(mu_);
        buffers_[index].hashed = true;
      }
      item_cv_.notify_one();  // the consumer
    }
  }

  Status Consume(const ScanItem& item, const HeldBlockSink& sink) {
    if (item.kind == ScanItem::Kind::kZero) {
      for (uint64_t b = item.first; b < item.first + item.count; ++b) {
        BlockInfo info;
        info.index = b;
        info.length = LengthOf(b);
        info.zero = true;
        RETURN_IF_ERROR(sink(info, {}, {}));
      }
      return OkStatus();
    }
    Buffer& buf = buffers_[item.buffer];
    {
      std::unique_lock<std::mutex> lock(mu_);
      item_cv_.wait(lock, [&] { return buf.hashed; });
    }
    // Parallel scans lend the buffer: it returns to the free list when the last hold is
    // dropped. The single-buffer scan reuses it at once (Push), so it lends nothing.
    BufferHold hold;
    if (parallel_) {
      hold = BufferHold(buf.data, [shared = shared_, index = item.buffer](const void*) {
        {
          std::lock_guard<std::mutex> lock(shared->mu);
          shared->free.push_back(index);
        }
        shared->cv.notify_one();  // the planner
      });
    }
    RETURN_IF_ERROR(buf.read_status);
    for (uint64_t i = 0; i < item.count; ++i) {
      std::span<const uint8_t> data;
      if (!buf.infos[i].zero) {
        data = std::span<const uint8_t>(buf.data + i * bs_, buf.infos[i].length);
      }
      RETURN_IF_ERROR(sink(buf.infos[i], data, data.empty() ? BufferHold() : hold));
    }
    return OkStatus();
  }

  // The reading thread: finds data runs with SEEK_DATA/SEEK_HOLE and reads chunks ahead.
  void Produce(bool parallel) {
    Status s = ProduceAll(parallel);
    {
      std::lock_guard<std::mutex> lock(mu_);
      produced_all_ = true;
    }
    hash_cv_.notify_all();
    ScanItem end;
    end.status = s;
    Push(std::move(end), -1);
  }

  // The next data run at or after block `b`, in whole blocks ({nblocks_, nblocks_}: none).
  struct DataRun {
    uint64_t first = 0;
    uint64_t end = 0;
  };
  DataRun NextRun(uint64_t b) {
    if (b >= nblocks_) {
      return {nblocks_, nblocks_};
    }
    if (!seek_supported_) {
      return {b, nblocks_};
    }
    off_t data = ::lseek(fd_, static_cast<off_t>(b * bs_), SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
      return {nblocks_, nblocks_};  // only a hole up to the end
    }
    if (data < 0) {
      seek_supported_ = false;  // no hole support: read everything
      return {b, nblocks_};
    }
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0) {
      hole = static_cast<off_t>(size_);
    }
    uint64_t first = std::min<uint64_t>(nblocks_, static_cast<uint64_t>(data) / bs_);
    uint64_t end = std::min<uint64_t>(nblocks_, (static_cast<uint64_t>(hole) + bs_ - 1) / bs_);
    return {first, std::min(std::max(end, first + 1), nblocks_)};
  }

  // Plans the chunks in file order: holes of a chunk or more become zero items; the data runs
  // are packed into chunks of up to chunk_blocks_ blocks.
  Status ProduceAll(bool parallel) {
    uint64_t b = 0;
    DataRun run = NextRun(0);
    while (b < nblocks_) {
      uint64_t data_first = std::max(run.first, b);
      if (data_first > b) {
        ScanItem zero;
        zero.kind = ScanItem::Kind::kZero;
        zero.first = b;
        zero.count = data_first - b;
        if (!Push(std::move(zero), -1)) {
          return OkStatus();
        }
        b = data_first;
        if (b >= nblocks_) {
          break;
        }
      }
      int index = Acquire();
      if (index == kNoMemory) {
        return ResourceExhaustedError("no memory for a scan buffer of " +
                                      std::to_string(chunk_blocks_ * bs_) + " bytes");
      }
      if (index < 0) {
        return OkStatus();  // stopped by the consumer
      }
      Buffer& buf = buffers_[index];
      buf.first = b;
      buf.segments.clear();
      const uint64_t limit = std::min(nblocks_, b + chunk_blocks_);
      uint64_t end = b;
      while (run.first < limit) {
        uint64_t seg_first = std::max(run.first, end);
        uint64_t seg_end = std::min(run.end, limit);
        if (seg_end > seg_first) {
          buf.segments.push_back({seg_first - b, seg_end - seg_first});
          end = seg_end;
        }
        if (run.end > limit) {
          break;  // the run goes on in the next chunk
        }
        run = NextRun(run.end);
      }
      buf.count = end - b;
      buf.hashed = false;
      if (!parallel) {
        if (inline_fp_ == nullptr) {
          inline_fp_ = NewFingerprinter();
        }
        Status read = ReadAndHashChunk(buf, inline_fp_.get());
        if (!read.ok()) {
          Release(index);
          return read;
        }
        buf.hashed = true;
      }
      ScanItem item;
      item.kind = ScanItem::Kind::kData;
      item.first = b;
      item.count = buf.count;
      item.buffer = index;
      if (!Push(std::move(item), parallel ? index : -1)) {
        return OkStatus();
      }
      b = end;
    }
    return OkStatus();
  }

  // Reads blocks [first, first + count) of the chunk (relative to it; the part beyond a file
  // that shrank meanwhile reads as zeros; the caller's stat check reports the change).
  Status ReadBlocks(Buffer& buf, uint64_t first, uint64_t count) {
    uint64_t offset = (buf.first + first) * bs_;
    uint8_t* dest = buf.data + first * bs_;
    uint64_t want = std::min(count * bs_, size_ - offset);
    uint64_t got = 0;
    while (got < want) {
      ssize_t n = ::pread(fd_, dest + got, want - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return ErrnoStatus("reading at offset " + std::to_string(offset + got));
      }
      if (n == 0) {
        break;
      }
      got += static_cast<uint64_t>(n);
    }
    std::memset(dest + got, 0, want - got);
    return OkStatus();
  }

  // Queues an item for the consumer (and its buffer for hashing when hash_index >= 0).
  bool Push(ScanItem item, int hash_index) {
    if (inline_sink_ != nullptr) {
      // Single-threaded: consume at once, reuse the one buffer.
      Status s = Consume(item, *inline_sink_);
      if (item.buffer >= 0) {
        free_.push_back(item.buffer);
      }
      if (!s.ok()) {
        inline_status_ = s;
        return false;
      }
      if (*inline_progress_) {
        (*inline_progress_)(std::min(size_, (item.first + item.count) * bs_), size_);
      }
      return true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_ && item.kind != ScanItem::Kind::kEnd) {
        if (item.buffer >= 0) {
          free_.push_back(item.buffer);
        }
        return false;
      }
      if (hash_index >= 0) {
        hash_queue_.push_back(hash_index);
      }
      items_.push_back(std::move(item));
    }
    if (hash_index >= 0) {
      hash_cv_.notify_one();
    }
    item_cv_.notify_one();
    return true;
  }
  ScanItem Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    item_cv_.wait(lock, [&] { return !items_.empty(); });
    ScanItem item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  // A free buffer (allocated on first use); -1 when stopped, kNoMemory.
  static constexpr int kNoMemory = -2;
  int Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || !free_.empty() || allocated_ < buffers_.size(); });
    if (stopped_) {
      return -1;
    }
    if (!free_.empty()) {
      int index = free_.front();
      free_.pop_front();
      return index;
    }
    const size_t index = allocated_++;
    lock.unlock();
    // Only this (planning) thread allocates; the buffer is not seen by others before Push.
    shared_->memory[index] = AllocateScanBuffer(chunk_blocks_ * bs_);
    if (shared_->memory[index] == nullptr) {
      return kNoMemory;
    }
    buffers_[index].data = shared_->memory[index].get();
    return static_cast<int>(index);
  }
  void Release(int index) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(index);
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    hash_cv_.notify_all();
    item_cv_.notify_all();
  }

  int fd_;
  uint64_t size_;
  uint64_t bs_;
  uint64_t nblocks_;
  uint64_t chunk_blocks_;
  int threads_;
  const FingerprintKey* key_;
  std::span<const Fingerprint> previous_;
  std::unique_ptr<Fingerprinter> inline_fp_;  // the single-threaded path's
  const uint8_t* map_ = nullptr;              // the source mapped read-only, or null
  bool parallel_;
  std::vector<Buffer> buffers_;
  size_t allocated_ = 0;  // buffers with memory (guarded by mu_)
  // What a hold on a lent buffer needs after the scan has returned: the buffers' memory, and
  // the lock, signal and free list through which a buffer comes back.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<int> free;
    std::vector<AlignedBytes> memory;
  };
  std::shared_ptr<Shared> shared_;
  std::mutex& mu_;
  std::condition_variable& cv_;  // a buffer is free (the planner waits)
  std::deque<int>& free_;
  std::condition_variable hash_cv_;  // a chunk to hash, or no more (the hashing threads wait)
  std::condition_variable item_cv_;  // an item or a hashed chunk (the consumer waits)
  const HeldBlockSink* inline_sink_ = nullptr;
  const std::function<void(uint64_t, uint64_t)>* inline_progress_ = nullptr;
  Status inline_status_;
  std::deque<ScanItem> items_;
  std::deque<int> hash_queue_;
  bool seek_supported_ = true;  // planning thread only
  bool produced_all_ = false;
  bool stopped_ = false;
};

}  // namespace

Status ScanFile(int fd, uint64_t size, const ScanOptions& options, const BlockSink& sink) {
  return ScanFile(fd, size, options,
                  [&sink](const BlockInfo& block, std::span<const uint8_t> data,
                          const BufferHold&) { return sink(block, data); });
}

Status ScanFile(int fd, uint64_t size, const ScanOptions& options, const HeldBlockSink& sink) {
  RETURN_IF_ERROR(ValidateBlockSize(options.block_size));
  const int threads =
      std::max(1, options.threads > 0 ? options.threads
                                      : static_cast<int>(std::thread::hardware_concurrency()));
  if (size == 0) {
    return OkStatus();
  }
  ScanPipeline pipeline(fd, size, options, threads);
  return pipeline.Run(sink, options.progress);
}

StatusOr<std::vector<BlockInfo>> HashFile(const std::filesystem::path& path,
                                          const ScanOptions& options) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoStatus("stat " + path.string());
  }
  std::vector<BlockInfo> out;
  Status s = ScanFile(fd.get(), static_cast<uint64_t>(st.st_size), options,
                      [&](const BlockInfo& info, std::span<const uint8_t>) {
                        out.push_back(info);
                        return OkStatus();
                      });
  if (!s.ok()) {
    return s.WithPrefix(path.string());
  }
  return out;
}

// ---- pack index ----

StatusOr<std::vector<StoredBlock>> ReadPackIndex(const std::filesystem::path& path,
                                                 uint32_t block_size) {
  ASSIGN_OR_RETURN(std::string raw, ReadWholeFile(path));
  if (raw.size() < kIndexHeader + sizeof(BlockHash) ||
      std::memcmp(raw.data(), kIndexMagic, sizeof(kIndexMagic)) != 0) {
    return DataLossError("pack index " + path.string() + " is truncated or not a pack index");
  }
  size_t body = raw.size() - sizeof(BlockHash);
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(raw.data()), body});
  if (std::memcmp(sum.data(), raw.data() + body, sum.size()) != 0) {
    return DataLossError("pack index " + path.string() + " fails its checksum");
  }
  uint32_t bs = 0;
  uint32_t count = 0;
  std::memcpy(&bs, raw.data() + sizeof(kIndexMagic), sizeof(bs));
  std::memcpy(&count, raw.data() + sizeof(kIndexMagic) + sizeof(bs), sizeof(count));
  if (bs != block_size) {
    return DataLossError("pack index " + path.string() + " has block size " + std::to_string(bs) +
                         ", the store uses " + std::to_string(block_size));
  }
  if (body != kIndexHeader + uint64_t{count} * kIndexRecord) {
    return DataLossError("pack index " + path.string() + " has the wrong length");
  }
  std::vector<StoredBlock> slots(count);
  const char* p = raw.data() + kIndexHeader;
  for (uint32_t i = 0; i < count; ++i) {
    std::memcpy(slots[i].hash.data(), p, sizeof(BlockHash));
    std::memcpy(&slots[i].length, p + sizeof(BlockHash), sizeof(uint32_t));
    if (slots[i].length == 0 || slots[i].length > bs) {
      return DataLossError("pack index " + path.string() + " slot " + std::to_string(i) +
                           " has an invalid length");
    }
    p += kIndexRecord;
  }
  return slots;
}

// ---- BlockStore ----

size_t BlockStore::HashHasher::operator()(const BlockHash& h) const {
  size_t v = 0;
  std::memcpy(&v, h.data(), sizeof(v));
  return v;
}

StatusOr<std::unique_ptr<BlockStore>> BlockStore::Open(const std::filesystem::path& dir,
                                                       uint32_t block_size) {
  RETURN_IF_ERROR(ValidateBlockSize(block_size));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return InvalidArgumentError("cannot create block store " + dir.string() + ": " + ec.message());
  }
  return std::unique_ptr<BlockStore>(new BlockStore(dir, block_size));
}

void BlockStore::ReserveLookup(size_t more) { lookup_.reserve(lookup_.size() + more); }

void BlockStore::ResetCache() {
  std::lock_guard<std::mutex> lock(packs_mu_);
  for (auto& [n, pack] : packs_) {
    if (pack.fd >= 0) {
      ::close(pack.fd);
    }
  }
  packs_.clear();
  lookup_.clear();
}

BlockStore::~BlockStore() {
  for (auto& [n, pack] : packs_) {
    if (pack.fd >= 0) {
      ::close(pack.fd);
    }
  }
}

std::filesystem::path BlockStore::PackDataPath(uint32_t pack) const {
  return dir_ / PackName(pack, ".data");
}
std::filesystem::path BlockStore::PackIndexPath(uint32_t pack) const {
  return dir_ / PackName(pack, ".idx");
}

std::vector<uint32_t> BlockStore::ListPackNumbers(bool sealed_only) const {
  std::vector<uint32_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    uint32_t n = ParsePackName(name, sealed_only ? ".idx" : ".data");
    if (n == 0 && !sealed_only) {
      n = ParsePackName(name, ".idx");
    }
    if (n != 0) {
      out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

StatusOr<BlockStore::Pack*> BlockStore::LoadPack(uint32_t pack) {
  std::lock_guard<std::mutex> lock(packs_mu_);
  auto it = packs_.find(pack);
  if (it != packs_.end()) {
    return &it->second;
  }
  std::error_code ec;
  if (!std::filesystem::exists(PackIndexPath(pack), ec)) {
    return DataLossError("pack " + PackIndexPath(pack).string() + " is missing");
  }
  ASSIGN_OR_RETURN(std::vector<StoredBlock> slots, ReadPackIndex(PackIndexPath(pack), block_size_));
  int fd = ::open(PackDataPath(pack).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return DataLossError("pack " + PackDataPath(pack).string() +
                         " is missing: " + std::strerror(errno));
  }
  Pack& p = packs_[pack];
  p.fd = fd;
  p.slots = std::move(slots);
  return &p;
}

StatusOr<SweepStats> BlockStore::Sweep(const std::unordered_set<uint64_t>& live_keys) {
  SweepStats stats;
  std::map<uint32_t, std::vector<uint32_t>> live_by_pack;
  for (uint64_t key : live_keys) {
    BlockAddress a = BlockAddress::FromKey(key);
    live_by_pack[a.pack].push_back(a.slot);
  }
  // Leftovers of crashed writers: temp files and data files that were never sealed.
  std::error_code ec;
  std::vector<std::filesystem::path> doomed;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      doomed.push_back(entry.path());
      continue;
    }
    uint32_t n = ParsePackName(name, ".data");
    if (n != 0 && !std::filesystem::exists(PackIndexPath(n))) {
      doomed.push_back(entry.path());
    }
  }
  if (ec) {
    return ErrnoStatus("listing block store " + dir_.string());
  }
  for (const auto& p : doomed) {
    std::filesystem::remove(p, ec);
  }
  lookup_.clear();
  for (uint32_t n : ListPackNumbers(/*sealed_only=*/true)) {
    auto live_it = live_by_pack.find(n);
    if (live_it == live_by_pack.end()) {
      // No live slot: drop the index first (a data file alone is an unsealed leftover).
      {
        std::lock_guard<std::mutex> lock(packs_mu_);
        auto it = packs_.find(n);
        if (it != packs_.end()) {
          ::close(it->second.fd);
          packs_.erase(it);
        }
      }
      auto slots = ReadPackIndex(PackIndexPath(n), block_size_);
      if (slots.ok()) {
        for (const StoredBlock& s : *slots) {
          ++stats.blocks_freed;
          stats.bytes_freed += s.length;
        }
      }
      std::filesystem::remove(PackIndexPath(n), ec);
      std::filesystem::remove(PackDataPath(n), ec);
      ++stats.packs_removed;
      continue;
    }
    ASSIGN_OR_RETURN(Pack * pack, LoadPack(n));
    std::vector<bool> live(pack->slots.size(), false);
    for (uint32_t slot : live_it->second) {
      if (slot < live.size()) {
        live[slot] = true;
        lookup_.emplace(pack->slots[slot].hash, BlockAddress{n, slot});
      }
    }
    // Punch the dead slots that still hold data (walk the data extents, skip existing holes).
    UniqueFd wfd;
    const uint64_t bs = block_size_;
    off_t pos = 0;
    while (true) {
      off_t data = ::lseek(pack->fd, pos, SEEK_DATA);
      if (data < 0) {
        break;
      }
      off_t hole = ::lseek(pack->fd, data, SEEK_HOLE);
      if (hole <= data) {
        break;
      }
      for (uint64_t slot = static_cast<uint64_t>(data) / bs;
           slot * bs < static_cast<uint64_t>(hole) && slot < live.size(); ++slot) {
        if (live[slot]) {
          continue;
        }
        if (!wfd.valid()) {
          ASSIGN_OR_RETURN(wfd, OpenFile(PackDataPath(n), O_WRONLY));
        }
        if (::fallocate(wfd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(slot * bs), static_cast<off_t>(bs)) != 0) {
          return ErrnoStatus("freeing slot " + std::to_string(slot) + " of " +
                             PackDataPath(n).string());
        }
        ++stats.blocks_freed;
        stats.bytes_freed += pack->slots[slot].length;
      }
      pos = hole;
    }
  }
  return stats;
}

const BlockAddress* BlockStore::Find(const BlockHash& hash) const {
  auto it = lookup_.find(hash);
  return it == lookup_.end() ? nullptr : &it->second;
}

StatusOr<StoredBlock> BlockStore::Describe(const BlockAddress& address) {
  ASSIGN_OR_RETURN(Pack * pack, LoadPack(address.pack));
  if (address.slot >= pack->slots.size()) {
    return DataLossError("block " + std::to_string(address.slot) + " is beyond the end of " +
                         PackIndexPath(address.pack).string());
  }
  return pack->slots[address.slot];
}

StatusOr<int> BlockStore::PackFd(uint32_t pack) {
  ASSIGN_OR_RETURN(Pack * p, LoadPack(pack));
  return p->fd;
}

Status BlockStore::Read(const BlockAddress& address, std::vector<uint8_t>& out) {
  ASSIGN_OR_RETURN(Pack * pack, LoadPack(address.pack));
  if (address.slot >= pack->slots.size()) {
    return DataLossError("block " + std::to_string(address.slot) + " is beyond the end of " +
                         PackIndexPath(address.pack).string());
  }
  const StoredBlock& meta = pack->slots[address.slot];
  out.resize(meta.length);
  RETURN_IF_ERROR(PreadFull(pack->fd, out.data(), meta.length, uint64_t{address.slot} * block_size_,
                            PackDataPath(address.pack)));
  if (HashBlock(out) != meta.hash) {
    return DataLossError("block " + std::to_string(address.slot) + " of " +
                         PackDataPath(address.pack).string() +
                         " does not match its hash (the store was modified)");
  }
  return OkStatus();
}

Status BlockStore::ReadRun(const BlockAddress& first, uint32_t count, std::vector<uint8_t>& out) {
  ASSIGN_OR_RETURN(Pack * pack, LoadPack(first.pack));
  if (count == 0 || uint64_t{first.slot} + count > pack->slots.size()) {
    return DataLossError("blocks " + std::to_string(first.slot) + ".." +
                         std::to_string(uint64_t{first.slot} + count) + " are beyond the end of " +
                         PackIndexPath(first.pack).string());
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const StoredBlock& meta = pack->slots[first.slot + i];
    if (i + 1 < count && meta.length != block_size_) {
      return DataLossError("block " + std::to_string(first.slot + i) + " of " +
                           PackDataPath(first.pack).string() + " is unexpectedly short");
    }
    total += meta.length;
  }
  out.resize(total);
  RETURN_IF_ERROR(PreadFull(pack->fd, out.data(), total, uint64_t{first.slot} * block_size_,
                            PackDataPath(first.pack)));
  // Verified two blocks at a time (HashBlockPair).
  auto data_of = [&](uint32_t i) {
    return std::span<const uint8_t>(out.data() + uint64_t{i} * block_size_,
                                    pack->slots[first.slot + i].length);
  };
  auto check = [&](uint32_t i, const BlockHash& hash) {
    if (hash != pack->slots[first.slot + i].hash) {
      return DataLossError("block " + std::to_string(first.slot + i) + " of " +
                           PackDataPath(first.pack).string() +
                           " does not match its hash (the store was modified)");
    }
    return OkStatus();
  };
  for (uint32_t i = 0; i < count; i += 2) {
    if (i + 1 == count) {
      return check(i, HashBlock(data_of(i)));
    }
    BlockHash a{}, b{};
    HashBlockPair(data_of(i), data_of(i + 1), a, b);
    RETURN_IF_ERROR(check(i, a));
    RETURN_IF_ERROR(check(i + 1, b));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<BlockStore::Writer>> BlockStore::NewWriter() {
  std::vector<uint32_t> existing = ListPackNumbers(/*sealed_only=*/false);
  uint32_t next = existing.empty() ? 1 : existing.back() + 1;
  return std::unique_ptr<Writer>(new Writer(*this, next, -1));
}

BlockStore::Writer::~Writer() {
  WaitForWrites().IgnoreError();
  StopWriteThreads();
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (!sealed_) {
    // Forget this pack's blocks and remove its data; a crash leaves it to the next Sweep.
    for (auto it = store_.lookup_.begin(); it != store_.lookup_.end();) {
      it = it->second.pack == pack_ ? store_.lookup_.erase(it) : std::next(it);
    }
    std::error_code ec;
    std::filesystem::remove(store_.PackDataPath(pack_), ec);
  }
}

StatusOr<BlockAddress> BlockStore::Writer::Put(const BlockHash& hash, std::span<const uint8_t> data,
                                               const BufferHold& hold) {
  if (sealed_ || data.empty() || data.size() > store_.block_size_) {
    if (const BlockAddress* found = store_.Find(hash)) {
      return *found;
    }
    if (sealed_) {
      return FailedPreconditionError("block store writer already sealed");
    }
    return InvalidArgumentError("block of " + std::to_string(data.size()) +
                                " bytes does not fit the store's block size");
  }
  // One lookup: an equal live block, or this block's entry at its new slot (removed again if
  // storing it fails).
  const BlockAddress address{pack_, static_cast<uint32_t>(slots_.size())};
  auto [it, inserted] = store_.lookup_.try_emplace(hash, address);
  if (!inserted) {
    return it->second;
  }
  Status s = Append(hash, data, hold);
  if (!s.ok()) {
    store_.lookup_.erase(hash);
    return s;
  }
  return address;
}

Status BlockStore::Writer::Append(const BlockHash& hash, std::span<const uint8_t> data,
                                  const BufferHold& hold) {
  if (fd_ < 0) {
    std::filesystem::path path = store_.PackDataPath(pack_);
    // O_DIRECT skips the copy into the page cache (the larger part of writing a pack); file
    // systems without it (tmpfs) get buffered writes.
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0444);
    direct_ = fd_ >= 0;
    if (fd_ < 0 && errno == EINVAL) {
      fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    }
    if (fd_ < 0) {
      return ErrnoStatus("creating " + path.string());
    }
  }
  uint64_t offset = uint64_t{slots_.size()} * store_.block_size_;
  if (pending_size_ != 0 && pending_offset_ + pending_size_ != offset) {
    RETURN_IF_ERROR(Flush());
  }
  // A lent block is written from where it is when a direct write can take it from there (whole
  // 4 KiB sectors at an aligned address); a run keeps at most one lent buffer, so a writer holds
  // at most kHeldBuffers of them (the scan that lends them has that many spare).
  const bool lent = hold != nullptr &&
                    (!direct_ || (reinterpret_cast<uintptr_t>(data.data()) % kDirectAlign == 0 &&
                                  data.size() % kDirectAlign == 0));
  if (lent && !pending_holds_.empty() && pending_holds_.back() != hold) {
    RETURN_IF_ERROR(Flush());
  }
  if (!lent && pending_ == nullptr) {
    RETURN_IF_ERROR(TakeStaging());
  }
  if (pending_size_ == 0) {
    pending_offset_ = offset;
  }
  if (lent) {
    if (pending_holds_.empty()) {
      pending_holds_.push_back(hold);
    }
    AppendPiece(data.data(), data.size());
  } else {
    std::memcpy(pending_.get() + staged_, data.data(), data.size());
    AppendPiece(pending_.get() + staged_, data.size());
    staged_ += data.size();
  }
  pending_size_ += data.size();
  slots_.push_back({hash, static_cast<uint32_t>(data.size())});
  ++new_blocks_;
  new_bytes_ += data.size();
  // A short block ends a run (the rest of its slot stays a hole); big runs are written out.
  if (data.size() < store_.block_size_ || pending_size_ >= kWriteRun) {
    RETURN_IF_ERROR(Flush());
  }
  return OkStatus();
}

void BlockStore::Writer::AppendPiece(const uint8_t* data, uint64_t size) {
  if (!pending_pieces_.empty() &&
      pending_pieces_.back().first + pending_pieces_.back().second == data) {
    pending_pieces_.back().second += size;
  } else {
    pending_pieces_.emplace_back(data, size);
  }
}

Status BlockStore::Writer::TakeStaging() {
  if (free_buffers_.empty() && staging_allocated_ < kWritesInFlight + 1) {
    void* buf = nullptr;
    if (::posix_memalign(&buf, kDirectAlign, kWriteRun + store_.block_size_ + kDirectAlign) != 0) {
      return ResourceExhaustedError("no memory for the pack write buffers");
    }
    free_buffers_.emplace_back(static_cast<uint8_t*>(buf));
    ++staging_allocated_;
  }
  while (free_buffers_.empty()) {
    RETURN_IF_ERROR(WaitForOldestWrite());
  }
  pending_ = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  staged_ = 0;
  return OkStatus();
}

void BlockStore::Writer::FreeAligned::operator()(uint8_t* p) const { std::free(p); }

Status BlockStore::Writer::Flush() {
  if (pending_size_ == 0) {
    return OkStatus();
  }
  RETURN_IF_ERROR(write_error_);
  std::filesystem::path path = store_.PackDataPath(pack_);
  uint64_t size = pending_size_;
  if (direct_ && size % kDirectAlign != 0) {
    // O_DIRECT writes whole 4 KiB sectors: a short last block (always staged, as the last
    // piece) is padded with zeros inside its own slot (the file system allocates that sector
    // either way; reads stop at the length).
    uint64_t padded = (size + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    std::memset(pending_.get() + staged_, 0, padded - size);
    pending_pieces_.back().second += padded - size;
    size = padded;
  }
  if (store_.write_fault_) {
    RETURN_IF_ERROR(store_.write_fault_(pending_size_).WithPrefix("writing " + path.string()));
  }
  while (in_flight_.size() >= kWritesInFlight) {
    RETURN_IF_ERROR(WaitForOldestWrite());
  }
  uint64_t offset = pending_offset_;
  uint64_t end = offset + size;
  uint64_t writeback_from = end;
  if (direct_) {
    Preallocate(end);
  } else if (end - synced_until_ >= kWritebackStep) {
    // Start writeback now (asynchronously) so the fsync in Seal has little left to do.
    writeback_from = synced_until_;
    synced_until_ = end;
  }
  written_end_ = std::max(written_end_, end);
  InFlight write;
  write.buffer = std::move(pending_);
  std::vector<struct iovec> iov;
  iov.reserve(pending_pieces_.size());
  for (const auto& [p, n] : pending_pieces_) {
    iov.push_back({const_cast<uint8_t*>(p), n});
  }
  pending_pieces_.clear();
  pending_size_ = 0;
  staged_ = 0;
  // The job drops the holds on lent buffers as soon as they are written, so the scan reuses
  // them at once.
  std::packaged_task<Status()> job([fd = fd_, iov = std::move(iov),
                                    holds = std::move(pending_holds_), offset, end, writeback_from,
                                    path = std::move(path)]() mutable {
    Status s = PwritevFull(fd, iov, offset, path);
    holds.clear();
    if (s.ok() && writeback_from < end) {
      ::sync_file_range(fd, static_cast<off_t>(writeback_from),
                        static_cast<off_t>(end - writeback_from), SYNC_FILE_RANGE_WRITE);
    }
    return s;
  });
  pending_holds_.clear();
  write.done = job.get_future();
  in_flight_.push_back(std::move(write));
  StartWrite(std::move(job));
  return OkStatus();
}

void BlockStore::Writer::StartWrite(std::packaged_task<Status()> job) {
  std::lock_guard<std::mutex> lock(write_mu_);
  write_jobs_.push_back(std::move(job));
  if (write_threads_.size() < std::min(kWritesInFlight, in_flight_.size())) {
    write_threads_.emplace_back([this] {
      while (true) {
        std::packaged_task<Status()> next;
        {
          std::unique_lock<std::mutex> lock(write_mu_);
          write_cv_.wait(lock, [&] { return write_stop_ || !write_jobs_.empty(); });
          if (write_jobs_.empty()) {
            return;  // stopped
          }
          next = std::move(write_jobs_.front());
          write_jobs_.pop_front();
        }
        next();
      }
    });
  }
  write_cv_.notify_one();
}

void BlockStore::Writer::StopWriteThreads() {
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    write_stop_ = true;
  }
  write_cv_.notify_all();
  for (std::thread& t : write_threads_) {
    t.join();
  }
  write_threads_.clear();
}

void BlockStore::Writer::Preallocate(uint64_t end) {
  if (!preallocate_ || end <= allocated_) {
    return;
  }
  uint64_t target =
      std::max({end, allocated_ + std::min(kPreallocMax, std::max(kPreallocMin, allocated_))});
  // Unwritten extents read as zeros and are trimmed by Seal (or removed with an unsealed pack);
  // a refusal (no space for the extra, or no fallocate) only costs parallelism: the writes then
  // extend the file as before, and a real shortage of space fails the write itself.
  if (::fallocate(fd_, 0, static_cast<off_t>(allocated_),
                  static_cast<off_t>(target - allocated_)) != 0) {
    preallocate_ = false;
    return;
  }
  allocated_ = target;
}

Status BlockStore::Writer::WaitForOldestWrite() {
  InFlight write = std::move(in_flight_.front());
  in_flight_.pop_front();
  Status s = write.done.get();
  if (write.buffer != nullptr) {
    free_buffers_.push_back(std::move(write.buffer));
  }
  if (!s.ok() && write_error_.ok()) {
    write_error_ = s;
  }
  return write_error_;
}

Status BlockStore::Writer::WaitForWrites() {
  while (!in_flight_.empty()) {
    WaitForOldestWrite().IgnoreError();
  }
  return write_error_;
}

Status BlockStore::Writer::Seal() {
  if (sealed_) {
    return OkStatus();
  }
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(WaitForWrites());
  if (slots_.empty()) {
    sealed_ = true;
    return OkStatus();
  }
  std::filesystem::path data_path = store_.PackDataPath(pack_);
  // Drop the preallocated tail (also after a refused fallocate, which may have extended the
  // file part of the way).
  if (direct_ && ::ftruncate(fd_, static_cast<off_t>(written_end_)) != 0) {
    return ErrnoStatus("trimming " + data_path.string());
  }
  if (::fdatasync(fd_) != 0) {
    return ErrnoStatus("syncing " + data_path.string());
  }
  std::string raw;
  raw.reserve(kIndexHeader + slots_.size() * kIndexRecord + sizeof(BlockHash));
  raw.append(kIndexMagic, sizeof(kIndexMagic));
  uint32_t bs = store_.block_size_;
  uint32_t count = static_cast<uint32_t>(slots_.size());
  raw.append(reinterpret_cast<const char*>(&bs), sizeof(bs));
  raw.append(reinterpret_cast<const char*>(&count), sizeof(count));
  for (const StoredBlock& s : slots_) {
    raw.append(reinterpret_cast<const char*>(s.hash.data()), s.hash.size());
    raw.append(reinterpret_cast<const char*>(&s.length), sizeof(s.length));
  }
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
  raw.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  if (store_.write_fault_) {
    RETURN_IF_ERROR(store_.write_fault_(raw.size())
                        .WithPrefix("writing " + store_.PackIndexPath(pack_).string()));
  }
  RETURN_IF_ERROR(WriteFileAtomic(store_.PackIndexPath(pack_), raw));
  ::close(fd_);
  fd_ = -1;
  sealed_ = true;
  // The store knows the sealed pack's index already (Describe and Read need not read it back).
  int read_fd = ::open(data_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (read_fd >= 0) {
    std::lock_guard<std::mutex> lock(store_.packs_mu_);
    auto [pack, inserted] = store_.packs_.try_emplace(pack_);
    if (inserted) {
      pack->second.fd = read_fd;
      pack->second.slots = std::move(slots_);
    } else {
      ::close(read_fd);
    }
  }
  return OkStatus();
}

}  // namespace lifeboat::snapshot
