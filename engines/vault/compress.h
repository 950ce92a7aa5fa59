#pragma once

// zstd that skips incompressible data: for a blob over 128 KiB, three 4 KiB windows (at 1/4, 1/2
// and 3/4) are compressed at level 1 first; when they do not shrink by at least 3 %, the blob is
// stored raw (random media, already-compressed files).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::vault {

struct Compressed {
  bool compressed = false;
  std::string data;  // the zstd frame, or empty when `compressed` is false (use the input)
};

// A growable byte buffer that is reused between calls and never zero-filled (the data path keeps
// one per thread instead of allocating, and page-faulting in, a fresh buffer per chunk).
class ScratchBuffer {
 public:
  // At least `n` writable bytes; earlier contents are not kept when it grows.
  char* Reserve(size_t n) {
    if (n > capacity_) {
      data_ = std::make_unique_for_overwrite<char[]>(n);
      capacity_ = n;
    }
    return data_.get();
  }
  char* data() const { return data_.get(); }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

Compressed MaybeCompress(std::string_view raw, int level);
// The same decision, compressing into `scratch`: the zstd frame (a view into `scratch`), or
// nullopt when the blob is to be stored raw.
std::optional<std::string_view> MaybeCompressTo(std::string_view raw, int level,
                                                ScratchBuffer& scratch);
// Decompresses a frame into exactly `raw_size` bytes at `out`; kDataLoss otherwise.
Status DecompressTo(std::string_view frame, char* out, size_t raw_size);
// Decompresses a frame that must expand to exactly `raw_size` bytes; kDataLoss otherwise.
StatusOr<std::string> Decompress(std::string_view frame, size_t raw_size);

}  // namespace lifeboat::vault
