// Restore: walk the point's trees; each file is written to a temporary name in its directory,
// then gets its metadata and is renamed into place. A file with any bad chunk is removed and
// reported; it never appears at its final name.
//
// A file is restored in windows (the whole of a small file; 8 MiB block-aligned pieces of a
// large one). A task on the worker pool takes one window of a large file, or a batch of small
// files (up to 512 files / 8 MiB, in walk order, so mostly neighbours in the same packs): it
// reads the blobs with one request per run of nearby blobs in a pack (each range read once for
// the whole batch), decrypts and decompresses them straight into the window's buffer, verifies
// each (by the fingerprint its file's tree holds for it, else by its keyed hash: FORMAT.md
// §10), zeroes the gaps, and writes. Large files are written with
// O_DIRECT (whole blocks covering the data; holes stay holes): restoring gigabytes neither
// copies them through the page cache nor evicts everything else from it. Filesystems without
// O_DIRECT get ordinary writes.
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>

#include "engines/vault/compress.h"
#include "engines/vault/vault.h"
#include "engines/vault/work_pool.h"

namespace lifeboat::vault {

namespace {
namespace fs = std::filesystem;

constexpr uint64_t kRestoreBudget = 64 << 20;
constexpr auto kProgressEvery = std::chrono::milliseconds(200);
// Files at least this large are written with O_DIRECT in windows of kWindow bytes.
constexpr uint64_t kDirectMinSize = 1 << 20;
constexpr uint64_t kWindow = 8 << 20;
constexpr uint64_t kBlock = 4096;  // O_DIRECT alignment of offsets, lengths and memory
static_assert(kBlock == storage::kReadAlign);
// Blobs of a pack that lie close together are fetched with one request of at most this many
// bytes, reading over gaps of up to kMaxGap bytes (other blobs) rather than issuing another.
constexpr uint64_t kMaxRead = 16 << 20;
constexpr uint64_t kMaxGap = 256 << 10;
// Small files (restored in one window) are grouped into batches of about this many bytes, or
// this many files: a batch reads each range of its packs once for all of its files.
constexpr uint64_t kBatchBytes = 8 << 20;
constexpr size_t kBatchFiles = 512;

uint64_t AlignDown(uint64_t v) { return v / kBlock * kBlock; }
uint64_t AlignUp(uint64_t v) { return (v + kBlock - 1) / kBlock * kBlock; }

// A block-aligned buffer kept per worker thread.
class AlignedBuffer {
 public:
  ~AlignedBuffer() { std::free(data_); }
  char* Reserve(size_t n) {
    if (n > capacity_) {
      std::free(data_);
      capacity_ = AlignUp(n);
      data_ = static_cast<char*>(std::aligned_alloc(kBlock, capacity_));
      if (data_ == nullptr) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
    }
    return data_;
  }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

// One chunk of a file: where it goes, where it lives, and its fingerprint when the tree has one.
struct Placed {
  uint64_t offset = 0;
  Digest id{};
  BlobLocation loc;
  const ChunkFingerprint* fp = nullptr;  // in the file's node, which outlives its windows
  uint64_t end() const { return offset + loc.entry.raw_length; }
};

// One read of a pack: the sealed bytes of [begin, end), or why they could not be read.
struct Fetched {
  Digest pack{};
  uint64_t begin = 0;
  uint64_t end = 0;
  std::string_view data;  // in the reading thread's buffer
  std::string error;      // "pack file is missing", ...; empty when `data` holds the range
};

// Reads every blob `chunks` name, each pack range once: blobs are sorted by pack and offset and
// neighbours less than kMaxGap apart share a request. Sorted by (pack, begin) for FindFetched.
// The bytes are read into `space` (one block-aligned buffer per worker, reused by every task:
// no allocation, zeroing or copying per read) and stay there until its next FetchBlobs.
std::vector<Fetched> FetchBlobs(storage::BlobStore& store, std::vector<const Placed*> chunks,
                                AlignedBuffer& space) {
  std::sort(chunks.begin(), chunks.end(), [](const Placed* a, const Placed* b) {
    return std::tie(a->loc.pack, a->loc.entry.offset) < std::tie(b->loc.pack, b->loc.entry.offset);
  });
  std::vector<Fetched> reads;
  for (const Placed* p : chunks) {
    const uint64_t begin = p->loc.entry.offset;
    const uint64_t end = begin + p->loc.entry.length;
    if (!reads.empty() && reads.back().pack == p->loc.pack && begin <= reads.back().end + kMaxGap &&
        std::max(end, reads.back().end) - reads.back().begin <= kMaxRead) {
      reads.back().end = std::max(end, reads.back().end);
      continue;
    }
    Fetched f;
    f.pack = p->loc.pack;
    f.begin = begin;
    f.end = end;
    reads.push_back(std::move(f));
  }
  size_t total = 0;
  for (const Fetched& f : reads) total += storage::ReadSpace(f.end - f.begin);
  char* base = space.Reserve(total);
  for (Fetched& f : reads) {
    auto got = store.GetInto(PackName(f.pack), f.begin, f.end - f.begin, base);
    base += storage::ReadSpace(f.end - f.begin);
    if (got.ok()) {
      f.data = std::string_view(*got, f.end - f.begin);
    } else if (IsNotFound(got.status())) {
      f.error = "pack file is missing";
    } else if (got.status().code() == StatusCode::kOutOfRange) {
      f.error = "pack file is truncated (" + got.status().message() + ")";
    } else {
      f.error = got.status().message();
    }
  }
  return reads;
}

// The read holding the blob of `p` (FetchBlobs read every blob it was given).
const Fetched& FindFetched(const std::vector<Fetched>& reads, const Placed& p) {
  auto it = std::upper_bound(reads.begin(), reads.end(), p, [](const Placed& a, const Fetched& f) {
    return std::tie(a.loc.pack, a.loc.entry.offset) < std::tie(f.pack, f.begin);
  });
  return *std::prev(it);
}

struct timespec FromNs(int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

bool HasGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

struct RestoreFile {
  int fd = -1;
  std::atomic<bool> direct{false};
  std::string tmp;
  std::string final_path;
  std::string rel;
  Node node;
  std::atomic<int> pending{1};
  std::mutex mu;
  std::string error;
};

// A window of one file: [begin, end) and the chunks that overlap it.
struct Window {
  std::shared_ptr<RestoreFile> file;
  uint64_t begin = 0;
  uint64_t end = 0;
  std::vector<Placed> chunks;
};

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& options)
      : repo_(repo),
        options_(options),
        budget_(std::max<uint64_t>(kRestoreBudget, repo.config().chunker.max_size)),
        large_budget_(std::max<uint64_t>(kRestoreBudget, repo.config().chunker.max_size)),
        pool_(std::max(1, IoThreads(options.threads) / 2)),
        large_pool_(IoThreads(options.threads)) {}

  StatusOr<RestoreResult> Run();

 private:
  bool Selected(const std::string& rel) const;
  bool MayContainSelected(const std::string& rel) const;
  // Which walk of the tree this is (see Run): the one that restores large files, or the one
  // that restores everything else, creates directories and reports tree errors.
  enum class Part { kSmall, kLarge };
  static bool IsLarge(const Node& n) {
    return n.type == NodeType::kFile && n.size >= kDirectMinSize;
  }
  Status WalkTree(const Digest& tree, const std::string& rel_dir, const std::string& out_dir,
                  bool selected_above, Part part);
  void RestoreNode(const Node& n, const std::string& rel, const std::string& out);
  void StartFile(const Node& n, const std::string& rel, const std::string& out);
  // Creates the file's temporary file at its size; returns an error message.
  std::string CreateTmp(RestoreFile& f);
  void SubmitWindow(const std::shared_ptr<RestoreFile>& f, uint64_t begin, uint64_t end,
                    std::vector<Placed> chunks);
  // Queues the window of a small file into the current batch; FlushBatch submits the batch as
  // one task (its packs' ranges read once for all of its files).
  void AddToBatch(const std::shared_ptr<RestoreFile>& f, uint64_t begin, uint64_t end,
                  std::vector<Placed> chunks);
  void FlushBatch();
  // Fetches the windows' blobs, then restores each window; updates progress, finishes files.
  void RunWindows(std::vector<Window>& windows);
  std::string RunWindow(RestoreFile& f, uint64_t begin, uint64_t end,
                        const std::vector<Placed>& chunks, const std::vector<Fetched>& reads);
  void DoneFile(const std::shared_ptr<RestoreFile>& f);
  void AddError(const std::string& path, const std::string& error);
  void MaybeReportProgress(bool force);
  void ApplyMetadata(const std::string& path, const Node& n, bool is_link);
  // Sets the node's extended attributes on `fd` (or, when fd < 0, on `path` without following
  // a symlink). Attributes outside the user namespace need privileges: without them they are
  // skipped. Returns the first failure.
  std::string ApplyXattrs(int fd, const std::string& path, const Node& n);

  Repository& repo_;
  const RestoreOptions& options_;
  ByteBudget budget_;        // small files' batches
  ByteBudget large_budget_;  // large files' windows
  bool is_root_ = ::geteuid() == 0;
  const std::string tmp_prefix_ = ".lifeboat-tmp-" + std::to_string(::getpid()) + "-";
  // Small files waiting to be submitted as one task (the walk runs on one thread).
  std::vector<Window> batch_;
  uint64_t batch_bytes_ = 0;
  std::atomic<uint64_t> tmp_counter_{0};
  std::mutex mu_;
  RestoreResult result_;
  std::vector<std::pair<std::string, Node>> dirs_;
  // Hard links: the first path restored for (device, inode), and the later paths to link.
  std::map<std::pair<uint64_t, uint64_t>, std::string> link_first_;
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> link_later_;
  const bool use_fingerprints_ = repo_.fingerprinter().fast();
  std::atomic<uint64_t> chunks_by_fingerprint_{0};
  std::atomic<uint64_t> chunks_by_id_{0};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> files_done_{0};
  uint64_t bytes_total_ = 0;
  std::mutex progress_mu_;
  std::chrono::steady_clock::time_point last_progress_{};
  // Small files' batches (mostly CPU: creating files) and large files' windows (mostly waiting
  // on O_DIRECT reads and writes) run on pools of their own, so that the disk always has the
  // large files' I/O in flight while the small files keep the cores busy.
  WorkPool pool_;
  WorkPool large_pool_;
};

bool RestoreRun::Selected(const std::string& rel) const {
  if (options_.include.empty()) {
    return true;
  }
  for (const std::string& p : options_.include) {
    if (rel == p || rel.rfind(p + "/", 0) == 0 || MatchPath(p, rel)) {
      return true;
    }
  }
  return false;
}

bool RestoreRun::MayContainSelected(const std::string& rel) const {
  for (const std::string& p : options_.include) {
    if (HasGlob(p) || p.rfind(rel + "/", 0) == 0) {
      return true;
    }
  }
  return false;
}

void RestoreRun::AddError(const std::string& path, const std::string& error) {
  std::lock_guard lock(mu_);
  result_.errors.push_back({path, error});
}

void RestoreRun::MaybeReportProgress(bool force) {
  if (!options_.progress) {
    return;
  }
  std::unique_lock lock(progress_mu_, std::defer_lock);
  if (force) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return;  // the other walk is reporting
  }
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_progress_ < kProgressEvery) {
    return;
  }
  last_progress_ = now;
  Progress p;
  p.phase = "restore";
  p.files_done = files_done_.load();
  p.bytes_done = bytes_done_.load();
  p.bytes_total = bytes_total_;
  options_.progress(p);
}

void RestoreRun::ApplyMetadata(const std::string& path, const Node& n, bool is_link) {
  if (is_root_) {
    ::lchown(path.c_str(), n.uid, n.gid);
  }
  if (!is_link) {
    ::chmod(path.c_str(), n.mode);
  }
  struct timespec times[2] = {FromNs(n.mtime_ns), FromNs(n.mtime_ns)};
  ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

std::string RestoreRun::ApplyXattrs(int fd, const std::string& path, const Node& n) {
  for (const auto& [name, value] : n.xattrs) {
    if (!is_root_ && name.rfind("user.", 0) != 0) {
      continue;
    }
    int rc = fd >= 0 ? ::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                     : ::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
    if (rc != 0) {
      return "setting extended attribute " + name + ": " + std::strerror(errno);
    }
  }
  return std::string();
}

void RestoreRun::DoneFile(const std::shared_ptr<RestoreFile>& f) {
  if (f->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  std::string error;
  {
    std::lock_guard lock(f->mu);
    error = f->error;
  }
  if (error.empty() && f->fd < 0) {
    error = CreateTmp(*f);
  }
  if (f->fd < 0) {
    if (error.empty()) error = "not created";
    ::unlink(f->tmp.c_str());
    AddError(f->rel, error);
    return;
  }
  if (error.empty() && f->node.size >= kDirectMinSize && f->node.size % kBlock != 0 &&
      ::ftruncate(f->fd, static_cast<off_t>(f->node.size)) != 0) {
    // With O_DIRECT the last block was written whole; cut the file back to its size.
    error = std::string("sizing: ") + std::strerror(errno);
  }
  if (error.empty()) {
    error = ApplyXattrs(f->fd, f->tmp, f->node);
  }
  if (error.empty()) {
    if (is_root_ && ::fchown(f->fd, f->node.uid, f->node.gid) != 0) {
      error = std::string("chown: ") + std::strerror(errno);
    }
    ::fchmod(f->fd, f->node.mode);
    struct timespec times[2] = {FromNs(f->node.mtime_ns), FromNs(f->node.mtime_ns)};
    ::futimens(f->fd, times);
  }
  if (::close(f->fd) != 0 && error.empty()) {
    error = std::string("closing: ") + std::strerror(errno);
  }
  if (error.empty() && ::rename(f->tmp.c_str(), f->final_path.c_str()) != 0) {
    error = std::string("renaming into place: ") + std::strerror(errno);
  }
  if (!error.empty()) {
    ::unlink(f->tmp.c_str());
    AddError(f->rel, error);
    return;
  }
  files_done_++;
  std::lock_guard lock(mu_);
  result_.files++;
  result_.bytes += f->node.size;
}

void RestoreRun::StartFile(const Node& n, const std::string& rel, const std::string& out) {
  if (n.nlink > 1) {
    std::lock_guard lock(mu_);
    auto key = std::make_pair(n.device, n.inode);
    auto [it, first] = link_first_.try_emplace(key, out);
    if (!first) {
      link_later_.emplace_back(out, key);
      return;
    }
  }
  auto f = std::make_shared<RestoreFile>();
  f->rel = rel;
  f->final_path = out;
  f->node = n;
  f->tmp = (fs::path(out).parent_path() / (tmp_prefix_ + std::to_string(tmp_counter_++))).string();
  // A file restored in one window is created by that window's task, so that both workers
  // create files (inode allocation is a large part of restoring many small files); larger
  // files, and files without data, are created here.
  const bool one_window =
      n.size <= kWindow &&
      std::any_of(n.content.begin(), n.content.end(), [](const Extent& e) { return !e.is_hole(); });
  if (!one_window) {
    if (std::string err = CreateTmp(*f); !err.empty()) {
      AddError(rel, err);
      return;
    }
  }
  // Windows: the whole file when it is small, else kWindow-byte block-aligned pieces; a chunk
  // that crosses a window's edge belongs to both (each writes only its own part).
  const uint64_t window = n.size <= kWindow ? std::max<uint64_t>(n.size, 1) : kWindow;
  uint64_t offset = 0;
  uint64_t window_begin = 0;
  std::vector<Placed> chunks;
  // Chunks with a fingerprint (FORMAT.md §4) are verified by it, at a few times the speed of
  // the HMAC that computes their ID (FORMAT.md §10).
  const std::vector<ChunkFingerprint>& fps = f->node.fingerprints;
  const bool by_fingerprint = use_fingerprints_ && !fps.empty() &&
                              fps.size() == static_cast<size_t>(std::count_if(
                                                n.content.begin(), n.content.end(),
                                                [](const Extent& e) { return !e.is_hole(); }));
  size_t next_fp = 0;
  for (const Extent& e : n.content) {
    if (e.is_hole()) {
      offset += e.hole;
      bytes_done_ += e.hole;
      continue;
    }
    auto loc = repo_.Lookup(e.id);
    if (!loc.has_value()) {
      std::lock_guard lock(f->mu);
      f->error = "chunk " + ToHex(e.id) + " is not in any index file";
      break;
    }
    Placed p{offset, e.id, *loc, by_fingerprint ? &fps[next_fp++] : nullptr};
    while (p.offset >= window_begin + window) {
      if (!chunks.empty()) {
        SubmitWindow(f, window_begin, window_begin + window, std::move(chunks));
        chunks.clear();
      }
      window_begin = p.offset / window * window;
    }
    chunks.push_back(p);
    while (p.end() > window_begin + window) {
      SubmitWindow(f, window_begin, window_begin + window, std::move(chunks));
      chunks.clear();
      window_begin += window;
      chunks.push_back(p);
    }
    offset = p.end();
    MaybeReportProgress(false);
  }
  if (!chunks.empty()) {
    const uint64_t end = std::min(window_begin + window, std::max(n.size, offset));
    if (one_window && !IsLarge(n)) {  // the batch belongs to the small files' walk
      AddToBatch(f, window_begin, end, std::move(chunks));
    } else {
      SubmitWindow(f, window_begin, end, std::move(chunks));
    }
  }
  if (offset != n.size) {
    std::lock_guard lock(f->mu);
    if (f->error.empty()) {
      f->error = "content covers " + std::to_string(offset) + " bytes but the file has " +
                 std::to_string(n.size);
    }
  }
  DoneFile(f);
}

std::string RestoreRun::CreateTmp(RestoreFile& f) {
  f.fd = ::open(f.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f.fd < 0) {
    return std::string("creating ") + f.tmp + ": " + std::strerror(errno);
  }
  // A file whose data reaches its end gets its size from the writes; one that ends in a hole,
  // or is written in several windows (concurrent writes past the end would serialise), is
  // sized first.
  const bool data_to_end =
      f.node.size < kDirectMinSize && !f.node.content.empty() && !f.node.content.back().is_hole();
  if (!data_to_end && ::ftruncate(f.fd, static_cast<off_t>(f.node.size)) != 0) {
    std::string err = std::string("sizing: ") + std::strerror(errno);
    ::close(f.fd);
    f.fd = -1;
    ::unlink(f.tmp.c_str());
    return err;
  }
  if (f.node.size >= kDirectMinSize) {
    int fl = ::fcntl(f.fd, F_GETFL);
    if (fl >= 0 && ::fcntl(f.fd, F_SETFL, fl | O_DIRECT) == 0) {
      f.direct = true;
    }
  }
  return std::string();
}

void RestoreRun::SubmitWindow(const std::shared_ptr<RestoreFile>& f, uint64_t begin, uint64_t end,
                              std::vector<Placed> chunks) {
  uint64_t cost = end - begin;
  const bool large = IsLarge(f->node);
  ByteBudget& budget = large ? large_budget_ : budget_;
  budget.Acquire(cost);
  f->pending++;
  std::vector<Window> windows;
  windows.push_back(Window{f, begin, end, std::move(chunks)});
  WorkPool& pool = large ? large_pool_ : pool_;
  pool.Submit([this, cost, &budget, windows = std::move(windows)]() mutable {
    RunWindows(windows);
    budget.Release(cost);
  });
}

void RestoreRun::AddToBatch(const std::shared_ptr<RestoreFile>& f, uint64_t begin, uint64_t end,
                            std::vector<Placed> chunks) {
  f->pending++;
  batch_bytes_ += end - begin;
  batch_.push_back(Window{f, begin, end, std::move(chunks)});
  if (batch_bytes_ >= kBatchBytes || batch_.size() >= kBatchFiles) {
    FlushBatch();
  }
}

void RestoreRun::FlushBatch() {
  if (batch_.empty()) {
    return;
  }
  const uint64_t cost = batch_bytes_;
  budget_.Acquire(cost);
  pool_.Submit([this, cost, windows = std::move(batch_)]() mutable {
    RunWindows(windows);
    budget_.Release(cost);
  });
  batch_.clear();
  batch_bytes_ = 0;
}

void RestoreRun::RunWindows(std::vector<Window>& windows) {
  std::vector<const Placed*> wanted;
  for (const Window& w : windows) {
    std::lock_guard lock(w.file->mu);
    if (w.file->error.empty()) {
      for (const Placed& p : w.chunks) wanted.push_back(&p);
    }
  }
  thread_local AlignedBuffer read_space;
  const std::vector<Fetched> reads = FetchBlobs(repo_.store(), std::move(wanted), read_space);
  for (Window& w : windows) {
    RestoreFile& f = *w.file;
    bool failed;
    {
      std::lock_guard lock(f.mu);
      failed = !f.error.empty();
    }
    if (!failed) {
      std::string err = RunWindow(f, w.begin, w.end, w.chunks, reads);
      if (!err.empty()) {
        std::lock_guard lock(f.mu);
        if (f.error.empty()) f.error = err;
      }
    }
    uint64_t data = 0;
    for (const Placed& p : w.chunks) {
      data += std::min(p.end(), w.end) - std::max(p.offset, w.begin);
    }
    bytes_done_ += data;
    DoneFile(w.file);
  }
}

std::string RestoreRun::RunWindow(RestoreFile& f, uint64_t begin, uint64_t end,
                                  const std::vector<Placed>& chunks,
                                  const std::vector<Fetched>& reads) {
  if (f.fd < 0) {
    if (std::string err = CreateTmp(f); !err.empty()) {
      return err;
    }
  }
  thread_local AlignedBuffer window_buffer;
  thread_local ScratchBuffer plain_buffer;
  thread_local ScratchBuffer raw_buffer;
  const bool direct = f.direct.load();
  // The buffer covers [begin, write_end): whole blocks for O_DIRECT.
  const uint64_t write_end = direct ? AlignUp(end) : end;
  char* buf = window_buffer.Reserve(write_end - begin);

  // Ranges of the window to write: data, widened to whole blocks for O_DIRECT and merged.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const Placed& p : chunks) {
    uint64_t a = std::max(p.offset, begin);
    uint64_t b = std::min(p.end(), end);
    if (direct) {
      a = std::max(AlignDown(a), begin);
      b = std::min(AlignUp(b), write_end);
    }
    if (!ranges.empty() && a <= ranges.back().second) {
      ranges.back().second = std::max(ranges.back().second, b);
    } else {
      ranges.emplace_back(a, b);
    }
  }
  // Zero what the chunks do not cover inside those ranges (hole edges within a block).
  {
    size_t next = 0;
    for (const auto& [a, b] : ranges) {
      uint64_t pos = a;
      while (pos < b) {
        while (next < chunks.size() && chunks[next].end() <= pos) ++next;
        if (next < chunks.size() && chunks[next].offset <= pos) {
          pos = std::min(chunks[next].end(), b);
          continue;
        }
        uint64_t gap_end = next < chunks.size() ? std::min(chunks[next].offset, b) : b;
        std::memset(buf + (pos - begin), 0, gap_end - pos);
        pos = gap_end;
      }
    }
  }

  // Decode every blob into place (straight into the window when it lies wholly inside it).
  for (const Placed& p : chunks) {
    const PackEntry& e = p.loc.entry;
    const Fetched& read = FindFetched(reads, p);
    auto where = [&] {
      return "pack " + PackName(p.loc.pack) + " data blob " + ToHex(p.id) + ": ";
    };
    if (!read.error.empty()) {
      return where() + read.error;
    }
    std::string_view sealed = read.data.substr(e.offset - read.begin, e.length);
    const bool inside = p.offset >= begin && p.end() <= end;
    char* raw = inside ? buf + (p.offset - begin) : raw_buffer.Reserve(e.raw_length);
    if (sealed.size() < kSealOverhead) {
      return where() + "encrypted blob is too short";
    }
    const size_t plain_size = sealed.size() - kSealOverhead;
    if (!e.compressed && plain_size != e.raw_length) {
      return where() + "content does not match its ID";
    }
    char* plain = e.compressed ? plain_buffer.Reserve(plain_size) : raw;
    Status s = OpenTo(repo_.key().encryption, sealed,
                      std::string_view(reinterpret_cast<const char*>(p.id.data()), p.id.size()),
                      reinterpret_cast<uint8_t*>(plain));
    if (!s.ok()) return where() + s.message();
    if (e.compressed) {
      s = DecompressTo(std::string_view(plain, plain_size), raw, e.raw_length);
      if (!s.ok()) return where() + s.message();
    }
    // Decryption has authenticated the blob as one the vault's key sealed for this ID (the ID
    // is its AAD); the content check proves the bytes are the chunk's: the fingerprint the
    // backup took of the bytes it read, else the ID (an HMAC of them). A fingerprint that does
    // not match falls back to the ID, so a wrong fingerprint never fails a sound chunk.
    if (p.fp != nullptr &&
        repo_.fingerprinter().Of(reinterpret_cast<const uint8_t*>(raw), e.raw_length) == *p.fp) {
      chunks_by_fingerprint_++;
    } else if (repo_.hmac().Sum(std::string_view(raw, e.raw_length)) != p.id) {
      return where() + "content does not match its ID";
    } else {
      chunks_by_id_++;
    }
    if (!inside) {
      uint64_t a = std::max(p.offset, begin);
      uint64_t b = std::min(p.end(), end);
      std::memcpy(buf + (a - begin), raw + (a - p.offset), b - a);
    }
  }

  for (const auto& [a, b] : ranges) {
    uint64_t done = 0;
    while (done < b - a) {
      ssize_t w =
          ::pwrite(f.fd, buf + (a - begin) + done, b - a - done, static_cast<off_t>(a + done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL && f.direct.load()) {
        // This filesystem refuses O_DIRECT here after all: ordinary writes from now on.
        int fl = ::fcntl(f.fd, F_GETFL);
        if (fl >= 0) ::fcntl(f.fd, F_SETFL, fl & ~O_DIRECT);
        f.direct = false;
        continue;
      }
      if (w <= 0) {
        return std::string("writing: ") + std::strerror(errno);
      }
      done += static_cast<uint64_t>(w);
    }
  }
  return std::string();
}

void RestoreRun::RestoreNode(const Node& n, const std::string& rel, const std::string& out) {
  switch (n.type) {
    case NodeType::kFile:
      StartFile(n, rel, out);
      return;
    case NodeType::kSymlink: {
      std::string tmp =
          (fs::path(out).parent_path() / (tmp_prefix_ + std::to_string(tmp_counter_++))).string();
      if (::symlink(n.target.c_str(), tmp.c_str()) != 0) {
        AddError(rel, std::string("symlink: ") + std::strerror(errno));
        return;
      }
      if (std::string err = ApplyXattrs(-1, tmp, n); !err.empty()) {
        AddError(rel, err);
        ::unlink(tmp.c_str());
        return;
      }
      ApplyMetadata(tmp, n, /*is_link=*/true);
      if (::rename(tmp.c_str(), out.c_str()) != 0) {
        AddError(rel, std::string("renaming into place: ") + std::strerror(errno));
        ::unlink(tmp.c_str());
      }
      return;
    }
    case NodeType::kFifo:
    case NodeType::kCharDev:
    case NodeType::kBlockDev: {
      mode_t kind = n.type == NodeType::kFifo      ? S_IFIFO
                    : n.type == NodeType::kCharDev ? S_IFCHR
                                                   : S_IFBLK;
      ::unlink(out.c_str());
      if (::mknod(out.c_str(), kind | (n.mode & 07777), static_cast<dev_t>(n.rdev)) != 0) {
        AddError(rel, std::string("mknod: ") + std::strerror(errno));
        return;
      }
      if (std::string err = ApplyXattrs(-1, out, n); !err.empty()) {
        AddError(rel, err);
      }
      ApplyMetadata(out, n, false);
      return;
    }
    case NodeType::kDir:
      return;
  }
}

Status RestoreRun::WalkTree(const Digest& tree, const std::string& rel_dir,
                            const std::string& out_dir, bool selected_above, Part part) {
  const bool small = part == Part::kSmall;
  auto blob = repo_.LoadBlob(tree);
  if (!blob.ok()) {
    if (small) {
      AddError(rel_dir.empty() ? "." : rel_dir,
               "tree " + ToHex(tree) + ": " + blob.status().message());
    }
    return OkStatus();
  }
  auto nodes = DecodeTree(*blob);
  if (!nodes.ok()) {
    if (small) {
      AddError(rel_dir.empty() ? "." : rel_dir,
               "tree " + ToHex(tree) + ": " + nodes.status().message());
    }
    return OkStatus();
  }
  for (const Node& n : *nodes) {
    std::string rel = rel_dir.empty() ? n.name : rel_dir + "/" + n.name;
    std::string out = out_dir + "/" + n.name;
    bool selected = selected_above || Selected(rel);
    if (n.type == NodeType::kDir) {
      if (!selected && !MayContainSelected(rel)) {
        continue;
      }
      // Both walks create the directories they enter; the small files' walk reports failures.
      if (::mkdir(out.c_str(), 0700) != 0 && errno != EEXIST) {
        if (small) AddError(rel, std::string("mkdir: ") + std::strerror(errno));
        continue;
      }
      if (selected && small) {
        std::lock_guard lock(mu_);
        dirs_.emplace_back(out, n);
        result_.dirs++;
      }
      RETURN_IF_ERROR(WalkTree(*n.subtree, rel, out, selected, part));
      continue;
    }
    if (selected && IsLarge(n) == !small) {
      RestoreNode(n, rel, out);
    }
  }
  return OkStatus();
}

StatusOr<RestoreResult> RestoreRun::Run() {
  if (options_.target.empty()) {
    return InvalidArgumentError("restore needs a target directory");
  }
  ASSIGN_OR_RETURN(Manifest point, FindPoint(repo_, options_.point));
  std::error_code ec;
  fs::create_directories(options_.target, ec);
  if (ec) {
    return InvalidArgumentError("target directory " + options_.target + ": " + ec.message());
  }
  if (options_.include.empty()) {
    bytes_total_ = point.summary.bytes;
  }
  std::string target = fs::absolute(options_.target).lexically_normal().string();
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  // Two walks of the tree run at once, one restoring the large files (reading and writing
  // gigabytes with O_DIRECT: mostly waiting on the disk) and one everything else (many small
  // files: mostly CPU in the kernel creating them), so that the disk and the CPUs are busy
  // together instead of one phase after the other (a tree usually holds both kinds in turn).
  // Each has its own budget and its own pool.
  Status large_walk;
  std::thread large([&] { large_walk = WalkTree(point.tree, "", target, false, Part::kLarge); });
  Status small_walk = WalkTree(point.tree, "", target, false, Part::kSmall);
  FlushBatch();
  large.join();
  pool_.Drain();
  large_pool_.Drain();
  RETURN_IF_ERROR(small_walk);
  RETURN_IF_ERROR(large_walk);
  for (const auto& [path, key] : link_later_) {
    const std::string& first = link_first_[key];
    ::unlink(path.c_str());
    if (::link(first.c_str(), path.c_str()) != 0) {
      AddError(path, std::string("hard link to ") + first + ": " + std::strerror(errno));
    } else {
      result_.files++;
    }
  }
  // Directory metadata last, deepest first, so writing children does not disturb mtimes.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    if (std::string err = ApplyXattrs(-1, it->first, it->second); !err.empty()) {
      AddError(it->first, err);
    }
    ApplyMetadata(it->first, it->second, false);
  }
  MaybeReportProgress(true);
  result_.chunks_by_fingerprint = chunks_by_fingerprint_.load();
  result_.chunks_by_id = chunks_by_id_.load();
  return result_;
}

}  // namespace

StatusOr<RestoreResult> Restore(Repository& repo, const RestoreOptions& options) {
  RestoreRun run(repo, options);
  return run.Run();
}

}  // namespace lifeboat::vault
