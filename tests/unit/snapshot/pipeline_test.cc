// The scan and write pipeline of the block layer: pack writes with several runs in flight keep
// every block in its slot, a failed run fails the writer without leaving a pack, reads through a
// mapping of the source agree with pread and survive a source truncated while mapped, and the
// figures Create returns are those List computes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <set>

#include "engines/snapshot/blocks.h"
#include "engines/snapshot/snapshot.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/snapshot/snapshot_test_util.h"

namespace lifeboat::snapshot {
namespace {

using ::lifeboat::testing::TempDir;
using namespace ::lifeboat::snapshot::testing;

constexpr uint32_t kBs = 16 * 1024;

std::vector<std::filesystem::path> FilesEndingWith(const std::filesystem::path& dir,
                                                   const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().string().ends_with(ext)) {
      out.push_back(e.path());
    }
  }
  return out;
}

TEST(PackWriterTest, ManyRunsInFlightKeepEveryBlockInItsSlot) {
  TempDir tmp;
  auto store = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Sweep({}).ok());
  auto writer = (*store)->NewWriter();
  ASSERT_TRUE(writer.ok()) << writer.status();
  // 3000 blocks (47 MiB): several 8 MiB runs, written several at a time; every 7th block repeats
  // an earlier one (deduplicated, so it breaks no run: the slots stay consecutive).
  std::mt19937_64 rng(11);
  std::vector<std::string> blocks;
  std::vector<BlockAddress> addresses;
  for (int i = 0; i < 3000; ++i) {
    std::string data = (i % 7 == 6) ? blocks[rng() % blocks.size()] : RandomBytes(rng, kBs);
    if (i == 2999) {
      data = RandomBytes(rng, 1234);  // a short last block
    }
    auto a = (*writer)->Put(HashBlock({reinterpret_cast<const uint8_t*>(data.data()), data.size()}),
                            {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
    ASSERT_TRUE(a.ok()) << a.status();
    blocks.push_back(std::move(data));
    addresses.push_back(*a);
  }
  ASSERT_TRUE((*writer)->Seal().ok());
  const uint64_t stored = (*writer)->new_blocks();
  writer->reset();

  // The pack holds exactly its blocks: no preallocated tail is left behind.
  auto packs = FilesEndingWith(tmp / "blocks", ".data");
  ASSERT_EQ(packs.size(), 1u);
  EXPECT_LE(std::filesystem::file_size(packs[0]), stored * kBs);
  EXPECT_LE(Allocated(packs[0]), stored * kBs);

  // Read back through a fresh store (the sealed index) and by address.
  auto reopened = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(reopened.ok());
  std::unordered_set<uint64_t> live;
  for (const BlockAddress& a : addresses) {
    live.insert(a.Key());
  }
  ASSERT_TRUE((*reopened)->Sweep(live).ok());
  std::vector<uint8_t> out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_TRUE((*reopened)->Read(addresses[i], out).ok()) << i;
    ASSERT_EQ(std::string(out.begin(), out.end()), blocks[i]) << "block " << i;
  }
  ASSERT_TRUE(
      (*reopened)->ReadRun({addresses[0].pack, 0}, static_cast<uint32_t>(stored), out).ok());
}

TEST(PackWriterTest, AFailedRunFailsTheWriterAndLeavesNoPack) {
  TempDir tmp;
  auto store = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Sweep({}).ok());
  int writes = 0;
  (*store)->set_write_fault([&](uint64_t) {
    return ++writes == 3 ? ResourceExhaustedError("no space left on device") : OkStatus();
  });
  auto writer = (*store)->NewWriter();
  ASSERT_TRUE(writer.ok());
  std::mt19937_64 rng(12);
  Status failed;
  for (int i = 0; i < 2000 && failed.ok(); ++i) {
    std::string data = RandomBytes(rng, kBs);
    auto a = (*writer)->Put(HashBlock({reinterpret_cast<const uint8_t*>(data.data()), data.size()}),
                            {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
    failed = a.status();
  }
  if (failed.ok()) {
    failed = (*writer)->Seal();
  }
  EXPECT_EQ(failed.code(), StatusCode::kResourceExhausted) << failed;
  writer->reset();  // an unsealed writer removes its pack
  EXPECT_TRUE(FilesEndingWith(tmp / "blocks", ".data").empty());
  EXPECT_TRUE(FilesEndingWith(tmp / "blocks", ".idx").empty());
}

// 48 MiB with holes, zero blocks and data: six 8 MiB scan chunks.
constexpr uint64_t kFileBlocks = 3072;

std::filesystem::path MakeScanFile(const TempDir& tmp, std::mt19937_64& rng) {
  auto path = tmp / "src.img";
  MakeSparse(path, kFileBlocks * kBs);
  for (uint64_t b = 0; b < kFileBlocks; ++b) {
    if (b % 5 == 4) {
      continue;  // hole
    }
    WriteAt(path, b * kBs, b % 11 == 3 ? std::string(kBs, '\0') : RandomBytes(rng, kBs));
  }
  return path;
}

StatusOr<std::vector<BlockInfo>> Scan(const std::filesystem::path& path, const ScanOptions& o) {
  return HashFile(path, o);
}

TEST(MappedScanTest, AgreesWithPread) {
  TempDir tmp;
  std::mt19937_64 rng(13);
  auto path = MakeScanFile(tmp, rng);
  const FingerprintKey key = NewFingerprintKey();
  ScanOptions first;
  first.block_size = kBs;
  first.fingerprint_key = &key;
  auto base = Scan(path, first);
  ASSERT_TRUE(base.ok()) << base.status();
  std::vector<Fingerprint> known;
  for (const BlockInfo& b : *base) {
    known.push_back(b.fingerprint);
  }
  // Change some blocks: new data, zeros, data into a hole.
  for (uint64_t b : {0ull, 17ull, 600ull, 1500ull, 3071ull}) {
    WriteAt(path, b * kBs, RandomBytes(rng, kBs));
  }
  WriteAt(path, 33 * kBs, std::string(kBs, '\0'));
  for (int threads : {1, 2, 3}) {
    ScanOptions o = first;
    o.previous = known;
    o.threads = threads;
    auto mapped = Scan(path, o);
    o.no_mapping = true;
    auto pread = Scan(path, o);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ASSERT_TRUE(pread.ok()) << pread.status();
    ASSERT_EQ(mapped->size(), pread->size());
    uint64_t changed = 0;
    for (size_t i = 0; i < mapped->size(); ++i) {
      const BlockInfo& m = (*mapped)[i];
      const BlockInfo& p = (*pread)[i];
      ASSERT_EQ(m.index, i);
      ASSERT_EQ(m.zero, p.zero) << i;
      ASSERT_EQ(m.unchanged, p.unchanged) << i;
      ASSERT_EQ(m.fingerprint, p.fingerprint) << i;
      if (!m.zero && !m.unchanged) {
        ASSERT_EQ(m.hash, p.hash) << i;
        ++changed;
      }
    }
    // Blocks 0, 17, 600, 1500 and 3071 (a former zero block or hole counts too).
    EXPECT_EQ(changed, 5u);
  }
}

// A source truncated while a scan reads it through a mapping: the accesses beyond the new end
// raise SIGBUS, which the scan turns into a pread (zeros beyond the end) instead of dying; the
// caller's stat check then reports the change.
TEST(MappedScanTest, SourceTruncatedWhileMappedReadsAsZerosInsteadOfCrashing) {
  TempDir tmp;
  std::mt19937_64 rng(14);
  auto path = MakeScanFile(tmp, rng);
  const FingerprintKey key = NewFingerprintKey();
  ScanOptions o;
  o.block_size = kBs;
  o.fingerprint_key = &key;
  auto base = Scan(path, o);
  ASSERT_TRUE(base.ok());
  std::vector<Fingerprint> known;
  for (const BlockInfo& b : *base) {
    known.push_back(b.fingerprint);
  }
  o.previous = known;
  o.threads = 1;  // one hashing thread, at most three chunks ahead of the consumer
  const uint64_t new_size = 10ull << 20;
  bool truncated = false;
  o.progress = [&](uint64_t, uint64_t) {
    if (!truncated) {
      truncated = true;
      ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(new_size)), 0);
    }
  };
  auto fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<BlockInfo> got;
  Status s = ScanFile(fd, kFileBlocks * kBs, o, [&](const BlockInfo& b, std::span<const uint8_t>) {
    got.push_back(b);
    return OkStatus();
  });
  ::close(fd);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(truncated);
  ASSERT_EQ(got.size(), kFileBlocks);
  for (size_t i = 0; i < got.size(); ++i) {
    const BlockInfo& b = got[i];
    if (i * kBs < new_size) {
      EXPECT_TRUE(b.zero || b.unchanged) << i;  // read before or after: the same bytes
    } else if (i >= 4 * 512 + 16) {
      // The last chunk is read only after the truncation (three buffers: the consumer has
      // released at most one when the first progress call truncates).
      EXPECT_TRUE(b.zero) << i;
    } else {
      EXPECT_TRUE(b.zero || b.unchanged) << i;
    }
  }
}

// A scan lends its buffers: a sink that keeps holds on up to held_buffers of them finds their
// bytes unchanged until it drops them (the scan reuses a buffer only when its last hold is gone),
// and the scan does not stall on them.
TEST(LentScanTest, HeldBuffersAreNotReusedUntilReleased) {
  TempDir tmp;
  std::mt19937_64 rng(18);
  auto path = MakeScanFile(tmp, rng);
  for (int threads : {1, 2}) {
    ScanOptions o;
    o.block_size = kBs;
    o.threads = threads;
    o.held_buffers = 3;
    struct Kept {
      BufferHold hold;
      std::span<const uint8_t> data;
      BlockHash hash;
    };
    std::deque<Kept> kept;
    std::set<const void*> held;
    uint64_t checked = 0;
    auto check_oldest = [&] {
      EXPECT_EQ(HashBlock(kept.front().data), kept.front().hash);
      ++checked;
      kept.pop_front();
    };
    int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    Status s =
        ScanFile(fd, kFileBlocks * kBs, o,
                 [&](const BlockInfo& b, std::span<const uint8_t> data, const BufferHold& hold) {
                   if (b.zero) {
                     EXPECT_EQ(hold, nullptr);
                     return OkStatus();
                   }
                   EXPECT_NE(hold, nullptr);
                   kept.push_back({hold, data, b.hash});
                   held.clear();
                   for (const Kept& k : kept) {
                     held.insert(k.hold.get());
                   }
                   // Keep the blocks of the last three buffers.
                   while (held.size() > 3) {
                     const void* oldest = kept.front().hold.get();
                     while (!kept.empty() && kept.front().hold.get() == oldest) {
                       check_oldest();
                     }
                     held.erase(oldest);
                   }
                   return OkStatus();
                 });
    ::close(fd);
    ASSERT_TRUE(s.ok()) << s;
    while (!kept.empty()) {
      check_oldest();
    }
    EXPECT_GT(checked, kFileBlocks / 2);
  }
}

// Blocks lent by a scan go to the pack from the scan's buffers; copied ones (a short last block)
// and deduplicated ones mix with them in the same runs. Every block reads back as the source.
TEST(LentScanTest, LentBlocksAreWrittenInPlace) {
  TempDir tmp;
  std::mt19937_64 rng(19);
  auto path = MakeScanFile(tmp, rng);
  // Repeats of earlier blocks (deduplicated) and a short last block.
  const std::string repeated = RandomBytes(rng, kBs);
  for (uint64_t b : {100ull, 101ull, 900ull, 2000ull}) {
    WriteAt(path, b * kBs, repeated);
  }
  const uint64_t size = kFileBlocks * kBs + 5000;
  const std::string tail = RandomBytes(rng, 5000);
  WriteAt(path, kFileBlocks * kBs, tail);
  auto store = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Sweep({}).ok());
  auto writer = (*store)->NewWriter();
  ASSERT_TRUE(writer.ok());
  ScanOptions o;
  o.block_size = kBs;
  o.threads = 2;
  o.held_buffers = BlockStore::Writer::kHeldBuffers;
  std::vector<BlockInfo> infos;
  std::vector<BlockAddress> addresses;
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  Status s = ScanFile(
      fd, size, o,
      [&](const BlockInfo& b, std::span<const uint8_t> data, const BufferHold& hold) -> Status {
        infos.push_back(b);
        if (b.zero) {
          addresses.push_back({});
          return OkStatus();
        }
        ASSIGN_OR_RETURN(BlockAddress a, (*writer)->Put(b.hash, data, hold));
        addresses.push_back(a);
        return OkStatus();
      });
  ::close(fd);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE((*writer)->Seal().ok());
  writer->reset();
  ASSERT_EQ(infos.size(), kFileBlocks + 1);
  EXPECT_EQ(addresses[100], addresses[900]);

  auto reopened = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(reopened.ok());
  std::unordered_set<uint64_t> live;
  for (const BlockAddress& a : addresses) {
    if (a.pack != 0) {
      live.insert(a.Key());
    }
  }
  ASSERT_TRUE((*reopened)->Sweep(live).ok());
  std::string source = ReadAll(path);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < infos.size(); ++i) {
    if (infos[i].zero) {
      continue;
    }
    ASSERT_TRUE((*reopened)->Read(addresses[i], out).ok()) << i;
    ASSERT_EQ(std::string(out.begin(), out.end()), source.substr(i * kBs, infos[i].length))
        << "block " << i;
  }
}

// The guard only catches faults inside a guarded read: any other SIGBUS still kills the process.
TEST(MappedScanDeathTest, OtherSigbusStillKills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir tmp;
  std::mt19937_64 rng(15);
  auto path = MakeScanFile(tmp, rng);
  EXPECT_EXIT(
      {
        const FingerprintKey key = NewFingerprintKey();
        ScanOptions o;
        o.block_size = kBs;
        o.fingerprint_key = &key;
        std::vector<Fingerprint> known(kFileBlocks);
        known[0][0] = 1;
        o.previous = known;  // a mapped scan: installs the SIGBUS handler
        if (!HashFile(path, o).ok()) {
          ::_exit(3);
        }
        int fd = ::open(path.c_str(), O_RDWR);
        void* map = ::mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED || ::ftruncate(fd, 0) != 0) {
          ::_exit(4);
        }
        // This child dies by the signal, so its TempDir's destructor never runs: remove the
        // directory now (the mapping stays, the file is only unlinked).
        std::error_code ec;
        std::filesystem::remove_all(tmp.path(), ec);
        volatile uint8_t c = static_cast<const uint8_t*>(map)[4096];
        (void)c;
        ::_exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

// ---- fingerprint function 2 against a plain bit-by-bit evaluation ----

using U128 = std::array<uint64_t, 2>;  // little-endian: [0] holds x^0..x^63

U128 Load(const uint8_t* p) {
  U128 v{};
  std::memcpy(v.data(), p, 16);
  return v;
}

// a * b mod x^128 + x^7 + x^2 + x + 1, one bit at a time.
U128 SlowMul(U128 a, U128 b) {
  U128 r{};
  for (int i = 0; i < 128; ++i) {
    if ((b[i / 64] >> (i % 64)) & 1) {
      r[0] ^= a[0];
      r[1] ^= a[1];
    }
    const bool carry = (a[1] >> 63) & 1;
    a[1] = (a[1] << 1) | (a[0] >> 63);
    a[0] <<= 1;
    if (carry) {
      a[0] ^= 0x87;
    }
  }
  return r;
}

Fingerprint SlowPoly(const FingerprintKey& key, const std::string& data) {
  uint8_t h_bytes[32] = {};
  uint8_t zero[16] = {};
  int len = 0;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), nullptr, key.data(), nullptr), 1);
  EVP_CIPHER_CTX_set_padding(c, 0);
  EXPECT_EQ(EVP_EncryptUpdate(c, h_bytes, &len, zero, 16), 1);
  EVP_CIPHER_CTX_free(c);
  const U128 h = Load(h_bytes);
  U128 acc{};
  auto step = [&](U128 m) {
    acc[0] ^= m[0];
    acc[1] ^= m[1];
    acc = SlowMul(acc, h);
  };
  size_t i = 0;
  for (; i + 16 <= data.size(); i += 16) {
    step(Load(reinterpret_cast<const uint8_t*>(data.data() + i)));
  }
  if (i < data.size()) {
    uint8_t last[16] = {};
    std::memcpy(last, data.data() + i, data.size() - i);
    step(Load(last));
  }
  step({static_cast<uint64_t>(data.size()) * 8, 0});
  Fingerprint out{};
  std::memcpy(out.data(), acc.data(), 16);
  return out;
}

TEST(FingerprintTest, PolynomialFunctionMatchesABitByBitEvaluation) {
  if (FingerprintFunction() != kFingerprintPoly) {
    GTEST_SKIP() << "this CPU has no VPCLMULQDQ: fingerprints use AES-128-GMAC";
  }
  std::mt19937_64 rng(17);
  for (int k = 0; k < 3; ++k) {
    const FingerprintKey key = NewFingerprintKey();
    Fingerprinter fp(key);
    for (size_t n :
         {0, 1, 15, 16, 17, 255, 256, 257, 511, 512, 768, 800, 4096, 12544, 16384, 16389, 65536}) {
      std::string data = RandomBytes(rng, n);
      EXPECT_EQ(fp.Of({reinterpret_cast<const uint8_t*>(data.data()), data.size()}),
                SlowPoly(key, data))
          << n;
    }
  }
}

TEST(FingerprintTest, EveryBitOfABlockCountsAndTrailingZerosToo) {
  const FingerprintKey key = NewFingerprintKey();
  for (int function : {kFingerprintGmac, FingerprintFunction()}) {
    Fingerprinter fp(key, function);
    std::mt19937_64 rng(18);
    std::string block = RandomBytes(rng, kBs);
    auto of = [&](const std::string& d) {
      return fp.Of({reinterpret_cast<const uint8_t*>(d.data()), d.size()});
    };
    const Fingerprint base = of(block);
    std::set<Fingerprint> seen{base};
    for (size_t byte = 0; byte < block.size(); ++byte) {
      std::string changed = block;
      changed[byte] ^= static_cast<char>(1 << (byte % 8));
      ASSERT_TRUE(seen.insert(of(changed)).second) << "byte " << byte;
    }
    // Zero padding is not confused with data: a block and the same block plus zero bytes.
    std::string zeros(100, '\0');
    ASSERT_NE(of(zeros.substr(0, 99)), of(zeros));
    ASSERT_NE(of(block + std::string(5, '\0')), base);
  }
}

// ---- SHA-256 of two blocks at once (SHA-NI, interleaved) against OpenSSL ----

BlockHash OpensslSha256(const std::string& data) {
  BlockHash h{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), h.data(), &len, EVP_sha256(), nullptr);
  return h;
}

TEST(Sha256PairTest, EqualsOpensslForEveryPaddingCase) {
  RecordProperty("interleaved", HaveSha256Pair() ? "yes" : "no (OpenSSL fallback)");
  std::mt19937_64 rng(21);
  // Lengths around the one- and two-block padding boundaries (55/56, 63/64, 119/120), whole
  // 64-byte blocks, short last blocks of a file and unequal pairs (the fallback).
  const std::vector<std::pair<size_t, size_t>> lengths = {
      {0, 0},         {1, 1},         {55, 55},           {56, 56},       {63, 63},
      {64, 64},       {65, 65},       {119, 119},         {120, 120},     {127, 127},
      {128, 128},     {4096, 4096},   {12345, 12345},     {16383, 16383}, {16384, 16384},
      {65536, 65536}, {16384, 12288}, {1 << 20, 1 << 20}, {100, 16384}};
  for (const auto& [na, nb] : lengths) {
    const std::string a = RandomBytes(rng, na);
    const std::string b = RandomBytes(rng, nb);
    BlockHash ha{}, hb{};
    HashBlockPair({reinterpret_cast<const uint8_t*>(a.data()), a.size()},
                  {reinterpret_cast<const uint8_t*>(b.data()), b.size()}, ha, hb);
    EXPECT_EQ(ha, OpensslSha256(a)) << na << "/" << nb;
    EXPECT_EQ(hb, OpensslSha256(b)) << na << "/" << nb;
  }
  // The two lanes do not mix: the same block in both lanes, and one bit changed in either.
  std::string block = RandomBytes(rng, kBs);
  std::string other = block;
  other[kBs / 2] ^= 0x10;
  BlockHash h1{}, h2{};
  const auto span = [](const std::string& d) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(d.data()), d.size());
  };
  HashBlockPair(span(block), span(other), h1, h2);
  EXPECT_EQ(h1, OpensslSha256(block));
  EXPECT_EQ(h2, OpensslSha256(other));
  HashBlockPair(span(other), span(block), h1, h2);
  EXPECT_EQ(h1, OpensslSha256(other));
  EXPECT_EQ(h2, OpensslSha256(block));
}

// A scan hashes its new blocks two at a time: every block's hash (odd runs, zero blocks between
// new ones, holes, a short last block) is the SHA-256 of its bytes.
TEST(Sha256PairTest, ScanHashesEveryBlockAsOpensslDoes) {
  TempDir tmp;
  std::mt19937_64 rng(22);
  auto path = MakeScanFile(tmp, rng);
  // A short last block, and zero blocks splitting runs into odd lengths.
  WriteAt(path, 3072ull * kBs, RandomBytes(rng, 5000));
  for (uint64_t b : {3ull, 8ull, 9ull, 14ull}) {
    WriteAt(path, b * kBs, std::string(kBs, '\0'));
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const FingerprintKey key = NewFingerprintKey();
  std::vector<Fingerprint> known;
  for (int threads : {1, 2}) {
    ScanOptions o;
    o.block_size = kBs;
    o.threads = threads;
    o.fingerprint_key = &key;
    auto blocks = Scan(path, o);
    ASSERT_TRUE(blocks.ok()) << blocks.status();
    uint64_t hashed = 0;
    known.clear();
    for (const BlockInfo& b : *blocks) {
      known.push_back(b.fingerprint);
      if (b.zero) {
        continue;
      }
      ASSERT_EQ(b.hash, OpensslSha256(bytes.substr(b.index * kBs, b.length))) << b.index;
      ++hashed;
    }
    EXPECT_GT(hashed, 100u);
  }
  // An incremental scan (through the mapping): changed blocks side by side (pairs), one alone,
  // data written into a hole (44) and a changed short last block.
  for (uint64_t b = 40; b < 47; ++b) {
    WriteAt(path, b * kBs, RandomBytes(rng, kBs));
  }
  WriteAt(path, 1000 * kBs, RandomBytes(rng, kBs));
  WriteAt(path, 3072ull * kBs, RandomBytes(rng, 5000));
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ScanOptions o;
  o.block_size = kBs;
  o.fingerprint_key = &key;
  o.previous = known;
  auto blocks = Scan(path, o);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  uint64_t changed = 0;
  for (const BlockInfo& b : *blocks) {
    if (b.zero || b.unchanged) {
      continue;
    }
    ASSERT_EQ(b.hash, OpensslSha256(bytes.substr(b.index * kBs, b.length))) << b.index;
    ++changed;
  }
  EXPECT_EQ(changed, 9u);
}

TEST(SnapshotFiguresTest, CreateReturnsTheFiguresListComputes) {
  TempDir tmp;
  StoreOptions so;
  so.block_size = 4096;
  auto store = SnapshotStore::Open(tmp / "store", so);
  ASSERT_TRUE(store.ok());
  std::mt19937_64 rng(16);
  auto img = tmp / "disk.img";
  MakeSparse(img, 4096 * 4096);
  for (uint64_t b = 0; b < 4096; b += 3) {
    WriteAt(img, b * 4096, RandomBytes(rng, 4096));
  }
  auto other = tmp / "other.img";
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 100; ++i) {
      WriteAt(img, (rng() % 4096) * 4096, RandomBytes(rng, 4096));
    }
    std::filesystem::copy_file(img, other, std::filesystem::copy_options::overwrite_existing);
    for (const auto& [volume, source] : {std::pair{"disk", img}, std::pair{"copy", other}}) {
      auto c = (*store)->Create({.volume = volume, .source = source});
      ASSERT_TRUE(c.ok()) << c.status();
      auto listed = (*store)->Get(c->snapshot.id);
      ASSERT_TRUE(listed.ok());
      EXPECT_EQ(c->snapshot.used_bytes, listed->used_bytes) << round << volume;
      EXPECT_EQ(c->snapshot.exclusive_bytes, listed->exclusive_bytes) << round << volume;
    }
    if (round == 2) {
      auto list = (*store)->List();
      ASSERT_TRUE(list.ok());
      ASSERT_TRUE((*store)->Delete(list->front().id).ok());
    }
  }
}

}  // namespace
}  // namespace lifeboat::snapshot
