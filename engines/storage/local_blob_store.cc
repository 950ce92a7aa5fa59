#include "engines/storage/local_blob_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

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

// Blobs (and ranges of them) of at least kDirectMin bytes are written and, when the page cache
// does not already hold them, read with O_DIRECT: a backup that writes gigabytes of packs, or a
// restore that reads them, neither copies them through the page cache nor evicts everything
// else from it. On this VM a fresh page-cache page costs more kernel time than the I/O itself
// (writing 1.4 GB of packs through the cache: 3.7 s of kernel time in copy_folio_from_iter,
// about a third of an initial backup's CPU). Filesystems without O_DIRECT use ordinary I/O.
// Writes use a higher threshold, so that small packs (a vault's tree packs: directory listings,
// read one directory at a time by the next backup's walk and by restores) stay in the page
// cache; data packs are about 8 MiB. (No difference measured at the benchmark's scale, where
// tree packs are under 1 MiB.)
constexpr size_t kDirectMin = 1 << 20;
constexpr size_t kDirectWriteMin = 4 << 20;
constexpr size_t kDirectAlign = 4096;
constexpr size_t kBounceSize = 4 << 20;
#ifdef __NR_cachestat
constexpr long kCachestat = __NR_cachestat;
#else
constexpr long kCachestat = 451;  // the same number on every architecture
#endif

// A block-aligned buffer per thread for data whose address is not block-aligned; null when it
// could not be allocated (then ordinary I/O is used).
char* Bounce() {
  struct Buffer {
    char* p = static_cast<char*>(std::aligned_alloc(kDirectAlign, kBounceSize));
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffer;
  return buffer.p;
}

bool SetDirect(int fd, bool on) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return false;
  int want = on ? (fl | O_DIRECT) : (fl & ~O_DIRECT);
  return want == fl || ::fcntl(fd, F_SETFL, want) == 0;
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  if (data.size() >= kDirectWriteMin && Bounce() != nullptr && SetDirect(fd, true)) {
    // Whole blocks with O_DIRECT; the last partial block (and everything, should the
    // filesystem refuse an O_DIRECT write after all) through the page cache.
    const size_t blocks = data.size() / kDirectAlign * kDirectAlign;
    while (done < blocks) {
      const char* src = data.data() + done;
      size_t n = blocks - done;
      if (reinterpret_cast<uintptr_t>(src) % kDirectAlign != 0) {
        n = std::min(n, kBounceSize);
        std::memcpy(Bounce(), src, n);
        src = Bounce();
      }
      ssize_t w = ::pwrite(fd, src, n, static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL) break;
      if (w < 0) return ErrnoStatus(errno, "writing " + what);
      if (w == 0) return ErrnoStatus(EIO, "writing " + what);
      done += static_cast<size_t>(w);
      if (done % kDirectAlign != 0) break;  // a short write: finish with ordinary writes
    }
    if (!SetDirect(fd, false)) {
      return ErrnoStatus(errno, "writing " + what);
    }
  }
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoStatus(errno, "writing " + what);
    }
    if (n == 0) return ErrnoStatus(EIO, "writing " + what);
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

// Whether the page cache holds every page of [offset, offset + len) of `fd`: cachestat(2)
// (Linux 6.5), else mincore(2) of a mapping of the range (which touches no page). Probing
// with preadv2(RWF_NOWAIT) instead, as before, started the kernel's readahead of whatever was
// not cached (up to read_ahead_kb, 8 MiB on this VM: whole packs), so every O_DIRECT read that
// followed also had the same bytes read into fresh page-cache pages: the disk read each pack
// twice and a restore left 1.4 GB of packs in the cache it meant to bypass.
bool AllCached(int fd, uint64_t offset, size_t len) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t first = offset / page * page;
  const uint64_t pages = (offset + len - first + page - 1) / page;
  static std::atomic<bool> no_cachestat{false};
  if (!no_cachestat.load(std::memory_order_relaxed)) {
    struct {
      uint64_t off;
      uint64_t len;
    } range{first, pages * page};
    struct {
      uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
    } cs{};
    if (::syscall(kCachestat, fd, &range, &cs, 0) == 0) {
      return cs.nr_cache >= pages;
    }
    if (errno != ENOSYS) {
      return false;
    }
    no_cachestat = true;
  }
  void* map = ::mmap(nullptr, pages * page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(first));
  if (map == MAP_FAILED) {
    return false;
  }
  std::vector<unsigned char> resident(pages);
  bool all = ::mincore(map, pages * page, resident.data()) == 0 &&
             std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; });
  ::munmap(map, pages * page);
  return all;
}

// Reads [offset, offset + len) of `fd`: when it is large and not all in the page cache, with
// O_DIRECT in whole blocks, and anything else (or everything, should the filesystem refuse
// O_DIRECT) with ordinary reads. The bytes go to `out`, except that when `space` is given
// (block-aligned, ReadSpace(len) bytes) O_DIRECT reads land straight in it and `*at` is set to
// where the range starts there. Returns 0 or an errno value (EIO for a file shorter than the
// range).
int ReadRange(int fd, uint64_t offset, size_t len, char* out, char* space, const char** at) {
  size_t done = 0;
  if (at != nullptr) *at = out;
  if (len >= kDirectMin && !AllCached(fd, offset, len) &&
      (space != nullptr || Bounce() != nullptr) && SetDirect(fd, true)) {
    const uint64_t start = offset / kDirectAlign * kDirectAlign;
    const uint64_t stop = (offset + len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    if (space != nullptr) {
      // The whole block range at once, straight into `space`.
      uint64_t got = 0;
      while (start + got < stop) {
        ssize_t n = ::pread(fd, space + got, stop - start - got, static_cast<off_t>(start + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || static_cast<uint64_t>(n) % kDirectAlign != 0) {
          if (n > 0) got += static_cast<uint64_t>(n);
          break;  // EOF (the last partial block), refused or failed
        }
        got += static_cast<uint64_t>(n);
      }
      if (start + got >= offset + len) {
        done = len;
        *at = space + (offset - start);
      } else if (start + got > offset) {
        // Copy what came to `out` (the start of `space`); ordinary reads finish it.
        done = static_cast<size_t>(start + got - offset);
        std::memmove(out, space + (offset - start), done);
      }
    } else {
      while (done < len) {
        const uint64_t pos = offset + done;
        const uint64_t from = pos / kDirectAlign * kDirectAlign;
        const size_t want = std::min<uint64_t>(kBounceSize, stop - from);
        ssize_t n = ::pread(fd, Bounce(), want, static_cast<off_t>(from));
        if (n < 0 && errno == EINTR) continue;
        if (n <= static_cast<ssize_t>(pos - from)) break;  // refused, failed or EOF: see below
        const size_t got = std::min<size_t>(static_cast<size_t>(n) - (pos - from), len - done);
        std::memcpy(out + done, Bounce() + (pos - from), got);
        done += got;
      }
    }
    if (!SetDirect(fd, false)) {
      return errno;
    }
  }
  while (done < len) {
    ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n < 0 ? errno : EIO;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
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

// Opens blob `name` for reading and checks `range` against its size: the fd and [begin, end).
StatusOr<std::pair<int, std::pair<uint64_t, uint64_t>>> LocalBlobStore::OpenRange(
    std::string_view name, ByteRange range) {
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
  return std::make_pair(fd, *bounds);
}

StatusOr<std::string> LocalBlobStore::Get(std::string_view name, ByteRange range) {
  ASSIGN_OR_RETURN(auto opened, OpenRange(name, range));
  const auto [fd, bounds] = opened;
  std::string out;
  out.resize(bounds.second - bounds.first);
  int err = ReadRange(fd, bounds.first, out.size(), out.data(), nullptr, nullptr);
  ::close(fd);
  if (err != 0) {
    return ErrnoStatus(err, "reading blob " + std::string(name));
  }
  return out;
}

StatusOr<const char*> LocalBlobStore::GetInto(std::string_view name, uint64_t offset,
                                              uint64_t length, char* space) {
  ASSIGN_OR_RETURN(auto opened, OpenRange(name, ByteRange{offset, length}));
  const auto [fd, bounds] = opened;
  const char* at = nullptr;
  int err = ReadRange(fd, bounds.first, length, space, space, &at);
  ::close(fd);
  if (err != 0) {
    return ErrnoStatus(err, "reading blob " + std::string(name));
  }
  return at;
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
