#include "engines/replication/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "engines/replication/fs_util.h"
#include "engines/replication/wire.h"
#include "engines/vault/compress.h"
#include "engines/vault/crypto.h"

namespace lifeboat::replication {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPackMagic = "LBRPACK1";
constexpr std::string_view kPointMagic = "LBRPNT01";
constexpr size_t kFooterEntry = 32 + 8 + 4;
constexpr size_t kFooterTail = 4 + 8 + 8;  // count, footer offset, magic
constexpr int kPointCompressionLevel = 3;
// A pack whose live bytes fall below this fraction is rewritten during garbage collection.
constexpr double kRepackLiveFraction = 0.5;

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  vault::RandomBytes(reinterpret_cast<uint8_t*>(raw.data()), raw.size());
  return vault::ToHex(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}

Hash ToHash(std::string_view b) {
  Hash h;
  std::memcpy(h.data(), b.data(), h.size());
  return h;
}

// The repo's reader/writer lock: flock on <dir>/lock through a descriptor of its own, so two
// holders conflict whether they are threads of one process (each opens the file anew, and flock
// locks belong to the open file description) or different processes (`lifeboat receiver` and a
// CLI materialise). Materialise holds it shared; retention, GC and deletion exclusively.
class RepoLock {
 public:
  enum class Mode { kShared, kExclusive, kTryExclusive };
  // kTryExclusive: kUnavailable at once when a shared holder is there.
  static StatusOr<RepoLock> Acquire(const fs::path& dir, Mode mode) {
    fs::path path = dir / "lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      return ErrnoStatus("open repo lock " + path.string());
    }
    int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
    if (mode == Mode::kTryExclusive) {
      op |= LOCK_NB;
    }
    while (::flock(fd.get(), op) != 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EWOULDBLOCK) {
        return UnavailableError("replica " + dir.string() + " is being materialised");
      }
      return ErrnoStatus("lock " + path.string());
    }
    return RepoLock(std::move(fd));
  }

 private:
  explicit RepoLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

bool IsOlderThan(const fs::path& path, std::chrono::system_clock::time_point cutoff) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return false;
  }
  return std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec)) <= cutoff;
}

bool InVolume(const std::string& path, const std::string& volume) {
  return volume.empty() || path == volume ||
         (path.size() > volume.size() && path.starts_with(volume) && path[volume.size()] == '/');
}

}  // namespace

Status ValidateRepoName(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return InvalidArgumentError(std::string(what) + " must be 1..253 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return InvalidArgumentError(std::string(what) + " \"" + std::string(name) +
                                  "\" may hold only letters, digits, '-', '_' and '.'");
    }
  }
  if (name == "." || name == "..") {
    return InvalidArgumentError(std::string(what) + " must not be \".\" or \"..\"");
  }
  return OkStatus();
}

Repo::Repo(fs::path dir, const Clock& clock, RepoOptions options)
    : dir_(std::move(dir)), clock_(clock), options_(options) {}

Repo::~Repo() {
  for (auto& [pack, fd] : fds_) {
    ::close(fd);
  }
}

StatusOr<std::unique_ptr<Repo>> Repo::Open(const fs::path& dir, const Clock& clock,
                                           RepoOptions options) {
  std::error_code ec;
  fs::create_directories(dir / "packs", ec);
  if (!ec) {
    fs::create_directories(dir / "points", ec);
  }
  if (ec) {
    return UnavailableError("cannot create replica directory " + dir.string() + ": " +
                            ec.message());
  }
  std::unique_ptr<Repo> repo(new Repo(dir, clock, options));
  RETURN_IF_ERROR(repo->Load());
  return repo;
}

Status Repo::Load() {
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_ / "packs", ec)) {
    std::string name = de.path().filename().string();
    if (name.starts_with(".tmp-")) {
      // An upload cut off before its rename, unless it is young: then it may be one in flight
      // through another Repo object on this directory (the receiver's, while failover lists or
      // materialises points).
      if (IsOlderThan(de.path(), clock_.Now() - options_.gc_grace)) {
        fs::remove(de.path(), ec);
      }
      continue;
    }
    if (!name.ends_with(".pack")) {
      continue;
    }
    RETURN_IF_ERROR(LoadPack(name).status());
  }
  if (ec) {
    return UnavailableError("cannot list " + (dir_ / "packs").string() + ": " + ec.message());
  }
  for (const auto& de : fs::directory_iterator(dir_ / "points", ec)) {
    std::string name = de.path().filename().string();
    if (name.starts_with(".tmp-")) {
      if (IsOlderThan(de.path(), clock_.Now() - options_.gc_grace)) {
        fs::remove(de.path(), ec);
      }
      continue;
    }
    if (!name.ends_with(".point")) {
      continue;
    }
    std::string id = name.substr(0, name.size() - 6);
    ASSIGN_OR_RETURN(Manifest m, LoadPoint(id));
    m.info.id = id;
    points_[id] = m.info;
  }
  if (ec) {
    return UnavailableError("cannot list " + (dir_ / "points").string() + ": " + ec.message());
  }
  return OkStatus();
}

StatusOr<uint32_t> Repo::LoadPack(const std::string& name) {
  fs::path path = dir_ / "packs" / name;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRead(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoStatus("stat " + path.string());
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kFooterTail) {
    return DataLossError("pack " + path.string() + " is truncated");
  }
  std::string tail(kFooterTail, '\0');
  RETURN_IF_ERROR(PreadAll(fd.get(), tail.data(), tail.size(), size - kFooterTail, path));
  Reader tr(tail);
  uint32_t count = 0;
  uint64_t footer_offset = 0;
  std::string_view magic;
  if (!tr.U32(&count) || !tr.U64(&footer_offset) || !tr.Bytes(8, &magic) || magic != kPackMagic ||
      footer_offset + uint64_t{count} * kFooterEntry + kFooterTail != size) {
    return DataLossError("pack " + path.string() + " has a bad footer");
  }
  std::string footer(count * kFooterEntry, '\0');
  RETURN_IF_ERROR(PreadAll(fd.get(), footer.data(), footer.size(), footer_offset, path));
  Pack pack;
  pack.name = name;
  pack.size = size;
  pack.mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
  Reader fr(footer);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view h;
    Location loc;
    if (!fr.Bytes(32, &h) || !fr.U64(&loc.offset) || !fr.U32(&loc.length) ||
        loc.offset + loc.length > footer_offset) {
      return DataLossError("pack " + path.string() + " has a bad index entry " + std::to_string(i));
    }
    pack.entries.emplace_back(ToHash(h), loc);
  }
  // The id is the pack's place in packs_, taken under the lock: uploads on several connections
  // load their packs at the same time.
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t id = static_cast<uint32_t>(packs_.size());
  for (auto& [hash, loc] : pack.entries) {
    loc.pack = id;
    index_.emplace(hash, loc);
  }
  packs_.push_back(std::move(pack));
  return id;
}

std::vector<Hash> Repo::Missing(std::span<const Hash> hashes) const {
  std::vector<Hash> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Hash& h : hashes) {
    if (h != kHoleHash && !index_.contains(h)) {
      out.push_back(h);
    }
  }
  return out;
}

Status Repo::AddChunks(std::string_view records) {
  std::vector<std::pair<Hash, std::string_view>> chunks;
  Reader r(records);
  while (r.remaining() > 0) {
    std::string_view h, data;
    uint32_t len = 0;
    if (!r.Bytes(32, &h) || !r.U32(&len) || !r.Bytes(len, &data)) {
      return InvalidArgumentError("chunk upload is truncated at byte " +
                                  std::to_string(r.position()));
    }
    Hash hash = ToHash(h);
    if (vault::Sha256(data) != hash) {
      return InvalidArgumentError("chunk " + HashHex(hash) + " does not match its content");
    }
    chunks.emplace_back(hash, data);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(chunks, [&](const auto& c) { return index_.contains(c.first); });
  }
  if (chunks.empty()) {
    return OkStatus();
  }
  return WritePack(chunks).status();
}

StatusOr<uint32_t> Repo::WritePack(const std::vector<std::pair<Hash, std::string_view>>& chunks) {
  std::string name = RandomHex(8) + ".pack";
  Writer body;
  Writer footer;
  for (const auto& [hash, data] : chunks) {
    footer.Bytes(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
    footer.U64(body.buffer().size());
    footer.U32(static_cast<uint32_t>(data.size()));
    body.Bytes(data);
  }
  uint64_t footer_offset = body.buffer().size();
  body.Bytes(footer.buffer());
  body.U32(static_cast<uint32_t>(chunks.size()));
  body.U64(footer_offset);
  body.Bytes(kPackMagic);
  RETURN_IF_ERROR(WriteFileAtomic(dir_ / "packs", name, body.buffer()));
  return LoadPack(name);
}

StatusOr<PointInfo> Repo::Commit(Manifest manifest) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  if (!manifest.info.base.empty()) {
    if (!points_.contains(manifest.info.base)) {
      return FailedPreconditionError("base point " + manifest.info.base +
                                     " is not retained at the target");
    }
    ASSIGN_OR_RETURN(Manifest base, LoadPoint(manifest.info.base));
    ASSIGN_OR_RETURN(manifest, ApplyDelta(base, std::move(manifest)));
  }
  size_t missing = 0;
  std::string first_missing;
  uint64_t logical = 0, files = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Entry& e : manifest.entries) {
      if (e.type != EntryType::kFile) {
        continue;
      }
      ++files;
      logical += e.size;
      for (const ChunkRef& ref : e.chunks) {
        if (!ref.hole() && !index_.contains(ref.hash)) {
          if (missing++ == 0) {
            first_missing = e.path;
          }
        }
      }
    }
  }
  if (missing > 0) {
    return FailedPreconditionError(std::to_string(missing) +
                                   " referenced chunks are not at the target (first in " +
                                   first_missing + ")");
  }
  int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
          .count();
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%013lld", static_cast<long long>(now_ms));
  manifest.info.id = std::string(stamp) + "-" + RandomHex(4);
  manifest.info.logical_bytes = logical;
  manifest.info.files = files;
  for (Entry& e : manifest.entries) {
    e.inode = 0;
  }
  std::string raw = EncodeManifest(manifest);
  vault::Compressed c = vault::MaybeCompress(raw, kPointCompressionLevel);
  Writer w;
  w.Bytes(kPointMagic);
  w.U8(c.compressed ? 1 : 0);
  w.U64(raw.size());
  w.Bytes(c.compressed ? std::string_view(c.data) : std::string_view(raw));
  RETURN_IF_ERROR(WriteFileAtomic(dir_ / "points", manifest.info.id + ".point", w.buffer()));
  std::lock_guard<std::mutex> lock(mu_);
  points_[manifest.info.id] = manifest.info;
  return manifest.info;
}

StatusOr<Manifest> Repo::LoadPoint(const std::string& id) const {
  if (ValidateRepoName("point", id).ok() == false) {
    return InvalidArgumentError("point id \"" + id + "\" is malformed");
  }
  fs::path path = dir_ / "points" / (id + ".point");
  ASSIGN_OR_RETURN(std::string data, ReadWholeFile(path));
  Reader r(data);
  std::string_view magic;
  uint8_t compressed = 0;
  uint64_t raw_size = 0;
  if (!r.Bytes(kPointMagic.size(), &magic) || magic != kPointMagic || !r.U8(&compressed) ||
      !r.U64(&raw_size)) {
    return DataLossError("point file " + path.string() + " has a bad header");
  }
  std::string_view rest;
  (void)r.Bytes(r.remaining(), &rest);
  std::string raw;
  if (compressed) {
    ASSIGN_OR_RETURN(raw, vault::Decompress(rest, raw_size));
  } else {
    raw.assign(rest);
  }
  ASSIGN_OR_RETURN(Manifest m, DecodeManifest(raw, path.string()));
  return m;
}

std::vector<PointInfo> Repo::Points() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PointInfo> out;
  for (const auto& [id, info] : points_) {
    out.push_back(info);
  }
  return out;
}

uint64_t Repo::stored_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = 0;
  for (const Pack& p : packs_) {
    if (p.live) {
      total += p.size;
    }
  }
  return total;
}

StatusOr<GcStats> Repo::ApplyRetention(std::chrono::seconds max_age) {
  auto repo_lock = RepoLock::Acquire(dir_, RepoLock::Mode::kTryExclusive);
  if (!repo_lock.ok()) {
    if (repo_lock.status().code() == StatusCode::kUnavailable) {
      GcStats deferred;
      deferred.deferred = true;
      return deferred;
    }
    return repo_lock.status();
  }
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  int64_t cutoff_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          (clock_.Now() - max_age).time_since_epoch())
                          .count();
  GcStats stats;
  std::vector<std::string> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (points_.size() <= 1) {
      return stats;
    }
    std::string latest = points_.rbegin()->first;
    for (const auto& [id, info] : points_) {
      if (id != latest && info.time_ms < cutoff_ms) {
        expired.push_back(id);
      }
    }
  }
  for (const std::string& id : expired) {
    std::error_code ec;
    fs::remove(dir_ / "points" / (id + ".point"), ec);
    if (ec) {
      return UnavailableError("cannot delete point " + id + ": " + ec.message());
    }
    std::lock_guard<std::mutex> lock(mu_);
    points_.erase(id);
    ++stats.points_deleted;
  }
  if (stats.points_deleted == 0) {
    return stats;
  }
  RETURN_IF_ERROR(SyncDir(dir_ / "points"));
  return CollectGarbage(stats);
}

StatusOr<GcStats> Repo::DeletePoint(const std::string& id) {
  // Taken before commit_mu_: waiting for a materialise must not hold up commits.
  ASSIGN_OR_RETURN(RepoLock repo_lock, RepoLock::Acquire(dir_, RepoLock::Mode::kExclusive));
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!points_.contains(id)) {
      return NotFoundError("point " + id + " not found in " + dir_.string());
    }
  }
  std::error_code ec;
  fs::remove(dir_ / "points" / (id + ".point"), ec);
  if (ec) {
    return UnavailableError("cannot delete point " + id + ": " + ec.message());
  }
  RETURN_IF_ERROR(SyncDir(dir_ / "points"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    points_.erase(id);
  }
  GcStats stats;
  stats.points_deleted = 1;
  return CollectGarbage(stats);
}

StatusOr<GcStats> Repo::CollectGarbage(GcStats stats) {
  std::unordered_set<Hash, HashHasher> referenced;
  for (const PointInfo& info : Points()) {
    ASSIGN_OR_RETURN(Manifest m, LoadPoint(info.id));
    for (const Entry& e : m.entries) {
      for (const ChunkRef& ref : e.chunks) {
        if (!ref.hole()) {
          referenced.insert(ref.hash);
        }
      }
    }
  }
  auto cutoff = clock_.Now() - options_.gc_grace;
  std::vector<uint32_t> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t i = 0; i < packs_.size(); ++i) {
      if (packs_[i].live && packs_[i].mtime <= cutoff) {
        candidates.push_back(i);
      }
    }
  }
  for (uint32_t id : candidates) {
    uint64_t live_bytes = 0, total_bytes = 0;
    std::vector<std::pair<Hash, Location>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [hash, loc] : packs_[id].entries) {
        total_bytes += loc.length;
        auto it = index_.find(hash);
        bool owner = it != index_.end() && it->second.pack == id;
        if (owner && referenced.contains(hash)) {
          live_bytes += loc.length;
          live.emplace_back(hash, loc);
        }
      }
    }
    if (!live.empty() &&
        static_cast<double>(live_bytes) >= kRepackLiveFraction * static_cast<double>(total_bytes)) {
      continue;
    }
    if (!live.empty()) {
      std::vector<std::string> data(live.size());
      std::vector<std::pair<Hash, std::string_view>> chunks;
      for (size_t i = 0; i < live.size(); ++i) {
        RETURN_IF_ERROR(ReadChunk(live[i].second, &data[i]));
        chunks.emplace_back(live[i].first, data[i]);
      }
      // The new pack is indexed (its locations replace the old) before the old is removed.
      ASSIGN_OR_RETURN(uint32_t fresh, WritePack(chunks));
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [hash, loc] : packs_[fresh].entries) {
          index_[hash] = loc;
        }
      }
      ++stats.packs_rewritten;
    } else {
      ++stats.packs_deleted;
    }
    std::string old_name;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Pack& pack = packs_[id];
      for (const auto& [hash, loc] : pack.entries) {
        auto it = index_.find(hash);
        if (it != index_.end() && it->second.pack == id) {
          index_.erase(it);
        }
      }
      pack.live = false;
      old_name = pack.name;
      stats.bytes_freed += pack.size;
      auto fd = fds_.find(id);
      if (fd != fds_.end()) {
        ::close(fd->second);
        fds_.erase(fd);
      }
    }
    std::error_code ec;
    fs::remove(dir_ / "packs" / old_name, ec);
    if (ec) {
      return UnavailableError("cannot delete pack " + old_name + ": " + ec.message());
    }
  }
  RETURN_IF_ERROR(SyncDir(dir_ / "packs"));
  return stats;
}

int Repo::PackFd(uint32_t pack) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fds_.find(pack);
  if (it != fds_.end()) {
    return it->second;
  }
  int fd = ::open((dir_ / "packs" / packs_[pack].name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fds_[pack] = fd;
  }
  return fd;
}

Status Repo::ReadChunk(const Location& loc, std::string* out) const {
  int fd = PackFd(loc.pack);
  if (fd < 0) {
    return ErrnoStatus("open pack " + std::to_string(loc.pack) + " in " + dir_.string());
  }
  out->resize(loc.length);
  return PreadAll(fd, out->data(), loc.length, loc.offset, dir_ / "packs");
}

StatusOr<MaterializeStats> Repo::Materialize(const std::string& id, const fs::path& target_dir,
                                             const MaterializeOptions& options) const {
  ASSIGN_OR_RETURN(RepoLock repo_lock, RepoLock::Acquire(dir_, RepoLock::Mode::kShared));
  ASSIGN_OR_RETURN(Manifest m, LoadPoint(id));
  if (!options.volume.empty()) {
    std::erase_if(m.entries, [&](const Entry& e) { return !InVolume(e.path, options.volume); });
    if (m.entries.empty()) {
      return NotFoundError("point " + id + " holds no volume \"" + options.volume + "\"");
    }
  }
  std::error_code ec;
  if (fs::exists(target_dir, ec) && !fs::is_empty(target_dir, ec)) {
    return FailedPreconditionError("materialise target " + target_dir.string() + " is not empty");
  }
  fs::create_directories(target_dir, ec);
  if (ec) {
    return UnavailableError("cannot create " + target_dir.string() + ": " + ec.message());
  }
  MaterializeStats stats;
  std::string buffer;
  for (const Entry& e : m.entries) {
    fs::path path = target_dir / e.path;
    fs::create_directories(path.parent_path(), ec);
    if (e.type == EntryType::kDirectory) {
      fs::create_directories(path, ec);
      if (ec) {
        return UnavailableError("cannot create " + path.string() + ": " + ec.message());
      }
      continue;
    }
    if (e.type == EntryType::kSymlink) {
      if (::symlink(e.target.c_str(), path.c_str()) != 0) {
        return ErrnoStatus("symlink " + path.string());
      }
      continue;
    }
    UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (out.get() < 0) {
      return ErrnoStatus("create " + path.string());
    }
    if (::ftruncate(out.get(), static_cast<off_t>(e.size)) != 0) {
      return ErrnoStatus("truncate " + path.string());
    }
    uint64_t offset = 0;
    size_t i = 0;
    while (i < e.chunks.size()) {
      const ChunkRef& ref = e.chunks[i];
      if (ref.hole()) {
        offset += ref.length;
        ++i;
        continue;
      }
      Location loc;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = index_.find(ref.hash);
        if (it == index_.end()) {
          return DataLossError("point " + id + ": chunk " + HashHex(ref.hash) + " of " + e.path +
                               " is missing from the store");
        }
        loc = it->second;
      }
      if (options.verify) {
        RETURN_IF_ERROR(ReadChunk(loc, &buffer));
        if (vault::Sha256(buffer) != ref.hash) {
          return DataLossError("point " + id + ": chunk " + HashHex(ref.hash) + " of " + e.path +
                               " is corrupt");
        }
        RETURN_IF_ERROR(PwriteAll(out.get(), buffer.data(), buffer.size(), offset, path));
        offset += ref.length;
        ++i;
        continue;
      }
      // Coalesce the run of chunks that sit back to back in the same pack into one copy.
      uint64_t run = loc.length;
      size_t j = i + 1;
      {
        std::lock_guard<std::mutex> lock(mu_);
        while (j < e.chunks.size() && !e.chunks[j].hole()) {
          auto it = index_.find(e.chunks[j].hash);
          if (it == index_.end() || it->second.pack != loc.pack ||
              it->second.offset != loc.offset + run) {
            break;
          }
          run += it->second.length;
          ++j;
        }
      }
      int in = PackFd(loc.pack);
      if (in < 0) {
        return ErrnoStatus("open pack of " + e.path);
      }
      RETURN_IF_ERROR(CopyRange(in, loc.offset, out.get(), offset, run, path));
      offset += run;
      i = j;
    }
    if (::fchmod(out.get(), e.mode & 07777) != 0) {
      return ErrnoStatus("chmod " + path.string());
    }
    struct timespec times[2];
    times[0].tv_sec = e.mtime_ns / 1'000'000'000;
    times[0].tv_nsec = e.mtime_ns % 1'000'000'000;
    times[1] = times[0];
    if (::futimens(out.get(), times) != 0) {
      return ErrnoStatus("set mtime of " + path.string());
    }
    ++stats.files;
    stats.bytes += e.size;
  }
  // Directory modes and times last (writing files into them changed the times).
  for (auto it = m.entries.rbegin(); it != m.entries.rend(); ++it) {
    if (it->type != EntryType::kDirectory && it->type != EntryType::kSymlink) {
      continue;
    }
    fs::path path = target_dir / it->path;
    struct timespec times[2];
    times[0].tv_sec = it->mtime_ns / 1'000'000'000;
    times[0].tv_nsec = it->mtime_ns % 1'000'000'000;
    times[1] = times[0];
    if (it->type == EntryType::kDirectory && ::chmod(path.c_str(), it->mode & 07777) != 0) {
      return ErrnoStatus("chmod " + path.string());
    }
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("set mtime of " + path.string());
    }
  }
  RETURN_IF_ERROR(SyncFilesystem(target_dir));
  return stats;
}

RepoSet::RepoSet(fs::path root, const Clock& clock, RepoOptions options)
    : root_(std::move(root)), clock_(clock), options_(options) {}

StatusOr<Repo*> RepoSet::Get(const std::string& site, const std::string& ns,
                             const std::string& policy) {
  ASSIGN_OR_RETURN(std::shared_ptr<Repo> repo, Share(site, ns, policy));
  return repo.get();
}

StatusOr<std::shared_ptr<Repo>> RepoSet::Share(const std::string& site, const std::string& ns,
                                               const std::string& policy) {
  RETURN_IF_ERROR(ValidateRepoName("site", site));
  RETURN_IF_ERROR(ValidateRepoName("namespace", ns));
  RETURN_IF_ERROR(ValidateRepoName("policy", policy));
  std::string key = site + "/" + ns + "/" + policy;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(key);
  if (it != repos_.end()) {
    return it->second;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Repo> repo,
                   Repo::Open(root_ / site / ns / policy, clock_, options_));
  std::shared_ptr<Repo> shared = std::move(repo);
  repos_[key] = shared;
  return shared;
}

Status RepoSet::Remove(const std::string& site, const std::string& ns, const std::string& policy) {
  RETURN_IF_ERROR(ValidateRepoName("site", site));
  RETURN_IF_ERROR(ValidateRepoName("namespace", ns));
  RETURN_IF_ERROR(ValidateRepoName("policy", policy));
  fs::path dir = root_ / site / ns / policy;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    std::lock_guard<std::mutex> lock(mu_);
    repos_.erase(site + "/" + ns + "/" + policy);
    return OkStatus();
  }
  ASSIGN_OR_RETURN(RepoLock repo_lock, RepoLock::Acquire(dir, RepoLock::Mode::kExclusive));
  {
    std::lock_guard<std::mutex> lock(mu_);
    repos_.erase(site + "/" + ns + "/" + policy);
  }
  // Moved aside first: a crash part-way never leaves a half-deleted replica under its name.
  fs::path doomed = dir.parent_path() / ("." + policy + ".removing-" + RandomHex(4));
  fs::rename(dir, doomed, ec);
  if (ec) {
    return UnavailableError("cannot move replica " + dir.string() + " aside: " + ec.message());
  }
  fs::remove_all(doomed, ec);
  if (ec) {
    return UnavailableError("cannot delete replica " + doomed.string() + ": " + ec.message());
  }
  return SyncDir(dir.parent_path());
}

namespace {
StatusOr<std::unique_ptr<Repo>> OpenExisting(const PointRef& ref) {
  RETURN_IF_ERROR(ValidateRepoName("site", ref.site));
  RETURN_IF_ERROR(ValidateRepoName("namespace", ref.ns));
  RETURN_IF_ERROR(ValidateRepoName("policy", ref.policy));
  fs::path dir = ref.root / ref.site / ref.ns / ref.policy;
  std::error_code ec;
  if (!fs::is_directory(dir / "points", ec)) {
    return NotFoundError("no replica of " + ref.site + "/" + ref.ns + "/" + ref.policy + " under " +
                         ref.root.string());
  }
  return Repo::Open(dir, SystemClock(), RepoOptions{});
}
}  // namespace

StatusOr<std::vector<PointInfo>> ListPoints(const PointRef& ref) {
  ASSIGN_OR_RETURN(std::unique_ptr<Repo> repo, OpenExisting(ref));
  return repo->Points();
}

StatusOr<MaterializeStats> Materialize(const PointRef& ref, const std::string& point,
                                       const fs::path& target_dir,
                                       const MaterializeOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Repo> repo, OpenExisting(ref));
  return repo->Materialize(point, target_dir, options);
}

Status DeletePoint(const PointRef& ref, const std::string& point) {
  ASSIGN_OR_RETURN(std::unique_ptr<Repo> repo, OpenExisting(ref));
  return repo->DeletePoint(point).status();
}

}  // namespace lifeboat::replication
