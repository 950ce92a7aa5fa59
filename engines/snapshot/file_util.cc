#include "engines/snapshot/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace lifeboat::snapshot {

Status ErrnoStatus(const std::string& what) {
  int err = errno;
  std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(std::move(message));
    case ENOENT:
      return NotFoundError(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(std::move(message));
    default:
      return InternalError(std::move(message));
  }
}

StatusOr<UniqueFd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) {
    return ErrnoStatus("opening " + path.string());
  }
  return UniqueFd(fd);
}

Status PreadFull(int fd, void* buf, uint64_t size, uint64_t offset,
                 const std::filesystem::path& path) {
  auto* p = static_cast<uint8_t*>(buf);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoStatus("reading " + path.string());
    }
    if (n == 0) {
      return DataLossError(path.string() + " is shorter than expected (truncated at " +
                           std::to_string(offset + done) + ")");
    }
    done += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status PwriteFull(int fd, const void* buf, uint64_t size, uint64_t offset,
                  const std::filesystem::path& path) {
  const auto* p = static_cast<const uint8_t*>(buf);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoStatus("writing " + path.string());
    }
    done += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status PwritevFull(int fd, std::vector<struct iovec>& iov, uint64_t offset,
                   const std::filesystem::path& path) {
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t n = ::pwritev(fd, iov.data() + first, count, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoStatus("writing " + path.string());
    }
    if (n == 0) {
      return InternalError("writing " + path.string() + ": no progress");
    }
    offset += static_cast<uint64_t>(n);
    // Skip what was written: whole pieces, then part of the next one.
    auto left = static_cast<uint64_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return OkStatus();
}

StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoStatus("stat " + path.string());
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  RETURN_IF_ERROR(PreadFull(fd.get(), out.data(), out.size(), 0, path));
  return out;
}

Status FsyncDir(const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) {
    return ErrnoStatus("syncing directory " + dir.string());
  }
  return OkStatus();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0444));
    Status s = PwriteFull(fd.get(), content.data(), content.size(), 0, tmp);
    if (s.ok() && ::fsync(fd.get()) != 0) {
      s = ErrnoStatus("syncing " + tmp.string());
    }
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus("renaming " + tmp.string());
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(path.parent_path());
}

Status WriteFileReplace(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0444));
    Status s = PwriteFull(fd.get(), content.data(), content.size(), 0, tmp);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus("renaming " + tmp.string());
    ::unlink(tmp.c_str());
    return s;
  }
  return OkStatus();
}

}  // namespace lifeboat::snapshot
