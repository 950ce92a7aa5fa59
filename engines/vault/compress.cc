#include "engines/vault/compress.h"

#include <zstd.h>

#include <memory>

namespace lifeboat::vault {

namespace {
constexpr size_t kSampleSize = 64 << 10;
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

size_t CompressInto(std::string& out, std::string_view in, int level) {
  out.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) {
    return 0;
  }
  out.resize(n);
  return n;
}
}  // namespace

Compressed MaybeCompress(std::string_view raw, int level) {
  Compressed result;
  if (level <= 0 || raw.size() < kTinyBlob) {
    return result;
  }
  if (raw.size() > 2 * kSampleSize) {
    std::string sample;
    size_t n = CompressInto(sample, raw.substr(raw.size() / 2, kSampleSize), 1);
    if (n == 0 || static_cast<double>(n) > kMinSavings * kSampleSize) {
      return result;
    }
  }
  size_t n = CompressInto(result.data, raw, level);
  if (n == 0 || static_cast<double>(n) > kMinSavings * static_cast<double>(raw.size())) {
    result.data.clear();
    return result;
  }
  result.compressed = true;
  return result;
}

StatusOr<std::string> Decompress(std::string_view frame, size_t raw_size) {
  std::string out(raw_size, '\0');
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    return DataLossError(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  if (n != raw_size) {
    return DataLossError("zstd frame expanded to " + std::to_string(n) + " bytes, expected " +
                         std::to_string(raw_size));
  }
  return out;
}

}  // namespace lifeboat::vault
