// Backup: walk and stat (this thread) → parts of files: read, chunk, hash, dedup, compress,
// encrypt into a pack (worker pool, each worker doing every step of its part with the bytes
// still in cache) → upload (BlobSaver threads). Small files are one part each; large files are
// cut into parts at content-defined split points (Chunker::FindSplit) so that both cores chunk
// the same file. Directory trees are finalised bottom-up as soon as their last file's chunks are
// stored, so memory holds only the directories being worked on plus the parts in flight
// (ByteBudget), never the whole file list.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "engines/vault/blob_saver.h"
#include "engines/vault/compress.h"
#include "engines/vault/lock.h"
#include "engines/vault/vault.h"
#include "engines/vault/work_pool.h"

namespace lifeboat::vault {

namespace {
namespace fs = std::filesystem;

constexpr size_t kReadBlock = 4 << 20;
// Files (or data segments of sparse files) are read and chunked in parts of about this size.
constexpr uint64_t kPartBytes = 8 << 20;
// Every queued part counts this much against the budget, whatever its size: a part holds no
// file data until a worker reads it into that worker's own buffers, so the budget bounds the
// queue (its FileState and DirState records), not bytes. Charging a large part its size made
// the walk wait behind a large file's parts and walk the rest of the tree only after it, alone.
constexpr uint64_t kQueuedPartCost = 64 << 10;
constexpr auto kProgressEvery = std::chrono::milliseconds(200);
// Small files are handed to the workers this many (or this many bytes) at a time.
constexpr size_t kSmallBatchFiles = 8;
constexpr uint64_t kSmallBatchBytes = 512 << 10;

std::string HostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Reads up to `len` bytes at `offset`, fewer only at end of file or on an error (then *err is
// the errno).
size_t ReadUpTo(int fd, char* buf, size_t len, uint64_t offset, int* err) {
  size_t have = 0;
  while (have < len) {
    ssize_t n = ::pread(fd, buf + have, len - have, static_cast<off_t>(offset + have));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) *err = errno;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  return have;
}

bool AllZero(const char* p, size_t n) {
  return n > 0 && p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0;
}

// The extended attributes of `path` (not following symlinks), sorted by name. A filesystem
// without them gives none; any other failure is an error naming the attribute.
StatusOr<std::vector<std::pair<std::string, std::string>>> ReadXattrs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string names;
  while (true) {
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0 && (errno == ENOTSUP || errno == ENODATA)) return out;
    if (n < 0) {
      return InternalError(std::string("listing extended attributes: ") + std::strerror(errno));
    }
    if (n == 0) return out;
    names.resize(static_cast<size_t>(n));
    n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n < 0 && errno == ERANGE) continue;  // grew meanwhile
    if (n < 0) {
      return InternalError(std::string("listing extended attributes: ") + std::strerror(errno));
    }
    names.resize(static_cast<size_t>(n));
    break;
  }
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.empty()) continue;
    if (!IsValidUtf8(name)) {
      return InternalError("extended attribute " + EscapeInvalidUtf8(name) +
                           " has a name that is not valid UTF-8, which this vault format cannot "
                           "record");
    }
    std::string value;
    while (true) {
      ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (n < 0 && errno == ENODATA) break;  // removed meanwhile
      if (n < 0) {
        return InternalError("reading extended attribute " + name + ": " + std::strerror(errno));
      }
      value.resize(static_cast<size_t>(n));
      n = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (n < 0 && errno == ERANGE) continue;
      if (n < 0) {
        return InternalError("reading extended attribute " + name + ": " + std::strerror(errno));
      }
      value.resize(static_cast<size_t>(n));
      out.emplace_back(std::move(name), std::move(value));
      break;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<NodeType> TypeOf(mode_t m) {
  if (S_ISREG(m)) return NodeType::kFile;
  if (S_ISDIR(m)) return NodeType::kDir;
  if (S_ISLNK(m)) return NodeType::kSymlink;
  if (S_ISFIFO(m)) return NodeType::kFifo;
  if (S_ISCHR(m)) return NodeType::kCharDev;
  if (S_ISBLK(m)) return NodeType::kBlockDev;
  return std::nullopt;  // sockets are not backed up
}

Node NodeFromStat(const std::string& name, const struct stat& st) {
  Node n;
  n.name = name;
  n.type = TypeOf(st.st_mode).value_or(NodeType::kFile);
  n.mode = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.mtime_ns = ToNs(st.st_mtim);
  n.ctime_ns = ToNs(st.st_ctim);
  n.inode = st.st_ino;
  n.device = st.st_dev;
  n.nlink = st.st_nlink;
  n.size = n.type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  n.rdev = (n.type == NodeType::kCharDev || n.type == NodeType::kBlockDev) ? st.st_rdev : 0;
  return n;
}

struct DirState {
  std::shared_ptr<DirState> parent;
  Node* slot = nullptr;  // this directory's node in the parent's list (null for the root)
  std::deque<Node> nodes;
  std::atomic<int> pending{1};  // the walker's token plus one per unfinished child
};

// A chunk of a file: where it starts, how long it is, its ID and (when computed) fingerprint.
struct ChunkRef {
  uint64_t offset = 0;
  uint64_t length = 0;
  Digest id{};
  ChunkFingerprint fp{};
};

// The chunks of the parent point's version of a changed file, where they were, with their
// fingerprints (FORMAT.md §4). At each chunk start, the parent chunk expected there — the one
// after the parent chunk just found again, else the one that started at the same offset — is
// reused without chunking or hashing when the bytes now there have its fingerprint and it was
// cut where Cut would cut them again.
struct ParentChunks {
  struct Chunk {
    uint64_t offset = 0;
    uint32_t length = 0;
    Digest id{};
    ChunkFingerprint fp{};
  };
  static constexpr size_t kNone = ~size_t{0};
  std::vector<Chunk> chunks;                             // in file order
  std::unordered_map<Digest, size_t, DigestHash> by_id;  // first chunk of each ID

  size_t At(uint64_t offset) const {
    auto it = std::lower_bound(chunks.begin(), chunks.end(), offset,
                               [](const Chunk& c, uint64_t o) { return c.offset < o; });
    return it != chunks.end() && it->offset == offset ? static_cast<size_t>(it - chunks.begin())
                                                      : kNone;
  }
  size_t Find(const Digest& id) const {
    auto it = by_id.find(id);
    return it != by_id.end() ? it->second : kNone;
  }
};

// A byte range of a file chunked on its own. A piece cut out of a large data segment starts
// and/or ends at the split point found near its nominal offset (searching up to `limit`).
struct Piece {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t limit = 0;
  bool split_begin = false;
  bool split_end = false;
};

struct FileState {
  std::shared_ptr<DirState> dir;
  Node* node = nullptr;
  std::string path;
  uint64_t size = 0;
  std::vector<std::vector<ChunkRef>> parts;  // one per part, each filled by one worker
  bool is_new = false;                       // no parent entry (else: changed)
  bool fingerprint = false;                  // compute chunk fingerprints
  std::shared_ptr<const ParentChunks> parent;  // the parent's chunks, when fingerprinted
  std::atomic<int> pending{1};
  std::atomic<bool> failed{false};
};

// Per worker thread: the read buffer and the split-search buffer, kept across parts.
struct ReadBuffers {
  ScratchBuffer data;
  ScratchBuffer split;
};

class BackupRun {
 public:
  BackupRun(Repository& repo, const BackupOptions& options)
      : repo_(repo),
        options_(options),
        clock_(options.clock != nullptr ? *options.clock : SystemClock()),
        saver_(repo),
        budget_(std::max<uint64_t>(options.memory_budget, 4 * kPartBytes),
                std::max<uint64_t>(options.memory_budget, 4 * kPartBytes) / 2),
        pool_(DefaultThreads(options.threads)) {}

  StatusOr<BackupResult> Run();

 private:
  // Parent-point lookup: the children of the directory at the same path in the parent point.
  using ParentDir = std::vector<Node>;

  Status Walk(const std::string& path, const std::string& name,
              const std::shared_ptr<DirState>& dir, const Node* parent_node);
  void WalkDir(const std::string& path, const std::shared_ptr<DirState>& self,
               const Node* parent_node);
  void BackupFile(const std::string& path, int fd, const struct stat& st,
                  const std::shared_ptr<DirState>& dir, Node node, const Node* parent_node);
  std::shared_ptr<const ParentChunks> ParentChunksOf(const Node& parent_node) const;
  void RunPart(const std::shared_ptr<FileState>& file, size_t part,
               const std::vector<Piece>& pieces);
  // Small files (one chunk) go to the workers in batches, whose chunk IDs are computed two
  // SHA-256 streams at a time (Hmac::SumMany); one task per batch instead of per file.
  void SubmitSmall(const std::shared_ptr<FileState>& file);
  void FlushSmall();
  void RunSmall(const std::vector<std::shared_ptr<FileState>>& files);
  // Opens a file for reading; -1 when it already failed, when the run has failed (the file is
  // then marked failed), or when it cannot be opened (reported, counted as unopened).
  int OpenForRead(FileState& file);
  uint64_t SplitPoint(int fd, uint64_t nominal, uint64_t limit, ReadBuffers& buffers);
  std::string ChunkRange(const FileState& file, int fd, uint64_t begin, uint64_t end,
                         ReadBuffers& buffers, std::vector<ChunkRef>& out);
  void DoneFile(const std::shared_ptr<FileState>& file);
  void DoneDir(const std::shared_ptr<DirState>& dir);
  void Fail(const Status& s);
  void AddError(const std::string& path, const std::string& error);
  bool Unchanged(const Node& now, const Node* before) const;
  void MaybeReportProgress(bool force);
  void StartScanner();

  Repository& repo_;
  const BackupOptions& options_;
  const Clock& clock_;
  BlobSaver saver_;
  ByteBudget budget_;

  std::mutex mu_;
  std::condition_variable done_cv_;
  bool root_done_ = false;
  Digest root_tree_{};
  Status error_;
  std::vector<FileError> file_errors_;

  PointSummary summary_;
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_matched_{0};
  // Files that could not be opened are not counted in the summary (they are in the errors).
  std::atomic<uint64_t> unopened_files_{0};
  std::atomic<uint64_t> unopened_new_{0};
  std::atomic<uint64_t> unopened_bytes_{0};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_total_{0};
  std::atomic<uint64_t> files_total_{0};
  std::atomic<bool> scan_done_{false};
  std::atomic<bool> stop_scan_{false};
  std::thread scanner_;
  // Walker thread only: small files waiting for a batch.
  std::vector<std::shared_ptr<FileState>> held_small_;
  uint64_t held_small_bytes_ = 0;
  std::mutex progress_mu_;
  std::chrono::steady_clock::time_point last_progress_{};
  // Declared last: destroyed (drained) first, while everything the tasks use still exists.
  WorkPool pool_;
};

void BackupRun::Fail(const Status& s) {
  std::lock_guard lock(mu_);
  if (error_.ok()) {
    error_ = s;
  }
}

void BackupRun::AddError(const std::string& path, const std::string& error) {
  std::lock_guard lock(mu_);
  file_errors_.push_back({path, error});
}

bool BackupRun::Unchanged(const Node& now, const Node* before) const {
  if (before == nullptr || before->type != NodeType::kFile || before->size != now.size ||
      before->mtime_ns != now.mtime_ns || before->ctime_ns != now.ctime_ns ||
      before->inode != now.inode) {
    return false;
  }
  for (const Extent& e : before->content) {
    if (!e.is_hole() && !repo_.Lookup(e.id).has_value()) {
      return false;
    }
  }
  return true;
}

void BackupRun::DoneFile(const std::shared_ptr<FileState>& file) {
  if (file->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  if (file->failed.load()) {
    file->node->name.clear();  // dropped from the tree; listed in the point's errors
  } else {
    // Extents in file order: the parts' chunks, with holes for every gap (zero chunks, holes of
    // sparse files, and whatever a file that shrank while it was read no longer had).
    std::vector<Extent>& content = file->node->content;
    content.clear();
    std::vector<ChunkFingerprint>& fingerprints = file->node->fingerprints;
    fingerprints.clear();
    uint64_t pos = 0;
    auto add_hole = [&](uint64_t len) {
      if (len == 0) return;
      if (!content.empty() && content.back().is_hole()) {
        content.back().hole += len;
      } else {
        content.push_back(Extent{Digest{}, len});
      }
    };
    for (const std::vector<ChunkRef>& part : file->parts) {
      for (const ChunkRef& c : part) {
        add_hole(c.offset - pos);
        content.push_back(Extent{c.id, 0});
        if (file->fingerprint) fingerprints.push_back(c.fp);
        pos = c.offset + c.length;
      }
    }
    // A file of one chunk gains nothing from its fingerprint (any change changes the chunk).
    if (fingerprints.size() < 2) fingerprints.clear();
    add_hole(file->size > pos ? file->size - pos : 0);
    file->node->size = std::max(file->size, pos);
  }
  file->parts.clear();
  files_done_++;
  DoneDir(file->dir);
}

void BackupRun::DoneDir(const std::shared_ptr<DirState>& dir) {
  if (dir->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  std::vector<Node> nodes;
  nodes.reserve(dir->nodes.size());
  for (Node& n : dir->nodes) {
    if (!n.name.empty()) {
      nodes.push_back(std::move(n));
    }
  }
  dir->nodes.clear();
  auto id = saver_.Save(BlobType::kTree, EncodeTree(nodes));
  if (!id.ok()) {
    Fail(id.status());
  }
  Digest tree = id.ok() ? *id : Digest{};
  if (dir->parent != nullptr) {
    dir->slot->subtree = tree;
    DoneDir(dir->parent);
    return;
  }
  std::lock_guard lock(mu_);
  root_tree_ = tree;
  root_done_ = true;
  done_cv_.notify_all();
}

void BackupRun::MaybeReportProgress(bool force) {
  if (!options_.progress) {
    return;
  }
  std::unique_lock lock(progress_mu_, std::defer_lock);
  if (force) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_progress_ < kProgressEvery) {
    return;
  }
  last_progress_ = now;
  Progress p;
  p.phase = "backup";
  p.files_done = files_done_.load();
  p.bytes_done = bytes_done_.load();
  if (scan_done_.load()) {
    p.files_total = files_total_.load();
    p.bytes_total = bytes_total_.load();
  }
  options_.progress(p);
}

void BackupRun::StartScanner() {
  if (!options_.progress) {
    return;
  }
  scanner_ = std::thread([this] {
    uint64_t files = 0;
    uint64_t bytes = 0;
    for (const std::string& root : options_.paths) {
      std::error_code ec;
      if (fs::is_regular_file(fs::symlink_status(root, ec))) {
        files++;
        bytes += fs::file_size(root, ec);
        continue;
      }
      fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
      for (fs::recursive_directory_iterator end; !ec && it != end && !stop_scan_.load();
           it.increment(ec)) {
        if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
          files++;
          bytes += it->file_size(ec);
        }
      }
    }
    files_total_ = files;
    bytes_total_ = bytes;
    scan_done_ = true;
  });
}

std::shared_ptr<const ParentChunks> BackupRun::ParentChunksOf(const Node& parent_node) const {
  if (parent_node.type != NodeType::kFile || parent_node.fingerprints.empty()) {
    return nullptr;
  }
  auto out = std::make_shared<ParentChunks>();
  out->chunks.reserve(parent_node.fingerprints.size());
  uint64_t pos = 0;
  size_t next_fp = 0;
  for (const Extent& e : parent_node.content) {
    if (e.is_hole()) {
      pos += e.hole;
      continue;
    }
    auto loc = repo_.Lookup(e.id);
    if (!loc.has_value() || next_fp >= parent_node.fingerprints.size()) {
      break;  // its length is unknown, and so is where every later chunk started
    }
    out->chunks.push_back({pos, loc->entry.raw_length, e.id, parent_node.fingerprints[next_fp++]});
    out->by_id.try_emplace(e.id, out->chunks.size() - 1);
    pos += loc->entry.raw_length;
  }
  if (out->chunks.empty()) {
    return nullptr;
  }
  return out;
}

void BackupRun::BackupFile(const std::string& path, int fd, const struct stat& st,
                           const std::shared_ptr<DirState>& dir, Node node,
                           const Node* parent_node) {
  dir->nodes.push_back(std::move(node));
  auto file = std::make_shared<FileState>();
  file->dir = dir;
  file->node = &dir->nodes.back();
  file->path = path;
  file->size = static_cast<uint64_t>(st.st_size);
  file->is_new = parent_node == nullptr;
  // Files no larger than the smallest chunk are one chunk: no fingerprints for them.
  file->fingerprint = repo_.use_fingerprints() && file->size > repo_.chunker().params().min_size;
  if (file->fingerprint && parent_node != nullptr) {
    file->parent = ParentChunksOf(*parent_node);
  }
  dir->pending++;

  // Data segments: the whole file, or (sparse files) the extents SEEK_DATA/SEEK_HOLE report.
  std::vector<std::pair<uint64_t, uint64_t>> segments;
  const uint64_t size = file->size;
  if (fd >= 0) {
    off_t pos = 0;
    while (static_cast<uint64_t>(pos) < size) {
      off_t data = ::lseek(fd, pos, SEEK_DATA);
      if (data < 0) {
        break;  // ENXIO: only a hole remains
      }
      off_t hole = ::lseek(fd, data, SEEK_HOLE);
      if (hole < 0 || static_cast<uint64_t>(hole) > size) {
        hole = static_cast<off_t>(size);
      }
      segments.emplace_back(data, hole);
      pos = hole;
    }
    ::close(fd);
  } else if (size > 0) {
    segments.emplace_back(0, size);
  }

  // Parts: small segments are grouped up to kPartBytes; a larger segment is cut into pieces of
  // about kPartBytes at split points, each piece a part of its own.
  std::vector<std::vector<Piece>> parts;
  std::vector<Piece> current;
  uint64_t current_bytes = 0;
  auto flush = [&] {
    if (!current.empty()) {
      parts.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
  };
  for (const auto& [begin, end] : segments) {
    uint64_t len = end - begin;
    if (len <= kPartBytes) {
      current.push_back(Piece{begin, end, end, false, false});
      current_bytes += len;
      if (current_bytes >= kPartBytes) flush();
      continue;
    }
    flush();
    uint64_t n = (len + kPartBytes - 1) / kPartBytes;
    for (uint64_t k = 0; k < n; ++k) {
      parts.push_back(
          {Piece{begin + len * k / n, begin + len * (k + 1) / n, end, k > 0, k + 1 < n}});
    }
  }
  flush();

  file->parts.resize(parts.size());
  file->pending += static_cast<int>(parts.size());
  // One data segment of at most min_size bytes is one chunk (Cut never splits it; such a file
  // gets no fingerprints, so no parent chunks either).
  if (parts.size() == 1 && parts[0].size() == 1 && parts[0][0].begin == 0 &&
      parts[0][0].end == size && size <= repo_.chunker().params().min_size) {
    SubmitSmall(file);
    DoneFile(file);
    return;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const uint64_t cost = kQueuedPartCost;
    budget_.Acquire(cost);
    pool_.Submit([this, file, i, cost, pieces = std::move(parts[i])] {
      RunPart(file, i, pieces);
      budget_.Release(cost);
      DoneFile(file);
    });
    MaybeReportProgress(false);
  }
  DoneFile(file);
}

void BackupRun::RunPart(const std::shared_ptr<FileState>& file, size_t part,
                        const std::vector<Piece>& pieces) {
  int fd = OpenForRead(*file);
  if (fd < 0) {
    return;
  }
  // Start reading the whole part (up to kPartBytes and its split search) at once, not only the
  // kernel's readahead window ahead of each pread.
  if (!pieces.empty()) {
    const uint64_t from = pieces.front().begin;
    const uint64_t to = std::min(pieces.back().limit, pieces.back().end + Chunker::kSplitSearch);
    ::posix_fadvise(fd, static_cast<off_t>(from), static_cast<off_t>(to - from),
                    POSIX_FADV_WILLNEED);
  }
  thread_local ReadBuffers buffers;
  std::vector<ChunkRef>& out = file->parts[part];
  std::string error;
  for (const Piece& p : pieces) {
    uint64_t begin = p.split_begin ? SplitPoint(fd, p.begin, p.limit, buffers) : p.begin;
    uint64_t end = p.split_end ? SplitPoint(fd, p.end, p.limit, buffers) : p.end;
    if (begin < end) {
      error = ChunkRange(*file, fd, begin, end, buffers, out);
    }
    if (!error.empty()) {
      break;
    }
  }
  ::close(fd);
  if (!error.empty() && !file->failed.exchange(true)) {
    AddError(file->path, error);
  }
  MaybeReportProgress(false);
}

int BackupRun::OpenForRead(FileState& file) {
  if (file.failed.load()) {
    return -1;
  }
  {
    std::lock_guard lock(mu_);
    if (!error_.ok()) {
      file.failed = true;
      return -1;
    }
  }
  int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) {
    fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    int err = errno;
    if (!file.failed.exchange(true)) {
      AddError(file.path, std::string("opening: ") + std::strerror(err));
      unopened_files_++;
      unopened_new_ += file.is_new ? 1 : 0;
      unopened_bytes_ += file.size;
    }
  }
  return fd;
}

void BackupRun::SubmitSmall(const std::shared_ptr<FileState>& file) {
  held_small_.push_back(file);
  held_small_bytes_ += file->size;
  if (held_small_.size() >= kSmallBatchFiles || held_small_bytes_ >= kSmallBatchBytes) {
    FlushSmall();
  }
}

void BackupRun::FlushSmall() {
  if (held_small_.empty()) {
    return;
  }
  const uint64_t cost = kQueuedPartCost * held_small_.size();
  budget_.Acquire(cost);
  pool_.Submit([this, files = std::move(held_small_), cost] {
    RunSmall(files);
    budget_.Release(cost);
    for (const auto& f : files) {
      DoneFile(f);
    }
  });
  held_small_.clear();
  held_small_bytes_ = 0;
  MaybeReportProgress(false);
}

void BackupRun::RunSmall(const std::vector<std::shared_ptr<FileState>>& files) {
  thread_local std::vector<ScratchBuffer> buffers;
  if (buffers.size() < files.size()) {
    buffers.resize(files.size());
  }
  // The files with a chunk (not failed, not all zeros), their bytes, and then their IDs.
  std::vector<FileState*> stored;
  std::vector<std::string_view> data;
  // Every file of the batch is opened and its reading started (POSIX_FADV_WILLNEED) before the
  // first is read: files not in the page cache are then fetched together instead of one
  // synchronous read at a time per worker. Cached files cost a page-cache lookup.
  std::vector<int> fds(files.size(), -1);
  for (size_t k = 0; k < files.size(); ++k) {
    fds[k] = OpenForRead(*files[k]);
    if (fds[k] >= 0 && files.size() > 1) {
      ::posix_fadvise(fds[k], 0, static_cast<off_t>(files[k]->size), POSIX_FADV_WILLNEED);
    }
  }
  for (size_t k = 0; k < files.size(); ++k) {
    FileState& f = *files[k];
    const int fd = fds[k];
    if (fd < 0) {
      continue;
    }
    char* buf = buffers[k].Reserve(static_cast<size_t>(f.size));
    int err = 0;
    // Fewer bytes than its size: the file shrank while we read it.
    const size_t have = ReadUpTo(fd, buf, static_cast<size_t>(f.size), 0, &err);
    ::close(fd);
    if (err != 0) {
      if (!f.failed.exchange(true)) {
        AddError(f.path, std::string("reading: ") + std::strerror(err));
      }
      continue;
    }
    bytes_read_ += have;
    bytes_done_ += have;
    // All zeros (or nothing left): a hole, no chunk.
    if (have > 0 && !AllZero(buf, have)) {
      stored.push_back(&f);
      data.emplace_back(buf, have);
    }
  }
  std::vector<Digest> ids(data.size());
  repo_.hmac().SumMany(data.data(), data.size(), ids.data());
  for (size_t i = 0; i < stored.size(); ++i) {
    if (Status s = saver_.SaveWithId(BlobType::kData, ids[i], data[i]); !s.ok()) {
      Fail(s);
      if (!stored[i]->failed.exchange(true)) {
        AddError(stored[i]->path, "storing: " + s.message());
      }
      continue;
    }
    stored[i]->parts[0].push_back(ChunkRef{0, data[i].size(), ids[i], {}});
  }
  MaybeReportProgress(false);
}

uint64_t BackupRun::SplitPoint(int fd, uint64_t nominal, uint64_t limit, ReadBuffers& buffers) {
  size_t want = static_cast<size_t>(std::min<uint64_t>(Chunker::kSplitSearch, limit - nominal));
  char* buf = buffers.split.Reserve(Chunker::kSplitSearch);
  int err = 0;  // a read error shows up again when the part's bytes are read
  const size_t have = ReadUpTo(fd, buf, want, nominal, &err);
  return nominal + repo_.chunker().FindSplit(reinterpret_cast<const uint8_t*>(buf), have);
}

std::string BackupRun::ChunkRange(const FileState& file, int fd, uint64_t begin_offset,
                                  uint64_t end_offset, ReadBuffers& buffers,
                                  std::vector<ChunkRef>& out) {
  const ChunkerParams& cp = repo_.chunker().params();
  const Chunker& chunker = repo_.chunker();
  const Fingerprinter& fingerprinter = repo_.fingerprinter();
  const ParentChunks* parent = file.parent.get();
  size_t last = ParentChunks::kNone;  // the parent chunk the previous chunk was
  const size_t capacity = 2 * static_cast<size_t>(cp.max_size) + kReadBlock;
  char* buffer = buffers.data.Reserve(capacity);
  uint64_t pos = begin_offset;       // next byte to read
  uint64_t chunk_at = begin_offset;  // file offset of buffer[begin]
  size_t begin = 0;
  size_t end = 0;
  bool eof = false;
  // Without a parent, two chunks are cut and hashed together (Hmac::Sum2) whenever the second
  // one's end is known: read up to two chunks ahead.
  const size_t lookahead = (parent == nullptr ? 2 : 1) * static_cast<size_t>(cp.max_size);
  // The chunk cut and hashed with the previous one (valid while paired_length > 0).
  uint64_t paired_offset = 0;
  size_t paired_length = 0;
  Digest paired_id{};
  while (true) {
    while (!eof && end - begin < lookahead) {
      if (end + kReadBlock > capacity) {
        std::memmove(buffer, buffer + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>(kReadBlock, end_offset - pos));
      if (want == 0) {
        eof = true;
        break;
      }
      ssize_t n = ::pread(fd, buffer + end, want, static_cast<off_t>(pos));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return std::string("reading: ") + std::strerror(errno);
      }
      if (n == 0) {
        eof = true;  // the file shrank while we read it
        break;
      }
      pos += static_cast<uint64_t>(n);
      end += static_cast<size_t>(n);
      eof = pos == end_offset;
      bytes_read_ += static_cast<uint64_t>(n);
      bytes_done_ += static_cast<uint64_t>(n);
    }
    if (end == begin) {
      return std::string();
    }
    const auto* at = reinterpret_cast<const uint8_t*>(buffer + begin);
    const size_t available = end - begin;
    // The parent chunk expected here, reused when the bytes are the same (see ParentChunks).
    // Cut would cut it again at the same place: its bytes are the same, so no cut point lies
    // before its end, and it ends at a cut point, at max_size, or where this piece ends too.
    auto reusable = [&](size_t j) {
      if (j >= parent->chunks.size()) return false;
      const ParentChunks::Chunk& c = parent->chunks[j];
      return c.length <= available && chunk_at + c.length <= end_offset &&
             (chunk_at + c.length == end_offset || chunker.EndsAtCutPoint(at, c.length)) &&
             fingerprinter.Of(at, c.length) == c.fp;
    };
    if (parent != nullptr) {
      size_t next = last != ParentChunks::kNone ? last + 1 : ParentChunks::kNone;
      size_t found = ParentChunks::kNone;
      if (next != ParentChunks::kNone && reusable(next)) {
        found = next;
      } else if (size_t here = parent->At(chunk_at); here != next && reusable(here)) {
        found = here;
      }
      if (found != ParentChunks::kNone) {
        // Indexed (ParentChunksOf looked it up), so there is nothing to store.
        const ParentChunks::Chunk& c = parent->chunks[found];
        out.push_back(ChunkRef{chunk_at, c.length, c.id, c.fp});
        bytes_matched_ += c.length;
        begin += c.length;
        chunk_at += c.length;
        last = found;
        continue;
      }
    }
    Digest id{};
    bool have_id = false;
    size_t cut = 0;
    if (paired_length > 0 && paired_offset == chunk_at) {
      cut = paired_length;
      id = paired_id;
      have_id = true;
    } else {
      cut = chunker.Cut(at, available, eof);
    }
    paired_length = 0;
    std::string_view chunk(buffer + begin, cut);
    uint64_t offset = chunk_at;
    begin += cut;
    chunk_at += cut;
    if (AllZero(chunk.data(), cut)) {
      last = ParentChunks::kNone;
      continue;  // a hole: the gap between chunks
    }
    if (!have_id) {
      // The next chunk's end is known when max_size bytes of it are here or the range ends
      // here (Cut would cut it the same way later): cut it now and hash both chunks together.
      const size_t rest = available - cut;
      if (parent == nullptr && rest > 0 && (rest >= cp.max_size || eof)) {
        const char* next = chunk.data() + cut;
        const size_t next_cut = chunker.Cut(at + cut, rest, eof);
        if (!AllZero(next, next_cut)) {
          std::tie(id, paired_id) = repo_.hmac().Sum2(chunk, std::string_view(next, next_cut));
          have_id = true;
          paired_offset = chunk_at;
          paired_length = next_cut;
        }
      }
      if (!have_id) {
        id = repo_.hmac().Sum(chunk);
      }
    }
    ChunkRef ref{offset, cut, id, {}};
    if (file.fingerprint) {
      ref.fp = fingerprinter.Of(at, cut);
    }
    if (Status s = saver_.SaveWithId(BlobType::kData, ref.id, chunk); !s.ok()) {
      Fail(s);
      return "storing: " + s.message();
    }
    if (parent != nullptr) {
      last = parent->Find(ref.id);
    }
    out.push_back(ref);
  }
}

void BackupRun::WalkDir(const std::string& path, const std::shared_ptr<DirState>& self,
                        const Node* parent_node) {
  ParentDir parent_children;
  if (parent_node != nullptr && parent_node->type == NodeType::kDir &&
      parent_node->subtree.has_value()) {
    auto blob = repo_.LoadBlob(*parent_node->subtree);
    if (blob.ok()) {
      auto nodes = DecodeTree(*blob);
      if (nodes.ok()) {
        parent_children = std::move(nodes).value();
      }
    }
  }
  std::vector<std::string> names;
  if (DIR* d = ::opendir(path.c_str()); d != nullptr) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") {
        names.push_back(std::move(n));
      }
    }
    ::closedir(d);
  } else {
    AddError(path, std::string("listing directory: ") + std::strerror(errno));
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    auto it = std::lower_bound(parent_children.begin(), parent_children.end(), n,
                               [](const Node& a, const std::string& b) { return a.name < b; });
    const Node* before = (it != parent_children.end() && it->name == n) ? &*it : nullptr;
    if (Status s = Walk(path + "/" + n, n, self, before); !s.ok()) {
      Fail(s);
    }
    {
      std::lock_guard lock(mu_);
      if (!error_.ok()) {
        break;
      }
    }
  }
}

Status BackupRun::Walk(const std::string& path, const std::string& name,
                       const std::shared_ptr<DirState>& dir, const Node* parent_node) {
  if (!IsValidUtf8(name)) {
    // Trees hold names as JSON strings; one that is not UTF-8 would fail the whole point.
    AddError(EscapeInvalidUtf8(path),
             "the name is not valid UTF-8, which this vault format cannot record");
    return OkStatus();
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    AddError(path, std::string("stat: ") + std::strerror(errno));
    return OkStatus();
  }
  auto type = TypeOf(st.st_mode);
  if (!type.has_value()) {
    return OkStatus();
  }
  Node node = NodeFromStat(name, st);
  // Extended attributes change a file's ctime: an unchanged file keeps its parent's.
  const bool unchanged = *type == NodeType::kFile && Unchanged(node, parent_node);
  if (unchanged) {
    node.xattrs = parent_node->xattrs;
  } else if (auto xattrs = ReadXattrs(path); xattrs.ok()) {
    node.xattrs = std::move(xattrs).value();
  } else {
    AddError(path, xattrs.status().message());
  }
  switch (*type) {
    case NodeType::kDir: {
      summary_.dirs++;
      dir->nodes.push_back(std::move(node));
      auto child = std::make_shared<DirState>();
      child->parent = dir;
      child->slot = &dir->nodes.back();
      dir->pending++;
      WalkDir(path, child, parent_node);
      DoneDir(child);
      return OkStatus();
    }
    case NodeType::kSymlink: {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0) {
        AddError(path, std::string("readlink: ") + std::strerror(errno));
        return OkStatus();
      }
      target.resize(static_cast<size_t>(n));
      if (!IsValidUtf8(target)) {
        AddError(path,
                 "the symlink's target is not valid UTF-8, which this vault format cannot "
                 "record: not backed up");
        return OkStatus();
      }
      node.target = std::move(target);
      dir->nodes.push_back(std::move(node));
      return OkStatus();
    }
    case NodeType::kFile:
      break;
    default:
      dir->nodes.push_back(std::move(node));
      return OkStatus();
  }
  summary_.files++;
  summary_.bytes += node.size;
  if (unchanged) {
    node.content = parent_node->content;
    node.fingerprints = parent_node->fingerprints;
    summary_.files_unmodified++;
    files_done_++;
    bytes_done_ += node.size;
    dir->nodes.push_back(std::move(node));
    MaybeReportProgress(false);
    return OkStatus();
  }
  // Sparse files are opened here to find their data segments; the workers open every file for
  // reading themselves.
  int fd = -1;
  if (static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size)) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      AddError(path, std::string("opening: ") + std::strerror(errno));
      summary_.files--;
      summary_.bytes -= node.size;
      return OkStatus();
    }
  }
  if (parent_node == nullptr) {
    summary_.files_new++;
  } else {
    summary_.files_changed++;
  }
  BackupFile(path, fd, st, dir, std::move(node), parent_node);
  return OkStatus();
}

StatusOr<BackupResult> BackupRun::Run() {
  auto started = std::chrono::steady_clock::now();
  if (options_.paths.empty()) {
    return InvalidArgumentError("backup needs at least one path");
  }
  if (!options_.names.empty() && options_.names.size() != options_.paths.size()) {
    return InvalidArgumentError("backup: " + std::to_string(options_.names.size()) + " names for " +
                                std::to_string(options_.paths.size()) + " paths");
  }
  std::vector<std::string> paths;
  std::vector<std::string> root_names;
  std::set<std::string> basenames;
  for (const std::string& p : options_.paths) {
    std::error_code ec;
    fs::path abs = fs::absolute(fs::path(p), ec).lexically_normal();
    std::string s = abs.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    if (!IsValidUtf8(s)) {
      return InvalidArgumentError("backup path " + EscapeInvalidUtf8(s) +
                                  " is not valid UTF-8, which this vault format cannot record");
    }
    struct stat st {};
    if (::lstat(s.c_str(), &st) != 0) {
      return InvalidArgumentError("backup path " + p + ": " + std::strerror(errno));
    }
    std::string base =
        options_.names.empty() ? fs::path(s).filename().string() : options_.names[paths.size()];
    if (base.empty() && options_.names.empty()) {
      base = "root";
    }
    if (base.empty() || base == "." || base == ".." || base.find('/') != std::string::npos) {
      return InvalidArgumentError("backup: \"" + base + "\" is not a valid name for " + p);
    }
    if (!basenames.insert(base).second) {
      return InvalidArgumentError("backup paths must have different base names: " + base +
                                  " appears twice");
    }
    paths.push_back(s);
    root_names.push_back(base);
  }
  std::vector<std::string> sorted_paths = paths;
  std::sort(sorted_paths.begin(), sorted_paths.end());
  std::string host = options_.hostname.empty() ? HostName() : options_.hostname;

  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo_.store(), LockKind::kShared, clock_));
  // The index was read when the vault was opened; a prune (exclusive lock) may have rewritten it
  // before this lock was taken. Under the shared lock it can no longer shrink: read it again, so
  // no chunk is deduplicated against a blob a prune removed.
  RETURN_IF_ERROR(repo_.LoadIndex());

  // The parent point feeds the metadata cache: unchanged files are not read again.
  std::vector<Node> parent_roots;
  Manifest manifest;
  if (!options_.no_parent) {
    std::optional<Manifest> parent;
    if (!options_.parent.empty()) {
      ASSIGN_OR_RETURN(parent, FindPoint(repo_, options_.parent));
    } else {
      ASSIGN_OR_RETURN(auto points, ListPoints(repo_));
      for (auto it = points.rbegin(); it != points.rend(); ++it) {
        std::vector<std::string> their = it->paths;
        std::sort(their.begin(), their.end());
        if (their == sorted_paths && it->hostname == host) {
          parent = *it;
          break;
        }
      }
    }
    if (parent.has_value()) {
      manifest.parent = parent->id;
      auto blob = repo_.LoadBlob(parent->tree);
      if (blob.ok()) {
        auto nodes = DecodeTree(*blob);
        if (nodes.ok()) parent_roots = std::move(nodes).value();
      }
    }
  }

  StartScanner();
  auto root = std::make_shared<DirState>();
  std::vector<std::pair<std::string, std::string>> ordered;
  for (size_t i = 0; i < paths.size(); ++i) {
    ordered.emplace_back(root_names[i], paths[i]);
  }
  std::sort(ordered.begin(), ordered.end());
  for (const auto& [base, p] : ordered) {
    auto it = std::find_if(parent_roots.begin(), parent_roots.end(),
                           [&](const Node& n) { return n.name == base; });
    const Node* before = it != parent_roots.end() ? &*it : nullptr;
    if (Status s = Walk(p, base, root, before); !s.ok()) {
      Fail(s);
      break;
    }
  }
  FlushSmall();
  DoneDir(root);
  {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return root_done_; });
  }
  stop_scan_ = true;
  if (scanner_.joinable()) {
    scanner_.join();
  }
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(error_);
  }
  ASSIGN_OR_RETURN(std::string index_name, saver_.Finish());
  SaverStats saved = saver_.stats();

  manifest.time = clock_.Now();
  manifest.hostname = host;
  manifest.paths = paths;
  manifest.tags = options_.tags;
  manifest.tree = root_tree_;
  manifest.errors = file_errors_;
  manifest.partial = !file_errors_.empty();
  manifest.summary = summary_;
  manifest.summary.bytes_read = bytes_read_.load();
  manifest.summary.bytes_matched = bytes_matched_.load();
  manifest.summary.files -= unopened_files_.load();
  manifest.summary.bytes -= unopened_bytes_.load();
  manifest.summary.files_new -= unopened_new_.load();
  manifest.summary.files_changed -= unopened_files_.load() - unopened_new_.load();
  manifest.summary.data_added = saved.new_raw_bytes;
  manifest.summary.stored_added = saved.packed_bytes;
  manifest.summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSIGN_OR_RETURN(std::string name,
                   repo_.SaveFile(kSnapshotPrefix, EncodeManifest(manifest), kAadSnapshot));
  manifest.id = name.substr(kSnapshotPrefix.size());
  files_done_ = summary_.files;
  MaybeReportProgress(true);
  (void)index_name;
  return BackupResult{std::move(manifest)};
}

}  // namespace

StatusOr<BackupResult> Backup(Repository& repo, const BackupOptions& options) {
  BackupRun run(repo, options);
  return run.Run();
}

}  // namespace lifeboat::vault
