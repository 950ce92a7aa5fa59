#include "engines/storage/memory_blob_store.h"

namespace lifeboat::storage {

Status MemoryBlobStore::Put(std::string_view name, std::string_view data) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  std::lock_guard lock(mu_);
  auto [it, inserted] = blobs_.try_emplace(std::string(name), data);
  if (!inserted) {
    return AlreadyExistsError("blob " + std::string(name) + " already exists");
  }
  return OkStatus();
}

StatusOr<std::string> MemoryBlobStore::Get(std::string_view name, ByteRange range) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  std::lock_guard lock(mu_);
  auto it = blobs_.find(name);
  if (it == blobs_.end()) {
    return NotFoundError("blob " + std::string(name) + " not found");
  }
  ASSIGN_OR_RETURN(auto bounds, ResolveRange(name, it->second.size(), range));
  return it->second.substr(bounds.first, bounds.second - bounds.first);
}

StatusOr<std::vector<BlobInfo>> MemoryBlobStore::List(std::string_view prefix) {
  std::lock_guard lock(mu_);
  std::vector<BlobInfo> out;
  for (auto it = blobs_.lower_bound(prefix); it != blobs_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) {
      break;
    }
    out.push_back({it->first, it->second.size()});
  }
  return out;
}

Status MemoryBlobStore::Delete(std::string_view name) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  std::lock_guard lock(mu_);
  auto it = blobs_.find(name);
  if (it == blobs_.end()) {
    return NotFoundError("blob " + std::string(name) + " not found");
  }
  blobs_.erase(it);
  return OkStatus();
}

StatusOr<BlobInfo> MemoryBlobStore::Stat(std::string_view name) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  std::lock_guard lock(mu_);
  auto it = blobs_.find(name);
  if (it == blobs_.end()) {
    return NotFoundError("blob " + std::string(name) + " not found");
  }
  return BlobInfo{it->first, it->second.size()};
}

}  // namespace lifeboat::storage
