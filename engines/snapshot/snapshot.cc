#include "engines/snapshot/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "api/json.h"
#include "engines/snapshot/file_util.h"
#include "engines/snapshot/manifest.h"

namespace lifeboat::snapshot {

std::string_view VolumeKindName(VolumeKind kind) {
  return kind == VolumeKind::kDirectory ? "directory" : "image";
}

namespace {

constexpr size_t kIdLength = 12;
constexpr size_t kMaxVolumeName = 128;
// Materialize splits files into jobs of at most this many bytes for the worker threads.
constexpr uint64_t kRestoreJobBytes = 32ull << 20;
// Materialize reads and writes runs of consecutive blocks of up to this many bytes at once.
constexpr uint64_t kRestoreRunBytes = 1ull << 20;
constexpr char kManifestExt[] = ".snap";
constexpr char kFingerprintExt[] = ".fp";
// The magic names the fingerprint function: "LBSNFP1\n" AES-128-GMAC, "LBSNFP2\n" the
// VPCLMULQDQ polynomial hash (see blocks.h). A table of another function than this process
// computes is ignored like a missing one.
std::array<char, 8> FingerprintMagic(int function) {
  return {'L', 'B', 'S', 'N', 'F', 'P', static_cast<char>('0' + function), '\n'};
}

std::string KeyToHex(const FingerprintKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : key) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool ParseKey(const std::string& hex, FingerprintKey& key) {
  if (hex.size() != key.size() * 2) {
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < key.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    key[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

// A key whose GHASH key AES_K(0^128) is zero (chance 2^-128) would give every block one tag.
bool DegenerateKey(const FingerprintKey& key) {
  Fingerprinter fp(key);
  const uint8_t a = 0;
  const uint8_t b = 1;
  return fp.Of({&a, 1}) == fp.Of({&b, 1});
}

// <id>.fp: magic | u64 count | count fingerprints | SHA-256 of everything before.
std::string EncodeFingerprints(const std::vector<Fingerprint>& fps) {
  const std::array<char, 8> magic = FingerprintMagic(FingerprintFunction());
  std::string out(magic.data(), magic.size());
  uint64_t count = fps.size();
  out.append(reinterpret_cast<const char*>(&count), sizeof(count));
  for (const Fingerprint& fp : fps) {
    out.append(reinterpret_cast<const char*>(fp.data()), fp.size());
  }
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(out.data()), out.size()});
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

// The fingerprints of a snapshot with `count` blocks; empty when the file is missing, damaged
// or of another length (the caller then hashes every block, which is always correct).
std::vector<Fingerprint> ReadFingerprints(const std::filesystem::path& path, uint64_t count) {
  auto raw = ReadWholeFile(path);
  const std::array<char, 8> magic = FingerprintMagic(FingerprintFunction());
  constexpr size_t kHead = 8 + sizeof(uint64_t);
  if (!raw.ok() || raw->size() != kHead + count * sizeof(Fingerprint) + sizeof(BlockHash) ||
      std::memcmp(raw->data(), magic.data(), magic.size()) != 0) {
    return {};
  }
  size_t body = raw->size() - sizeof(BlockHash);
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(raw->data()), body});
  uint64_t stored_count = 0;
  std::memcpy(&stored_count, raw->data() + magic.size(), sizeof(stored_count));
  if (std::memcmp(sum.data(), raw->data() + body, sum.size()) != 0 || stored_count != count) {
    return {};
  }
  std::vector<Fingerprint> fps(count);
  std::memcpy(fps.data(), raw->data() + kHead, count * sizeof(Fingerprint));
  return fps;
}

int Threads(int requested) {
  if (requested > 0) {
    return requested;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct timespec FromNs(int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

Status ValidateVolumeName(const std::string& name) {
  if (name.empty() || name.size() > kMaxVolumeName) {
    return InvalidArgumentError("volume name must be 1.." + std::to_string(kMaxVolumeName) +
                                " characters");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return InvalidArgumentError("volume name \"" + name +
                                  "\" may only contain letters, digits, '.', '_' and '-'");
    }
  }
  return OkStatus();
}

bool ValidId(const std::string& id) {
  return !id.empty() && id.size() <= kIdLength && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string NewId() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (size_t i = 0; i < kIdLength; ++i) {
    id.push_back(kHex[rd() & 15]);
  }
  return id;
}

// flock on <dir>/lock for the lifetime of the object.
class StoreLock {
 public:
  static StatusOr<StoreLock> Acquire(const std::filesystem::path& dir, bool exclusive) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir / "lock", O_RDWR | O_CREAT, 0644));
    while (::flock(fd.get(), exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno != EINTR) {
        return ErrnoStatus("locking snapshot store " + dir.string());
      }
    }
    StoreLock lock;
    lock.fd_ = std::move(fd);
    return lock;
  }

 private:
  UniqueFd fd_;
};

struct Loaded {
  std::vector<Manifest> manifests;   // oldest first
  std::vector<std::string> damaged;  // "id: error"
};

std::unordered_set<uint64_t> LiveKeys(const std::vector<Manifest>& manifests) {
  std::unordered_set<uint64_t> live;
  for (const Manifest& m : manifests) {
    for (uint64_t key : m.blocks) {
      if (key != 0) {
        live.insert(key);
      }
    }
  }
  return live;
}

SnapshotInfo InfoOf(const Manifest& m) {
  SnapshotInfo info;
  info.id = m.id;
  info.volume = m.volume;
  info.kind = m.kind;
  info.source = m.source;
  info.creation_time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(m.created_ns)));
  info.parent = m.parent;
  info.provisioned_bytes = m.provisioned;
  info.changed_during_read = m.changed;
  for (const Entry& e : m.entries) {
    if (e.path.empty() && m.kind == VolumeKind::kDirectory) {
      continue;  // the root directory itself
    }
    switch (e.type) {
      case EntryType::kFile:
        ++info.files;
        break;
      case EntryType::kDirectory:
        ++info.directories;
        break;
      case EntryType::kSymlink:
        ++info.symlinks;
        break;
    }
  }
  return info;
}

std::string JoinPath(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

// The stat fields that reveal a change of a file's content.
struct FileState {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileState&) const = default;
};
FileState StateOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size), ToNs(st.st_mtim), ToNs(st.st_ctim)};
}

}  // namespace

struct SnapshotStore::Impl {
  static StatusOr<Loaded> LoadAll(SnapshotStore& store) {
    Loaded out;
    std::error_code ec;
    std::filesystem::path dir = store.dir_ / "snapshots";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!name.ends_with(kManifestExt)) {
        continue;
      }
      std::string id = name.substr(0, name.size() - std::strlen(kManifestExt));
      auto raw = ReadWholeFile(entry.path());
      if (!raw.ok()) {
        out.damaged.push_back(id + ": " + raw.status().message());
        continue;
      }
      auto m = DecodeManifest(*raw, entry.path().string());
      if (!m.ok()) {
        out.damaged.push_back(id + ": " + m.status().message());
        continue;
      }
      if (m->id != id || m->block_size != store.block_size_) {
        out.damaged.push_back(id + ": manifest does not belong to this store");
        continue;
      }
      out.manifests.push_back(std::move(*m));
    }
    if (ec) {
      return InternalError("listing " + dir.string() + ": " + ec.message());
    }
    std::sort(out.manifests.begin(), out.manifests.end(), [](const Manifest& a, const Manifest& b) {
      return a.created_ns != b.created_ns ? a.created_ns < b.created_ns : a.id < b.id;
    });
    return out;
  }

  // Temp files, and fingerprint files whose snapshot was never written or was deleted (a run
  // killed between the two files).
  static void RemoveTempManifests(SnapshotStore& store) {
    std::error_code ec;
    std::filesystem::path dir = store.dir_ / "snapshots";
    std::vector<std::filesystem::path> doomed;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (name.ends_with(".tmp")) {
        doomed.push_back(entry.path());
      } else if (name.ends_with(kFingerprintExt)) {
        std::string id = name.substr(0, name.size() - std::strlen(kFingerprintExt));
        std::error_code exists_ec;
        if (!std::filesystem::exists(dir / (id + kManifestExt), exists_ec) && !exists_ec) {
          doomed.push_back(entry.path());
        }
      }
    }
    for (const auto& path : doomed) {
      std::filesystem::remove(path, ec);
    }
  }

  static Status RefuseDamaged(const Loaded& loaded) {
    if (loaded.damaged.empty()) {
      return OkStatus();
    }
    return DataLossError("snapshot " + loaded.damaged.front() +
                         " (remove it with `lifeboat snapshot rm` before blocks can be freed)");
  }

  static StatusOr<std::string> ResolveId(const std::vector<std::string>& ids,
                                         const std::string& wanted) {
    if (!ValidId(wanted)) {
      return InvalidArgumentError("snapshot ID \"" + wanted + "\" must be 1.." +
                                  std::to_string(kIdLength) + " lowercase hex digits");
    }
    std::string found;
    for (const std::string& id : ids) {
      if (id == wanted) {
        return id;
      }
      if (id.starts_with(wanted)) {
        if (!found.empty()) {
          return InvalidArgumentError("snapshot ID prefix \"" + wanted + "\" is ambiguous");
        }
        found = id;
      }
    }
    if (found.empty()) {
      return NotFoundError("snapshot " + wanted + " not found");
    }
    return found;
  }

  static std::vector<std::string> ManifestIds(SnapshotStore& store) {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(store.dir_ / "snapshots", ec)) {
      std::string name = entry.path().filename().string();
      if (name.ends_with(kManifestExt)) {
        ids.push_back(name.substr(0, name.size() - std::strlen(kManifestExt)));
      }
    }
    return ids;
  }

  static StatusOr<Manifest> LoadOne(SnapshotStore& store, const std::string& wanted) {
    ASSIGN_OR_RETURN(std::string id, ResolveId(ManifestIds(store), wanted));
    std::filesystem::path path = store.dir_ / "snapshots" / (id + kManifestExt);
    ASSIGN_OR_RETURN(std::string raw, ReadWholeFile(path));
    ASSIGN_OR_RETURN(Manifest m, DecodeManifest(raw, path.string()));
    if (m.id != id || m.block_size != store.block_size_) {
      return DataLossError("snapshot manifest " + path.string() + " does not belong to this store");
    }
    return m;
  }

  // used/exclusive bytes of every manifest (exact: per distinct block, counted once).
  static Status Account(SnapshotStore& store, const std::vector<Manifest>& manifests,
                        std::vector<SnapshotInfo>& infos) {
    struct Use {
      int last = -1;
      int count = 0;
    };
    std::unordered_map<uint64_t, Use> uses;
    for (size_t i = 0; i < manifests.size(); ++i) {
      for (uint64_t key : manifests[i].blocks) {
        if (key == 0) {
          continue;
        }
        Use& u = uses[key];
        if (u.last != static_cast<int>(i)) {
          u.last = static_cast<int>(i);
          ++u.count;
        }
      }
    }
    infos.clear();
    for (size_t i = 0; i < manifests.size(); ++i) {
      SnapshotInfo info = InfoOf(manifests[i]);
      std::unordered_set<uint64_t> seen;
      for (uint64_t key : manifests[i].blocks) {
        if (key == 0 || !seen.insert(key).second) {
          continue;
        }
        ASSIGN_OR_RETURN(StoredBlock b, store.blocks_->Describe(BlockAddress::FromKey(key)));
        info.used_bytes += b.length;
        if (uses[key].count == 1) {
          info.exclusive_bytes += b.length;
        }
      }
      infos.push_back(std::move(info));
    }
    return OkStatus();
  }

  // The figures of manifests[index] alone, as Account computes them (Create needs only the new
  // snapshot's): its distinct blocks are marked in a per-pack slot table, the other snapshots'
  // blocks only look their slot up, so no hash table of every block of the store is built.
  static Status AccountOne(SnapshotStore& store, const std::vector<Manifest>& manifests,
                           size_t index, SnapshotInfo& info) {
    info = InfoOf(manifests[index]);
    enum : uint8_t { kUnused = 0, kOnlyHere = 1, kShared = 2 };
    std::unordered_map<uint32_t, std::vector<uint8_t>> marks;  // pack -> slot -> mark
    uint32_t last_pack = 0;
    std::vector<uint8_t>* last = nullptr;
    auto marks_of = [&](uint32_t pack, bool create) -> std::vector<uint8_t>* {
      if (last == nullptr || pack != last_pack) {
        auto it = marks.find(pack);
        if (it == marks.end()) {
          if (!create) {
            return nullptr;
          }
          it = marks.emplace(pack, std::vector<uint8_t>()).first;
        }
        last_pack = pack;
        last = &it->second;
      }
      return last;
    };
    std::vector<uint64_t> distinct;
    for (uint64_t key : manifests[index].blocks) {
      if (key == 0) {
        continue;
      }
      BlockAddress a = BlockAddress::FromKey(key);
      std::vector<uint8_t>& m = *marks_of(a.pack, true);
      if (m.size() <= a.slot) {
        m.resize(a.slot + 1, kUnused);
      }
      if (m[a.slot] == kUnused) {
        m[a.slot] = kOnlyHere;
        distinct.push_back(key);
      }
    }
    for (size_t i = 0; i < manifests.size(); ++i) {
      if (i == index) {
        continue;
      }
      for (uint64_t key : manifests[i].blocks) {
        if (key == 0) {
          continue;
        }
        BlockAddress a = BlockAddress::FromKey(key);
        std::vector<uint8_t>* m = marks_of(a.pack, false);
        if (m != nullptr && a.slot < m->size() && (*m)[a.slot] == kOnlyHere) {
          (*m)[a.slot] = kShared;
        }
      }
    }
    for (uint64_t key : distinct) {
      BlockAddress a = BlockAddress::FromKey(key);
      ASSIGN_OR_RETURN(StoredBlock b, store.blocks_->Describe(a));
      info.used_bytes += b.length;
      if ((*marks_of(a.pack, false))[a.slot] == kOnlyHere) {
        info.exclusive_bytes += b.length;
      }
    }
    return OkStatus();
  }

  // ---- create ----

  struct WalkState {
    std::vector<Entry> entries;
    std::vector<std::string> skipped;
    dev_t store_dev = 0;
    ino_t store_ino = 0;
  };

  static Status Walk(const std::filesystem::path& root, const std::string& rel, WalkState& w) {
    std::filesystem::path dir = rel.empty() ? root : root / rel;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      return ErrnoStatus("reading directory " + dir.string());
    }
    std::vector<std::string> names;
    while (struct dirent* de = ::readdir(d)) {
      std::string name = de->d_name;
      if (name != "." && name != "..") {
        names.push_back(std::move(name));
      }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string path = JoinPath(rel, name);
      std::filesystem::path full = root / path;
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0) {
        if (errno == ENOENT) {
          continue;  // removed since the listing: not part of this snapshot
        }
        return ErrnoStatus("stat " + full.string());
      }
      Entry e;
      e.path = path;
      e.mode = st.st_mode & 07777;
      e.mtime_ns = ToNs(st.st_mtim);
      e.uid = st.st_uid;
      e.gid = st.st_gid;
      if (S_ISDIR(st.st_mode)) {
        if (st.st_dev == w.store_dev && st.st_ino == w.store_ino) {
          w.skipped.push_back(path + ": the snapshot store itself");
          continue;
        }
        e.type = EntryType::kDirectory;
        w.entries.push_back(e);
        RETURN_IF_ERROR(Walk(root, path, w));
      } else if (S_ISREG(st.st_mode)) {
        e.type = EntryType::kFile;
        e.size = static_cast<uint64_t>(st.st_size);
        e.ino = st.st_ino;
        e.dev = st.st_dev;
        e.ctime_ns = ToNs(st.st_ctim);
        w.entries.push_back(e);
      } else if (S_ISLNK(st.st_mode)) {
        std::vector<char> buf(static_cast<size_t>(st.st_size) + 1 + 4096);
        ssize_t n = ::readlink(full.c_str(), buf.data(), buf.size());
        if (n < 0) {
          return ErrnoStatus("reading symlink " + full.string());
        }
        e.type = EntryType::kSymlink;
        e.target.assign(buf.data(), static_cast<size_t>(n));
        w.entries.push_back(e);
      } else {
        w.skipped.push_back(path + ": not a regular file, directory or symlink");
      }
    }
    return OkStatus();
  }

  struct CreateState {
    SnapshotStore& store;
    const CreateOptions& options;
    BlockStore::Writer& writer;
    Manifest& m;
    CreateResult& result;
    std::vector<Fingerprint>& fingerprints;  // parallel to m.blocks
    uint64_t total = 0;
    uint64_t done = 0;
  };

  // The same file in the previous snapshot of the volume: its block keys and fingerprints.
  struct PreviousFile {
    std::span<const uint64_t> blocks;
    std::span<const Fingerprint> fingerprints;  // empty: unknown
  };

  // Reads one file into blocks; `e.size` etc. are refreshed from the open file. A block whose
  // fingerprint equals the previous snapshot's at the same index shares that block.
  static Status ScanOne(CreateState& cs, const std::filesystem::path& full, Entry& e,
                        const PreviousFile& prev = {}) {
    auto fd_or = OpenFile(full, O_RDONLY | O_NOFOLLOW);
    if (!fd_or.ok()) {
      if (IsNotFound(fd_or.status())) {
        return AbortedError("source file " + full.string() + " disappeared while being read");
      }
      return fd_or.status();
    }
    UniqueFd fd = std::move(*fd_or);
    struct stat before {};
    if (::fstat(fd.get(), &before) != 0) {
      return ErrnoStatus("stat " + full.string());
    }
    if (!S_ISREG(before.st_mode)) {
      return AbortedError("source " + full.string() + " is no longer a regular file");
    }
    e.size = static_cast<uint64_t>(before.st_size);
    e.mtime_ns = ToNs(before.st_mtim);
    e.ctime_ns = ToNs(before.st_ctim);
    e.ino = before.st_ino;
    e.dev = before.st_dev;
    e.mode = before.st_mode & 07777;
    e.first_block = cs.m.blocks.size();
    ScanOptions scan;
    scan.block_size = cs.store.block_size_;
    scan.threads = cs.options.threads;
    scan.fingerprint_key = &cs.store.fingerprint_key_;
    // The writer writes new blocks straight from the scan's buffers (no copy).
    scan.held_buffers = BlockStore::Writer::kHeldBuffers;
    // Fingerprints of holes in the previous snapshot stay unknown (a hole has no block to share).
    std::vector<Fingerprint> known;
    if (!prev.fingerprints.empty()) {
      known.assign(prev.fingerprints.begin(), prev.fingerprints.end());
      for (size_t i = 0; i < known.size(); ++i) {
        if (prev.blocks[i] == 0) {
          known[i] = Fingerprint{};
        }
      }
      scan.previous = known;
    }
    uint64_t base = cs.done;
    if (cs.options.progress) {
      scan.progress = [&](uint64_t done, uint64_t) {
        cs.options.progress({"create", base + done, std::max(cs.total, base + done)});
      };
    }
    uint64_t expected = BlockCount(e.size, cs.store.block_size_);
    Status s = ScanFile(fd.get(), e.size, scan,
                        [&](const BlockInfo& block, std::span<const uint8_t> data,
                            const BufferHold& hold) -> Status {
                          if (block.zero) {
                            cs.m.blocks.push_back(0);
                            cs.fingerprints.push_back({});
                            return OkStatus();
                          }
                          cs.result.bytes_read += block.length;
                          cs.fingerprints.push_back(block.fingerprint);
                          if (block.unchanged) {
                            cs.m.blocks.push_back(prev.blocks[block.index]);
                            ++cs.result.blocks_unchanged;
                            return OkStatus();
                          }
                          ASSIGN_OR_RETURN(BlockAddress a, cs.writer.Put(block.hash, data, hold));
                          cs.m.blocks.push_back(a.Key());
                          return OkStatus();
                        });
    if (!s.ok()) {
      return s.WithPrefix(full.string());
    }
    if (cs.m.blocks.size() - e.first_block != expected) {
      return InternalError("scan of " + full.string() + " produced the wrong block count");
    }
    cs.done = base + e.size;
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0) {
      return ErrnoStatus("stat " + full.string());
    }
    if (!(StateOf(before) == StateOf(after))) {
      if (cs.options.on_source_change == SourceChangePolicy::kFail) {
        return AbortedError("source file " + full.string() +
                            " changed while being read (size or modification time differ); "
                            "freeze it with a hook or retry");
      }
      cs.m.changed.push_back(e.path.empty() ? full.string() : e.path);
    }
    return OkStatus();
  }

  static StatusOr<CreateResult> Create(SnapshotStore& store, const CreateOptions& options) {
    RETURN_IF_ERROR(ValidateVolumeName(options.volume));
    if (options.source.empty()) {
      return InvalidArgumentError("source path is empty");
    }
    struct stat src {};
    if (::stat(options.source.c_str(), &src) != 0) {
      return ErrnoStatus("source " + options.source.string()).code() == StatusCode::kNotFound
                 ? NotFoundError("source " + options.source.string() + " does not exist")
                 : ErrnoStatus("source " + options.source.string());
    }
    VolumeKind kind;
    if (S_ISREG(src.st_mode)) {
      kind = VolumeKind::kImage;
    } else if (S_ISDIR(src.st_mode)) {
      kind = VolumeKind::kDirectory;
    } else {
      return InvalidArgumentError("source " + options.source.string() +
                                  " is neither a regular file nor a directory");
    }
    std::filesystem::path source = std::filesystem::absolute(options.source);

    ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(store.dir_, /*exclusive=*/true));
    store.blocks_->ResetCache();
    ASSIGN_OR_RETURN(Loaded loaded, LoadAll(store));
    RETURN_IF_ERROR(RefuseDamaged(loaded));
    RemoveTempManifests(store);
    ASSIGN_OR_RETURN(SweepStats swept, store.blocks_->Sweep(LiveKeys(loaded.manifests)));
    (void)swept;

    const Manifest* parent = nullptr;
    std::vector<std::string> ids;
    for (const Manifest& m : loaded.manifests) {
      ids.push_back(m.id);
      if (m.volume == options.volume) {
        parent = &m;  // sorted oldest first: the last match is the latest
      }
    }
    if (parent != nullptr && parent->kind != kind) {
      return InvalidArgumentError("volume " + options.volume + " was a " +
                                  std::string(VolumeKindName(parent->kind)) +
                                  " in its previous snapshot; " + source.string() + " is a " +
                                  std::string(VolumeKindName(kind)));
    }

    Manifest m;
    do {
      m.id = NewId();
    } while (std::find(ids.begin(), ids.end(), m.id) != ids.end());
    m.volume = options.volume;
    m.kind = kind;
    m.source = source.string();
    m.parent = parent != nullptr ? parent->id : "";
    m.block_size = store.block_size_;

    CreateResult result;
    ASSIGN_OR_RETURN(std::unique_ptr<BlockStore::Writer> writer, store.blocks_->NewWriter());
    std::vector<Fingerprint> fingerprints;
    CreateState cs{store, options, *writer, m, result, fingerprints};
    std::vector<Fingerprint> parent_fingerprints;
    if (parent != nullptr) {
      parent_fingerprints = ReadFingerprints(
          store.dir_ / "snapshots" / (parent->id + kFingerprintExt), parent->blocks.size());
    }
    // The previous snapshot's blocks and fingerprints of one of its files.
    auto previous_of = [&](const Entry& pe) {
      uint64_t n = BlockCount(pe.size, store.block_size_);
      PreviousFile prev;
      prev.blocks = std::span<const uint64_t>(parent->blocks).subspan(pe.first_block, n);
      if (!parent_fingerprints.empty()) {
        prev.fingerprints =
            std::span<const Fingerprint>(parent_fingerprints).subspan(pe.first_block, n);
      }
      return prev;
    };

    // A volume's first snapshot adds up to one block per block of data: room for them in the
    // lookup saves its rehashing (capped; the lookup grows as needed beyond).
    auto reserve_lookup = [&] {
      if (parent == nullptr) {
        store.blocks_->ReserveLookup(static_cast<size_t>(
            std::min<uint64_t>(BlockCount(cs.total, store.block_size_), 1u << 20)));
      }
    };
    if (kind == VolumeKind::kImage) {
      Entry e;
      e.type = EntryType::kFile;
      e.uid = src.st_uid;
      e.gid = src.st_gid;
      cs.total = static_cast<uint64_t>(src.st_size);
      reserve_lookup();
      PreviousFile prev;
      if (parent != nullptr && !parent->entries.empty() &&
          parent->entries.front().type == EntryType::kFile) {
        prev = previous_of(parent->entries.front());
      }
      RETURN_IF_ERROR(ScanOne(cs, source, e, prev));
      m.provisioned = e.size;
      m.entries.push_back(std::move(e));
    } else {
      WalkState w;
      struct stat store_st {};
      if (::stat(store.dir_.c_str(), &store_st) == 0) {
        w.store_dev = store_st.st_dev;
        w.store_ino = store_st.st_ino;
      }
      Entry root;
      root.type = EntryType::kDirectory;
      root.mode = src.st_mode & 07777;
      root.mtime_ns = ToNs(src.st_mtim);
      root.uid = src.st_uid;
      root.gid = src.st_gid;
      w.entries.push_back(root);
      RETURN_IF_ERROR(Walk(source, "", w));
      result.skipped = std::move(w.skipped);
      std::unordered_map<std::string, const Entry*> previous;
      if (parent != nullptr) {
        for (const Entry& pe : parent->entries) {
          if (pe.type == EntryType::kFile) {
            previous.emplace(pe.path, &pe);
          }
        }
      }
      for (const Entry& e : w.entries) {
        cs.total += e.size;
      }
      reserve_lookup();
      for (Entry& e : w.entries) {
        if (e.type == EntryType::kFile) {
          auto it = previous.find(e.path);
          const Entry* pe = it == previous.end() ? nullptr : it->second;
          if (pe != nullptr && pe->size == e.size && pe->mtime_ns == e.mtime_ns &&
              pe->ino == e.ino && pe->dev == e.dev) {
            // Unchanged by size + mtime + inode: share the parent's (verified) blocks.
            uint64_t n = BlockCount(e.size, store.block_size_);
            e.first_block = m.blocks.size();
            m.blocks.insert(m.blocks.end(), parent->blocks.begin() + pe->first_block,
                            parent->blocks.begin() + pe->first_block + n);
            PreviousFile prev = previous_of(*pe);
            if (prev.fingerprints.empty()) {
              fingerprints.resize(m.blocks.size());
            } else {
              fingerprints.insert(fingerprints.end(), prev.fingerprints.begin(),
                                  prev.fingerprints.end());
            }
            e.ctime_ns = pe->ctime_ns;
            ++result.files_reused;
            cs.done += e.size;
          } else {
            RETURN_IF_ERROR(
                ScanOne(cs, source / e.path, e, pe != nullptr ? previous_of(*pe) : PreviousFile{}));
          }
          m.provisioned += e.size;
        }
        m.entries.push_back(std::move(e));
      }
    }
    // The point in time is the end of the read. The manifest and the fingerprint table are
    // encoded on another thread while this one waits for the pack's last writes and syncs.
    m.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    if (fingerprints.size() != m.blocks.size()) {
      return InternalError("fingerprint table does not match the block table");
    }
    std::string encoded;
    std::string encoded_fingerprints;
    std::thread encoder([&] {
      encoded = EncodeManifest(m);
      encoded_fingerprints = EncodeFingerprints(fingerprints);
    });
    Status sealed = writer->Seal();
    encoder.join();
    RETURN_IF_ERROR(sealed);
    result.bytes_stored = writer->new_bytes();
    result.blocks_stored = writer->new_blocks();
    Status written;
    if (WriteFaultFn fault = store.write_fault_) {
      written = fault(encoded.size()).WithPrefix("writing snapshot manifest");
    }
    if (written.ok()) {
      // Before the manifest, so a snapshot never lacks it; not synced (losing it only makes the
      // next snapshot hash every block; its checksum catches a torn file).
      written = WriteFileReplace(store.dir_ / "snapshots" / (m.id + kFingerprintExt),
                                 encoded_fingerprints);
    }
    if (written.ok()) {
      written = WriteFileAtomic(store.dir_ / "snapshots" / (m.id + kManifestExt), encoded);
    }
    if (!written.ok()) {
      // No snapshot: give the space of its new blocks back now rather than at the next run.
      std::error_code fp_ec;
      std::filesystem::remove(store.dir_ / "snapshots" / (m.id + kFingerprintExt), fp_ec);
      store.blocks_->Sweep(LiveKeys(loaded.manifests)).status().IgnoreError();
      return written;
    }
    loaded.manifests.push_back(std::move(m));
    RETURN_IF_ERROR(
        AccountOne(store, loaded.manifests, loaded.manifests.size() - 1, result.snapshot));
    if (options.progress) {
      options.progress({"create", cs.total, cs.total});
    }
    return result;
  }

  // ---- materialize ----

  struct Job {
    size_t entry;
    uint64_t first;  // block index within the file
    uint64_t count;
  };

  static Status WriteBlocks(SnapshotStore& store, const Manifest& m,
                            const std::vector<std::filesystem::path>& paths,
                            const std::vector<Job>& jobs, int threads, uint64_t total,
                            const ProgressFn& progress, uint64_t& written) {
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> done{0};
    std::mutex mu;
    Status first_error;
    auto worker = [&] {
      std::vector<uint8_t> buf;
      while (true) {
        size_t j = next.fetch_add(1);
        if (j >= jobs.size()) {
          return;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok()) {
            return;
          }
        }
        const Job& job = jobs[j];
        const Entry& e = m.entries[job.entry];
        Status s = [&]() -> Status {
          ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(paths[job.entry], O_WRONLY));
          uint64_t bytes = 0;
          const uint64_t end = job.first + job.count;
          const uint64_t max_run = std::max<uint64_t>(1, kRestoreRunBytes / m.block_size);
          uint64_t b = job.first;
          while (b < end) {
            uint64_t key = m.blocks[e.first_block + b];
            if (key == 0) {
              ++b;
              continue;
            }
            // Blocks in consecutive slots are read and written with one call each.
            uint64_t n = 1;
            while (b + n < end && n < max_run && m.blocks[e.first_block + b + n] == key + n) {
              ++n;
            }
            RETURN_IF_ERROR(
                store.blocks_->ReadRun(BlockAddress::FromKey(key), static_cast<uint32_t>(n), buf));
            uint64_t offset = b * m.block_size;
            uint64_t want = std::min<uint64_t>(n * m.block_size, e.size - offset);
            if (buf.size() != want) {
              return DataLossError("blocks " + std::to_string(b) + ".." + std::to_string(b + n) +
                                   " of " + (e.path.empty() ? "the image" : e.path) +
                                   " have the wrong length in the store");
            }
            RETURN_IF_ERROR(PwriteFull(fd.get(), buf.data(), buf.size(), offset, paths[job.entry]));
            bytes += buf.size();
            b += n;
          }
          uint64_t now = done.fetch_add(bytes) + bytes;
          if (progress) {
            std::lock_guard<std::mutex> lock(mu);
            progress({"restore", now, total});
          }
          return OkStatus();
        }();
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) {
            first_error = s;
          }
          return;
        }
      }
    };
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) {
      pool.emplace_back(worker);
    }
    worker();
    for (auto& t : pool) {
      t.join();
    }
    written = done.load();
    return first_error;
  }

  static Status SetMetadata(const std::filesystem::path& path, const Entry& e) {
    bool is_link = e.type == EntryType::kSymlink;
    if (::geteuid() == 0) {
      // Ownership only when we may set it (best effort: root restores owners).
      if (::lchown(path.c_str(), e.uid, e.gid) != 0 && errno != EPERM) {
        return ErrnoStatus("chown " + path.string());
      }
    }
    if (!is_link && ::chmod(path.c_str(), e.mode) != 0) {
      return ErrnoStatus("chmod " + path.string());
    }
    struct timespec times[2] = {{0, UTIME_OMIT}, FromNs(e.mtime_ns)};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("setting times of " + path.string());
    }
    return OkStatus();
  }

  static StatusOr<MaterializeResult> Materialize(SnapshotStore& store,
                                                 const MaterializeOptions& options) {
    if (options.target.empty()) {
      return InvalidArgumentError("target path is empty");
    }
    ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(store.dir_, /*exclusive=*/false));
    store.blocks_->ResetCache();
    ASSIGN_OR_RETURN(Manifest m, LoadOne(store, options.id));
    std::filesystem::path target = std::filesystem::absolute(options.target);
    std::error_code ec;
    bool target_exists = std::filesystem::exists(std::filesystem::symlink_status(target, ec));
    if (target_exists) {
      if (m.kind == VolumeKind::kImage || !std::filesystem::is_directory(target, ec) ||
          !std::filesystem::is_empty(target, ec)) {
        return AlreadyExistsError(
            "target " + target.string() + " already exists (give a new path" +
            (m.kind == VolumeKind::kDirectory ? " or an empty directory)" : ")"));
      }
    }
    if (!std::filesystem::is_directory(target.parent_path(), ec)) {
      return NotFoundError("target directory " + target.parent_path().string() + " does not exist");
    }
    std::filesystem::path tmp =
        target.parent_path() / ("." + target.filename().string() + ".lifeboat-restore-" + m.id);
    std::filesystem::remove_all(tmp, ec);

    MaterializeResult result;
    result.target = target;
    Status s = [&]() -> Status {
      std::vector<std::filesystem::path> paths(m.entries.size());
      std::vector<Job> jobs;
      uint64_t total = 0;
      uint64_t per_job = std::max<uint64_t>(1, kRestoreJobBytes / m.block_size);
      for (size_t i = 0; i < m.entries.size(); ++i) {
        const Entry& e = m.entries[i];
        paths[i] = e.path.empty() ? tmp : tmp / e.path;
        switch (e.type) {
          case EntryType::kDirectory:
            if (::mkdir(paths[i].c_str(), 0700) != 0) {
              return ErrnoStatus("creating directory " + paths[i].string());
            }
            ++result.directories;
            break;
          case EntryType::kSymlink:
            if (::symlink(e.target.c_str(), paths[i].c_str()) != 0) {
              return ErrnoStatus("creating symlink " + paths[i].string());
            }
            ++result.symlinks;
            break;
          case EntryType::kFile: {
            ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(paths[i], O_WRONLY | O_CREAT | O_EXCL, 0600));
            if (::ftruncate(fd.get(), static_cast<off_t>(e.size)) != 0) {
              return ErrnoStatus("sizing " + paths[i].string());
            }
            uint64_t n = BlockCount(e.size, m.block_size);
            for (uint64_t b = 0; b < n; b += per_job) {
              jobs.push_back({i, b, std::min(per_job, n - b)});
            }
            total += e.size;
            ++result.files;
            break;
          }
        }
      }
      if (m.kind == VolumeKind::kDirectory) {
        --result.directories;  // the root
      }
      RETURN_IF_ERROR(WriteBlocks(store, m, paths, jobs, Threads(options.threads), total,
                                  options.progress, result.bytes_written));
      // Metadata last, deepest first, so writing children does not move a directory's mtime.
      for (size_t i = m.entries.size(); i-- > 0;) {
        RETURN_IF_ERROR(SetMetadata(paths[i], m.entries[i]));
      }
      if (target_exists && ::rmdir(target.c_str()) != 0) {
        return ErrnoStatus("replacing empty directory " + target.string());
      }
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
        return ErrnoStatus("moving the restored volume to " + target.string());
      }
      return OkStatus();
    }();
    if (!s.ok()) {
      std::filesystem::remove_all(tmp, ec);
      return s;
    }
    if (options.progress) {
      options.progress({"restore", result.bytes_written, result.bytes_written});
    }
    return result;
  }

  // ---- verify ----

  static StatusOr<VerifyResult> Verify(SnapshotStore& store, const std::string& id,
                                       const ProgressFn& progress) {
    ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(store.dir_, /*exclusive=*/false));
    store.blocks_->ResetCache();
    ASSIGN_OR_RETURN(Manifest m, LoadOne(store, id));
    // Expected length of every referenced block (a block may be shared by files).
    std::unordered_map<uint64_t, uint32_t> expected;
    for (const Entry& e : m.entries) {
      if (e.type != EntryType::kFile) {
        continue;
      }
      uint64_t n = BlockCount(e.size, m.block_size);
      for (uint64_t b = 0; b < n; ++b) {
        uint64_t key = m.blocks[e.first_block + b];
        if (key != 0) {
          expected.emplace(key, static_cast<uint32_t>(
                                    std::min<uint64_t>(m.block_size, e.size - b * m.block_size)));
        }
      }
    }
    std::vector<std::pair<uint64_t, uint32_t>> keys(expected.begin(), expected.end());
    std::sort(keys.begin(), keys.end());
    uint64_t total = 0;
    for (const auto& [key, len] : keys) {
      total += len;
    }
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> done{0};
    std::mutex mu;
    Status first_error;
    constexpr size_t kBatch = 64;
    auto worker = [&] {
      std::vector<uint8_t> buf;
      while (true) {
        size_t start = next.fetch_add(kBatch);
        if (start >= keys.size()) {
          return;
        }
        uint64_t bytes = 0;
        for (size_t i = start; i < std::min(keys.size(), start + kBatch); ++i) {
          Status s = store.blocks_->Read(BlockAddress::FromKey(keys[i].first), buf);
          if (s.ok() && buf.size() != keys[i].second) {
            s = DataLossError("block " + std::to_string(BlockAddress::FromKey(keys[i].first).slot) +
                              " of pack " +
                              std::to_string(BlockAddress::FromKey(keys[i].first).pack) +
                              " has the wrong length");
          }
          if (!s.ok()) {
            std::lock_guard<std::mutex> l(mu);
            if (first_error.ok()) {
              first_error = s;
            }
            return;
          }
          bytes += buf.size();
        }
        uint64_t now = done.fetch_add(bytes) + bytes;
        if (progress) {
          std::lock_guard<std::mutex> l(mu);
          progress({"verify", now, total});
        }
      }
    };
    std::vector<std::thread> pool;
    for (int i = 1; i < Threads(0); ++i) {
      pool.emplace_back(worker);
    }
    worker();
    for (auto& t : pool) {
      t.join();
    }
    if (!first_error.ok()) {
      return DataLossError("snapshot " + m.id + " is damaged: " + first_error.message());
    }
    return VerifyResult{keys.size(), done.load()};
  }
};

StatusOr<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(const std::filesystem::path& dir,
                                                             const StoreOptions& options) {
  if (dir.empty()) {
    return InvalidArgumentError("snapshot store path is empty");
  }
  RETURN_IF_ERROR(ValidateBlockSize(options.block_size));
  std::error_code ec;
  std::filesystem::create_directories(dir / "snapshots", ec);
  if (ec) {
    return InvalidArgumentError("cannot create snapshot store " + dir.string() + ": " +
                                ec.message());
  }
  std::filesystem::path abs = std::filesystem::absolute(dir);
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(abs, /*exclusive=*/true));
  std::filesystem::path config = abs / "store.json";
  uint32_t block_size = options.block_size;
  FingerprintKey key{};
  bool have_key = false;
  if (std::filesystem::exists(config, ec)) {
    ASSIGN_OR_RETURN(std::string raw, ReadWholeFile(config));
    try {
      Json j = Json::parse(raw);
      if (j.at("format").get<int>() != 1) {
        return FailedPreconditionError(config.string() + ": unsupported format " +
                                       j.at("format").dump());
      }
      block_size = j.at("blockSize").get<uint32_t>();
      if (j.contains("fingerprintKey")) {
        if (!ParseKey(j.at("fingerprintKey").get<std::string>(), key)) {
          return DataLossError(config.string() + " has an invalid fingerprintKey");
        }
        have_key = true;
      }
    } catch (const std::exception& e) {
      return DataLossError(config.string() + " is damaged: " + e.what());
    }
    if (!ValidateBlockSize(block_size).ok()) {
      return DataLossError(config.string() + " has an invalid blockSize");
    }
    if (options.block_size_set && block_size != options.block_size) {
      return FailedPreconditionError("snapshot store " + abs.string() + " uses block size " +
                                     std::to_string(block_size) + ", not " +
                                     std::to_string(options.block_size));
    }
  }
  if (!have_key) {
    // A new store, or one made before change tracking: the format stays 1 (readers that do not
    // know the key ignore it).
    do {
      key = NewFingerprintKey();
    } while (DegenerateKey(key));
    RETURN_IF_ERROR(WriteFileAtomic(
        config,
        Json{{"format", 1}, {"blockSize", block_size}, {"fingerprintKey", KeyToHex(key)}}.dump() +
            "\n"));
  }
  if (DegenerateKey(key)) {
    return DataLossError(config.string() + " has a degenerate fingerprintKey");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BlockStore> blocks,
                   BlockStore::Open(abs / "blocks", block_size));
  blocks->set_write_fault(options.write_fault);
  auto store =
      std::unique_ptr<SnapshotStore>(new SnapshotStore(abs, block_size, key, std::move(blocks)));
  store->write_fault_ = options.write_fault;
  return store;
}

SnapshotStore::~SnapshotStore() = default;

StatusOr<CreateResult> SnapshotStore::Create(const CreateOptions& options) {
  return Impl::Create(*this, options);
}

StatusOr<std::vector<SnapshotInfo>> SnapshotStore::List() {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(dir_, /*exclusive=*/false));
  blocks_->ResetCache();
  ASSIGN_OR_RETURN(Loaded loaded, Impl::LoadAll(*this));
  RETURN_IF_ERROR(Impl::RefuseDamaged(loaded));
  std::vector<SnapshotInfo> infos;
  RETURN_IF_ERROR(Impl::Account(*this, loaded.manifests, infos));
  return infos;
}

StatusOr<SnapshotInfo> SnapshotStore::Get(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> all, List());
  std::vector<std::string> ids;
  for (const SnapshotInfo& i : all) {
    ids.push_back(i.id);
  }
  ASSIGN_OR_RETURN(std::string resolved, Impl::ResolveId(ids, id));
  for (SnapshotInfo& i : all) {
    if (i.id == resolved) {
      return std::move(i);
    }
  }
  return NotFoundError("snapshot " + id + " not found");
}

StatusOr<DeleteResult> SnapshotStore::Delete(const std::string& id) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(dir_, /*exclusive=*/true));
  blocks_->ResetCache();
  ASSIGN_OR_RETURN(std::string resolved, Impl::ResolveId(Impl::ManifestIds(*this), id));
  std::filesystem::path path = dir_ / "snapshots" / (resolved + kManifestExt);
  if (::unlink(path.c_str()) != 0) {
    return ErrnoStatus("removing " + path.string());
  }
  RETURN_IF_ERROR(FsyncDir(path.parent_path()));
  // Only an optimisation of the next snapshot; a leftover is removed by the next Create.
  std::error_code fp_ec;
  std::filesystem::remove(dir_ / "snapshots" / (resolved + kFingerprintExt), fp_ec);
  ASSIGN_OR_RETURN(Loaded loaded, Impl::LoadAll(*this));
  Status damaged = Impl::RefuseDamaged(loaded);
  if (!damaged.ok()) {
    return damaged.WithPrefix("snapshot " + resolved +
                              " was removed but its blocks were not freed");
  }
  ASSIGN_OR_RETURN(SweepStats stats, blocks_->Sweep(LiveKeys(loaded.manifests)));
  return DeleteResult{stats.bytes_freed, stats.blocks_freed};
}

StatusOr<VerifyResult> SnapshotStore::Verify(const std::string& id, const ProgressFn& progress) {
  return Impl::Verify(*this, id, progress);
}

StatusOr<MaterializeResult> SnapshotStore::Materialize(const MaterializeOptions& options) {
  return Impl::Materialize(*this, options);
}

StatusOr<SweepStats> SnapshotStore::CollectGarbage() {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(dir_, /*exclusive=*/true));
  blocks_->ResetCache();
  ASSIGN_OR_RETURN(Loaded loaded, Impl::LoadAll(*this));
  RETURN_IF_ERROR(Impl::RefuseDamaged(loaded));
  Impl::RemoveTempManifests(*this);
  return blocks_->Sweep(LiveKeys(loaded.manifests));
}

}  // namespace lifeboat::snapshot
