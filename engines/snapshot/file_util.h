#pragma once

// Small POSIX file helpers of the snapshot engine: an owning fd, full reads and writes, and
// durable atomic replacement (temp name, fsync, rename, fsync of the directory).
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lifeboat::snapshot {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A Status for the current errno: ENOSPC/EDQUOT -> kResourceExhausted, ENOENT -> kNotFound,
// EACCES/EPERM/EROFS -> kPermissionDenied, others -> kInternal. Message: "<what>: <strerror>".
Status ErrnoStatus(const std::string& what);

StatusOr<UniqueFd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode = 0644);
Status PreadFull(int fd, void* buf, uint64_t size, uint64_t offset,
                 const std::filesystem::path& path);
Status PwriteFull(int fd, const void* buf, uint64_t size, uint64_t offset,
                  const std::filesystem::path& path);
// Writes the pieces back to back from `offset` (any number of them; `iov` is used up).
Status PwritevFull(int fd, std::vector<struct iovec>& iov, uint64_t offset,
                   const std::filesystem::path& path);
StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path);
Status FsyncDir(const std::filesystem::path& dir);
// Writes `content` to "<path>.tmp", fsyncs, renames over `path`, fsyncs the directory.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content);
// Writes `content` to "<path>.tmp" and renames it over `path`, without syncing: for files whose
// loss or tearing on a power cut is detected (by a checksum) and harmless.
Status WriteFileReplace(const std::filesystem::path& path, std::string_view content);

}  // namespace lifeboat::snapshot
