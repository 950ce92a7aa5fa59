#include "engines/vault/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/sha256_ni.h"
#include "engines/vault/scrypt.h"

namespace lifeboat::vault {

namespace {
constexpr size_t kHmacBlock = 64;
constexpr uint64_t kScryptMaxMemory = 256ull << 20;
constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// One cipher context per thread, reused: creating one per blob costs more than sealing 4 KiB.
EVP_CIPHER_CTX* ThreadCipherCtx() {
  thread_local CipherCtx ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}
}  // namespace

std::string ToHex(const uint8_t* data, size_t size) {
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0xf];
  }
  return out;
}

bool ParseDigest(std::string_view hex, Digest* out) {
  if (hex.size() != 64) {
    return false;
  }
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

StatusOr<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return InvalidArgumentError("hex string has an odd length");
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return InvalidArgumentError("invalid hex digit");
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

void RandomBytes(uint8_t* out, size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
}

Digest Sha256(std::string_view data) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

struct Hmac::State {
  EVP_MD_CTX* inner = nullptr;
  EVP_MD_CTX* outer = nullptr;
  // For Sum2 with SHA-NI: the SHA-256 states after the ipad and opad blocks.
  bool sha_ni = false;
  uint32_t inner_mid[8] = {};
  uint32_t outer_mid[8] = {};
};

namespace {
using sha256ni::PaddingBlocks;

Digest DigestOf(const uint32_t state[8]) {
  Digest d{};
  sha256ni::DigestOf(state, d.data());
  return d;
}
}  // namespace

Hmac::Hmac(const std::array<uint8_t, kKeySize>& key) : state_(std::make_unique<State>()) {
  uint8_t ipad[kHmacBlock];
  uint8_t opad[kHmacBlock];
  std::memset(ipad, 0x36, sizeof(ipad));
  std::memset(opad, 0x5c, sizeof(opad));
  for (size_t i = 0; i < key.size(); ++i) {
    ipad[i] ^= key[i];
    opad[i] ^= key[i];
  }
  if (sha256ni::Available()) {
    state_->sha_ni = true;
    std::memcpy(state_->inner_mid, sha256ni::kInitialState, sizeof(sha256ni::kInitialState));
    std::memcpy(state_->outer_mid, sha256ni::kInitialState, sizeof(sha256ni::kInitialState));
    sha256ni::Compress(state_->inner_mid, ipad, 1);
    sha256ni::Compress(state_->outer_mid, opad, 1);
  }
  state_->inner = EVP_MD_CTX_new();
  state_->outer = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->inner, EVP_sha256(), nullptr);
  EVP_DigestUpdate(state_->inner, ipad, sizeof(ipad));
  EVP_DigestInit_ex(state_->outer, EVP_sha256(), nullptr);
  EVP_DigestUpdate(state_->outer, opad, sizeof(opad));
}

Hmac::~Hmac() {
  EVP_MD_CTX_free(state_->inner);
  EVP_MD_CTX_free(state_->outer);
}

Digest Hmac::Sum(std::string_view data) const {
  thread_local EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Digest inner{};
  Digest out{};
  unsigned int len = 0;
  EVP_MD_CTX_copy_ex(ctx, state_->inner);
  EVP_DigestUpdate(ctx, data.data(), data.size());
  EVP_DigestFinal_ex(ctx, inner.data(), &len);
  EVP_MD_CTX_copy_ex(ctx, state_->outer);
  EVP_DigestUpdate(ctx, inner.data(), inner.size());
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  return out;
}

std::pair<Digest, Digest> Hmac::Sum2(std::string_view a, std::string_view b) const {
  const std::string_view both[2] = {a, b};
  Digest out[2];
  SumMany(both, 2, out);
  return {out[0], out[1]};
}

void Hmac::SumMany(const std::string_view* data, size_t n, Digest* out) const {
  if (!state_->sha_ni) {
    for (size_t i = 0; i < n; ++i) out[i] = Sum(data[i]);
    return;
  }
  // Each message goes through three segments in one stream: its whole 64-byte blocks (after
  // the ipad block, already in inner_mid), its 1-2 padding blocks, and the outer block (the
  // inner digest after the opad block, in outer_mid).
  struct Stream {
    size_t job = 0;
    bool busy = false;
    int segment = 0;
    uint32_t state[8];
    const uint8_t* p = nullptr;
    size_t blocks = 0;
    uint8_t pad[128];
  };
  size_t next = 0;
  // Moves `s` to its next non-empty segment, or its next message; false when none is left.
  auto ready = [&](Stream& s) {
    while (s.blocks == 0) {
      if (!s.busy) {
        if (next == n) return false;
        s.job = next++;
        s.busy = true;
        s.segment = 0;
        std::memcpy(s.state, state_->inner_mid, sizeof(s.state));
        s.p = reinterpret_cast<const uint8_t*>(data[s.job].data());
        s.blocks = data[s.job].size() / 64;
      } else if (s.segment == 0) {
        const std::string_view m = data[s.job];
        const size_t whole = m.size() / 64 * 64;
        s.segment = 1;
        s.blocks = PaddingBlocks(reinterpret_cast<const uint8_t*>(m.data()) + whole,
                                 m.size() - whole, 64 + m.size(), s.pad);
        s.p = s.pad;
      } else if (s.segment == 1) {
        Digest inner = DigestOf(s.state);
        s.segment = 2;
        std::memcpy(s.state, state_->outer_mid, sizeof(s.state));
        s.blocks = PaddingBlocks(inner.data(), inner.size(), 64 + inner.size(), s.pad);
        s.p = s.pad;
      } else {
        out[s.job] = DigestOf(s.state);
        s.busy = false;
      }
    }
    return true;
  };
  Stream a;
  Stream b;
  while (true) {
    const bool has_a = ready(a);
    const bool has_b = ready(b);
    if (has_a && has_b) {
      const size_t k = std::min(a.blocks, b.blocks);
      sha256ni::Compress2(a.state, a.p, b.state, b.p, k);
      a.p += 64 * k;
      a.blocks -= k;
      b.p += 64 * k;
      b.blocks -= k;
    } else if (has_a || has_b) {
      Stream& s = has_a ? a : b;
      sha256ni::Compress(s.state, s.p, s.blocks);
      s.p += 64 * s.blocks;
      s.blocks = 0;
    } else {
      break;
    }
  }
}

struct Sha256Stream::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256Stream::Sha256Stream() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(state_->ctx); }

void Sha256Stream::Update(const void* data, size_t size) {
  EVP_DigestUpdate(state_->ctx, data, size);
}

Digest Sha256Stream::Final() {
  Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, d.data(), &len);
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
  return d;
}

void SealTo(const std::array<uint8_t, kKeySize>& key, std::string_view plaintext,
            std::string_view aad, uint8_t* o) {
  RandomBytes(o, kNonceSize);
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), o) == 1;
  if (!aad.empty()) {
    ok = ok && EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                                 static_cast<int>(aad.size())) == 1;
  }
  ok = ok && EVP_EncryptUpdate(ctx, o + kNonceSize, &len,
                               reinterpret_cast<const uint8_t*>(plaintext.data()),
                               static_cast<int>(plaintext.size())) == 1;
  ok = ok && EVP_EncryptFinal_ex(ctx, o + kNonceSize + len, &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize,
                                 o + kNonceSize + plaintext.size()) == 1;
  if (!ok) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
}

std::string Seal(const std::array<uint8_t, kKeySize>& key, std::string_view plaintext,
                 std::string_view aad) {
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  SealTo(key, plaintext, aad, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

Status OpenTo(const std::array<uint8_t, kKeySize>& key, std::string_view sealed,
              std::string_view aad, uint8_t* out) {
  if (sealed.size() < kSealOverhead) {
    return DataLossError("encrypted blob is too short (" + std::to_string(sealed.size()) +
                         " bytes)");
  }
  const auto* in = reinterpret_cast<const uint8_t*>(sealed.data());
  size_t text = sealed.size() - kSealOverhead;
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), in) == 1;
  if (!aad.empty()) {
    ok = ok && EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                                 static_cast<int>(aad.size())) == 1;
  }
  ok = ok && EVP_DecryptUpdate(ctx, out, &len, in + kNonceSize, static_cast<int>(text)) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize,
                                 const_cast<uint8_t*>(in + kNonceSize + text)) == 1;
  ok = ok && EVP_DecryptFinal_ex(ctx, out + len, &len) == 1;
  if (!ok) {
    return DataLossError("authentication failed (wrong key or damaged data)");
  }
  return OkStatus();
}

StatusOr<std::string> Open(const std::array<uint8_t, kKeySize>& key, std::string_view sealed,
                           std::string_view aad) {
  if (sealed.size() < kSealOverhead) {
    return DataLossError("encrypted blob is too short (" + std::to_string(sealed.size()) +
                         " bytes)");
  }
  std::string out(sealed.size() - kSealOverhead, '\0');
  RETURN_IF_ERROR(OpenTo(key, sealed, aad, reinterpret_cast<uint8_t*>(out.data())));
  return out;
}

StatusOr<std::array<uint8_t, kKeySize>> Scrypt(std::string_view passphrase, std::string_view salt,
                                               const ScryptParams& params) {
  std::array<uint8_t, kKeySize> out{};
  if (ScryptSse2(passphrase, salt, params.n, params.r, params.p, kScryptMaxMemory, out.data(),
                 out.size())) {
    return out;
  }
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), params.n,
                     params.r, params.p, kScryptMaxMemory, out.data(), out.size()) != 1) {
    return InvalidArgumentError("scrypt failed for N=" + std::to_string(params.n) + " r=" +
                                std::to_string(params.r) + " p=" + std::to_string(params.p));
  }
  return out;
}

}  // namespace lifeboat::vault
