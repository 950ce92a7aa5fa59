#pragma once

// zstd that skips incompressible data: a 64 KiB sample is compressed at level 1 first; when it
// does not shrink by at least 3 %, the blob is stored raw (random media, already-compressed files).
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::vault {

struct Compressed {
  bool compressed = false;
  std::string data;  // the zstd frame, or empty when `compressed` is false (use the input)
};

Compressed MaybeCompress(std::string_view raw, int level);
// Decompresses a frame that must expand to exactly `raw_size` bytes; kDataLoss otherwise.
StatusOr<std::string> Decompress(std::string_view frame, size_t raw_size);

}  // namespace lifeboat::vault
