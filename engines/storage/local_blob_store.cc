#include "engines/storage/local_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

namespace lifeboat::storage {
namespace fs = std::filesystem;

namespace {

constexpr size_t kFanOutChars = 2;
constexpr const char* kTempPrefix = ".tmp-";

Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(msg);
    case EEXIST:
      return AlreadyExistsError(msg);
    default:
      return UnavailableError(msg);
  }
}

Status FsyncPath(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, "opening directory " + dir.string());
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return ErrnoStatus(err, "syncing directory " + dir.string());
  }
  return OkStatus();
}

std::string RandomSuffix() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i) {
    out.push_back(kHex[(v >> (i * 4)) & 0xf]);
  }
  return out;
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoStatus(errno, "writing " + what);
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(const fs::path& root, bool create) {
  std::error_code ec;
  if (create) {
    fs::create_directories(root, ec);
    if (ec) {
      return UnavailableError("creating vault directory " + root.string() + ": " + ec.message());
    }
  }
  if (!fs::is_directory(root, ec)) {
    return NotFoundError("vault directory " + root.string() + " does not exist");
  }
  return std::unique_ptr<LocalBlobStore>(new LocalBlobStore(fs::absolute(root)));
}

fs::path LocalBlobStore::PathOf(std::string_view name) const {
  fs::path rel(std::string{name});
  std::string leaf = rel.filename().string();
  return root_ / rel.parent_path() / leaf.substr(0, kFanOutChars) / leaf;
}

Status LocalBlobStore::MakeDirs(const fs::path& dir) {
  if (dir == root_ || ::access(dir.c_str(), F_OK) == 0) {
    return OkStatus();
  }
  RETURN_IF_ERROR(MakeDirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) {
      return OkStatus();
    }
    return ErrnoStatus(errno, "creating directory " + dir.string());
  }
  // A new directory entry is durable only once its parent is synced.
  return FsyncPath(dir.parent_path());
}

Status LocalBlobStore::Put(std::string_view name, std::string_view data) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  fs::path final_path = PathOf(name);
  fs::path dir = final_path.parent_path();
  RETURN_IF_ERROR(MakeDirs(dir));
  fs::path tmp = dir / (kTempPrefix + RandomSuffix());
  const std::string what = "blob " + std::string(name) + " (" + tmp.string() + ")";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    return ErrnoStatus(errno, "creating " + what);
  }
  Status s = WriteAll(fd, data, what);
  if (s.ok() && ::fsync(fd) != 0) {
    s = ErrnoStatus(errno, "syncing " + what);
  }
  if (::close(fd) != 0 && s.ok()) {
    s = ErrnoStatus(errno, "closing " + what);
  }
  if (s.ok() && ::link(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    s = err == EEXIST ? AlreadyExistsError("blob " + std::string(name) + " already exists")
                      : ErrnoStatus(err, "linking " + what);
  }
  ::unlink(tmp.c_str());
  RETURN_IF_ERROR(s);
  return FsyncPath(dir);
}

StatusOr<std::string> LocalBlobStore::Get(std::string_view name, ByteRange range) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  fs::path path = PathOf(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return NotFoundError("blob " + std::string(name) + " not found in " + Describe());
    }
    return ErrnoStatus(err, "opening blob " + std::string(name));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "stat of blob " + std::string(name));
  }
  auto bounds = ResolveRange(name, static_cast<uint64_t>(st.st_size), range);
  if (!bounds.ok()) {
    ::close(fd);
    return bounds.status();
  }
  std::string out;
  out.resize(bounds->second - bounds->first);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                        static_cast<off_t>(bounds->first + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return ErrnoStatus(err, "reading blob " + std::string(name));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

StatusOr<std::vector<BlobInfo>> LocalBlobStore::List(std::string_view prefix) {
  std::string dir_part;
  if (size_t slash = prefix.rfind('/'); slash != std::string_view::npos) {
    dir_part = std::string(prefix.substr(0, slash));
  }
  fs::path start = dir_part.empty() ? root_ : root_ / dir_part;
  std::vector<BlobInfo> out;
  std::error_code ec;
  if (!fs::is_directory(start, ec)) {
    return out;
  }
  fs::recursive_directory_iterator it(start, ec), end;
  if (ec) {
    return UnavailableError("listing " + start.string() + ": " + ec.message());
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      return UnavailableError("listing " + start.string() + ": " + ec.message());
    }
    if (!it->is_regular_file(ec)) {
      continue;
    }
    fs::path rel = it->path().lexically_relative(root_);
    std::string leaf = rel.filename().string();
    if (leaf.rfind(kTempPrefix, 0) == 0 || !rel.has_parent_path()) {
      continue;
    }
    if (rel.parent_path().filename().string() != leaf.substr(0, kFanOutChars)) {
      continue;
    }
    fs::path logical = rel.parent_path().parent_path() / leaf;
    std::string name = logical.generic_string();
    if (name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    uint64_t size = it->file_size(ec);
    if (ec) {
      continue;  // Deleted while listing.
    }
    out.push_back({std::move(name), size});
  }
  std::sort(out.begin(), out.end(),
            [](const BlobInfo& a, const BlobInfo& b) { return a.name < b.name; });
  return out;
}

Status LocalBlobStore::Delete(std::string_view name) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  fs::path path = PathOf(name);
  if (::unlink(path.c_str()) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return NotFoundError("blob " + std::string(name) + " not found in " + Describe());
    }
    return ErrnoStatus(err, "deleting blob " + std::string(name));
  }
  return FsyncPath(path.parent_path());
}

StatusOr<BlobInfo> LocalBlobStore::Stat(std::string_view name) {
  RETURN_IF_ERROR(ValidateBlobName(name));
  struct stat st {};
  if (::stat(PathOf(name).c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return NotFoundError("blob " + std::string(name) + " not found in " + Describe());
    }
    return ErrnoStatus(err, "stat of blob " + std::string(name));
  }
  return BlobInfo{std::string(name), static_cast<uint64_t>(st.st_size)};
}

}  // namespace lifeboat::storage
