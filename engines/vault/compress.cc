#include "engines/vault/compress.h"

#include <zstd.h>

#include <cstring>
#include <memory>

namespace lifeboat::vault {

namespace {
// Blobs up to this size are compressed without a probe (small files: mostly text).
constexpr size_t kProbeAbove = 128 << 10;
// The probe: this many bytes at 1/4, 1/2 and 3/4 of the blob, compressed together.
constexpr size_t kProbeWindow = 4 << 10;
constexpr size_t kProbeWindows = 3;
constexpr double kMinSavings = 0.97;
constexpr size_t kTinyBlob = 64;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

size_t CompressTo(char* out, size_t capacity, std::string_view in, int level) {
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out, capacity, in.data(), in.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

// A zstd level-1 probe of three 4 KiB windows (at 1/4, 1/2 and 3/4): false when they do not
// shrink by kMinSavings (random or already-compressed data), so the whole blob is stored raw.
// Three small windows see a mixed blob better than one large one, and cost a random 256 KiB
// chunk ~10 us instead of ~30 us for a 64 KiB window (zstd -1 runs ~1-2 GB/s on random data).
bool WorthCompressing(std::string_view raw) {
  if (raw.size() <= kProbeAbove) {
    return true;
  }
  char sample[kProbeWindows * kProbeWindow];
  for (size_t i = 0; i < kProbeWindows; ++i) {
    std::memcpy(sample + i * kProbeWindow, raw.data() + raw.size() * (i + 1) / (kProbeWindows + 1),
                kProbeWindow);
  }
  thread_local ScratchBuffer probe;
  size_t cap = ZSTD_compressBound(sizeof(sample));
  size_t n = CompressTo(probe.Reserve(cap), cap, std::string_view(sample, sizeof(sample)), 1);
  return n != 0 && static_cast<double>(n) <= kMinSavings * sizeof(sample);
}
}  // namespace

std::optional<std::string_view> MaybeCompressTo(std::string_view raw, int level,
                                                ScratchBuffer& scratch) {
  if (level <= 0 || raw.size() < kTinyBlob || !WorthCompressing(raw)) {
    return std::nullopt;
  }
  size_t cap = ZSTD_compressBound(raw.size());
  char* out = scratch.Reserve(cap);
  size_t n = CompressTo(out, cap, raw, level);
  if (n == 0 || static_cast<double>(n) > kMinSavings * static_cast<double>(raw.size())) {
    return std::nullopt;
  }
  return std::string_view(out, n);
}

Compressed MaybeCompress(std::string_view raw, int level) {
  Compressed result;
  ScratchBuffer scratch;
  auto frame = MaybeCompressTo(raw, level, scratch);
  if (frame.has_value()) {
    result.compressed = true;
    result.data.assign(*frame);
  }
  return result;
}

Status DecompressTo(std::string_view frame, char* out, size_t raw_size) {
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out, raw_size, frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    return DataLossError(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  if (n != raw_size) {
    return DataLossError("zstd frame expanded to " + std::to_string(n) + " bytes, expected " +
                         std::to_string(raw_size));
  }
  return OkStatus();
}

StatusOr<std::string> Decompress(std::string_view frame, size_t raw_size) {
  std::string out(raw_size, '\0');
  RETURN_IF_ERROR(DecompressTo(frame, out.data(), raw_size));
  return out;
}

}  // namespace lifeboat::vault
