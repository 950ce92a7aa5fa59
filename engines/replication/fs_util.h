#pragma once

// POSIX file helpers shared by the replication sender and store: errno → Status, full reads and
// writes, atomic file creation (temp name, fsync, rename, fsync of the directory).
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::replication {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// "<what>: <strerror(errno)>", kNotFound for ENOENT, kPermissionDenied for EACCES.
Status ErrnoStatus(const std::string& what);
StatusOr<UniqueFd> OpenRead(const std::filesystem::path& path);
Status PreadAll(int fd, char* out, size_t size, uint64_t offset, const std::filesystem::path& p);
Status PwriteAll(int fd, const char* data, size_t size, uint64_t offset,
                 const std::filesystem::path& p);
StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path);
// Writes dir/.tmp-<name>, fsyncs it, renames it to dir/<name>, fsyncs dir.
Status WriteFileAtomic(const std::filesystem::path& dir, const std::string& name,
                       std::string_view data);
Status SyncDir(const std::filesystem::path& dir);
// copy_file_range, falling back to read/write where the kernel refuses.
Status CopyRange(int in, uint64_t in_offset, int out, uint64_t out_offset, uint64_t size,
                 const std::filesystem::path& out_path);
Status SyncFilesystem(const std::filesystem::path& path);

}  // namespace lifeboat::replication
