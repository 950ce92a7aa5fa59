#include "engines/replication/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace lifeboat::replication {
namespace fs = std::filesystem;

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Status ErrnoStatus(const std::string& what) {
  int err = errno;
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) {
    return NotFoundError(msg);
  }
  if (err == EACCES || err == EPERM) {
    return PermissionDeniedError(msg);
  }
  return UnavailableError(msg);
}

StatusOr<UniqueFd> OpenRead(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return ErrnoStatus("open " + path.string());
  }
  return fd;
}

Status PreadAll(int fd, char* out, size_t size, uint64_t offset, const fs::path& p) {
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoStatus("read " + p.string());
    }
    if (n == 0) {
      return DataLossError("read " + p.string() + ": unexpected end of file at " +
                           std::to_string(offset));
    }
    out += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status PwriteAll(int fd, const char* data, size_t size, uint64_t offset, const fs::path& p) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoStatus("write " + p.string());
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

StatusOr<std::string> ReadWholeFile(const fs::path& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRead(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoStatus("stat " + path.string());
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  RETURN_IF_ERROR(PreadAll(fd.get(), data.data(), data.size(), 0, path));
  return data;
}

Status SyncDir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    return ErrnoStatus("open directory " + dir.string());
  }
  if (::fsync(fd.get()) != 0) {
    return ErrnoStatus("fsync " + dir.string());
  }
  return OkStatus();
}

Status WriteFileAtomic(const fs::path& dir, const std::string& name, std::string_view data) {
  fs::path tmp = dir / (".tmp-" + name);
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      return ErrnoStatus("create " + tmp.string());
    }
    RETURN_IF_ERROR(PwriteAll(fd.get(), data.data(), data.size(), 0, tmp));
    if (::fsync(fd.get()) != 0) {
      return ErrnoStatus("fsync " + tmp.string());
    }
  }
  if (::rename(tmp.c_str(), (dir / name).c_str()) != 0) {
    return ErrnoStatus("rename " + tmp.string());
  }
  return SyncDir(dir);
}

Status CopyRange(int in, uint64_t in_offset, int out, uint64_t out_offset, uint64_t size,
                 const fs::path& out_path) {
  loff_t src = static_cast<loff_t>(in_offset);
  loff_t dst = static_cast<loff_t>(out_offset);
  while (size > 0) {
    ssize_t n = ::copy_file_range(in, &src, out, &dst, size, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    size -= static_cast<uint64_t>(n);
  }
  if (size == 0) {
    return OkStatus();
  }
  std::vector<char> buffer(1 << 20);
  while (size > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, buffer.size()));
    RETURN_IF_ERROR(PreadAll(in, buffer.data(), want, static_cast<uint64_t>(src), out_path));
    RETURN_IF_ERROR(PwriteAll(out, buffer.data(), want, static_cast<uint64_t>(dst), out_path));
    src += static_cast<loff_t>(want);
    dst += static_cast<loff_t>(want);
    size -= want;
  }
  return OkStatus();
}

Status SyncFilesystem(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    return ErrnoStatus("open " + path.string());
  }
  if (::syncfs(fd.get()) != 0) {
    return ErrnoStatus("syncfs " + path.string());
  }
  return OkStatus();
}

}  // namespace lifeboat::replication
