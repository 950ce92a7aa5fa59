#include "engines/storage/blob_store.h"

#include <cstring>

namespace lifeboat::storage {

namespace {
constexpr size_t kMaxNameLength = 512;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
}  // namespace

Status ValidateBlobName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("invalid blob name \"" + std::string(name) + "\": " + why);
  };
  if (name.empty()) {
    return bad("empty");
  }
  if (name.size() > kMaxNameLength) {
    return bad("longer than 512 bytes");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view part = name.substr(start, end - start);
    if (part.empty()) {
      return bad("empty path component");
    }
    if (part[0] == '.') {
      return bad("a component starts with '.'");
    }
    for (char c : part) {
      if (!IsNameChar(c)) {
        return bad("only [A-Za-z0-9._-] and '/' are allowed");
      }
    }
    start = end + 1;
  }
  return OkStatus();
}

StatusOr<std::pair<uint64_t, uint64_t>> ResolveRange(std::string_view name, uint64_t size,
                                                     const ByteRange& range) {
  if (range.offset > size) {
    return OutOfRangeError("blob " + std::string(name) + ": offset " +
                           std::to_string(range.offset) + " is beyond its size " +
                           std::to_string(size));
  }
  uint64_t end = size;
  if (range.length.has_value()) {
    if (*range.length > size - range.offset) {
      return OutOfRangeError("blob " + std::string(name) + ": range " +
                             std::to_string(range.offset) + "+" + std::to_string(*range.length) +
                             " exceeds its size " + std::to_string(size));
    }
    end = range.offset + *range.length;
  }
  return std::make_pair(range.offset, end);
}

StatusOr<const char*> BlobStore::GetInto(std::string_view name, uint64_t offset, uint64_t length,
                                         char* space) {
  ASSIGN_OR_RETURN(std::string data, Get(name, ByteRange{offset, length}));
  std::memcpy(space, data.data(), data.size());
  return static_cast<const char*>(space);
}

}  // namespace lifeboat::storage
