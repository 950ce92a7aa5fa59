#pragma once

// LocalBlobStore: blobs as files under a root directory. A blob "data/3f9a..." lives at
// ROOT/data/3f/3f9a... (a fan-out directory named by the first two characters of the last
// component). Put writes a temporary file in the target directory, fsyncs it, links it to the
// final name (link(2) fails if the name exists, which makes put-if-absent atomic), removes the
// temporary name and fsyncs the directory. Temporary files start with ".tmp-" and are ignored.
#include <filesystem>
#include <memory>

#include "engines/storage/blob_store.h"

namespace lifeboat::storage {

class LocalBlobStore final : public BlobStore {
 public:
  // Opens a store rooted at `root`, creating the directory when `create` is set.
  static StatusOr<std::unique_ptr<LocalBlobStore>> Open(const std::filesystem::path& root,
                                                        bool create);

  Status Put(std::string_view name, std::string_view data) override;
  using BlobStore::Get;
  StatusOr<std::string> Get(std::string_view name, ByteRange range) override;
  StatusOr<const char*> GetInto(std::string_view name, uint64_t offset, uint64_t length,
                                char* space) override;
  StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view name) override;
  StatusOr<BlobInfo> Stat(std::string_view name) override;
  std::string Describe() const override { return "local:" + root_.string(); }

  // The file that holds blob `name` (for tests that damage files on purpose).
  std::filesystem::path PathOf(std::string_view name) const;

 private:
  explicit LocalBlobStore(std::filesystem::path root) : root_(std::move(root)) {}
  Status MakeDirs(const std::filesystem::path& dir);
  StatusOr<std::pair<int, std::pair<uint64_t, uint64_t>>> OpenRange(std::string_view name,
                                                                    ByteRange range);

  std::filesystem::path root_;
};

}  // namespace lifeboat::storage
