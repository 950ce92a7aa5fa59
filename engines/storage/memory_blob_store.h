#pragma once

// MemoryBlobStore: a BlobStore in a map, for tests and for staging.
#include <map>
#include <mutex>

#include "engines/storage/blob_store.h"

namespace lifeboat::storage {

class MemoryBlobStore final : public BlobStore {
 public:
  Status Put(std::string_view name, std::string_view data) override;
  using BlobStore::Get;
  StatusOr<std::string> Get(std::string_view name, ByteRange range) override;
  StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view name) override;
  StatusOr<BlobInfo> Stat(std::string_view name) override;
  std::string Describe() const override { return "memory"; }

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> blobs_;
};

}  // namespace lifeboat::storage
