// Restore: walk the point's trees; each file is written to a temporary name in its directory
// (holes left as holes, chunks verified by their keyed hash and written by position on the
// worker pool), then gets its metadata and is renamed into place. A file with any bad chunk is
// removed and reported; it never appears at its final name.
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "engines/vault/vault.h"
#include "engines/vault/work_pool.h"

namespace lifeboat::vault {

namespace {
namespace fs = std::filesystem;

constexpr uint64_t kRestoreBudget = 64 << 20;
constexpr auto kProgressEvery = std::chrono::milliseconds(200);

struct timespec FromNs(int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

bool HasGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

struct RestoreFile {
  int fd = -1;
  std::string tmp;
  std::string final_path;
  std::string rel;
  Node node;
  std::atomic<int> pending{1};
  std::mutex mu;
  std::string error;
};

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& options)
      : repo_(repo),
        options_(options),
        budget_(std::max<uint64_t>(kRestoreBudget, repo.config().chunker.max_size)),
        pool_(DefaultThreads(options.threads)) {}

  StatusOr<RestoreResult> Run();

 private:
  bool Selected(const std::string& rel) const;
  bool MayContainSelected(const std::string& rel) const;
  Status WalkTree(const Digest& tree, const std::string& rel_dir, const std::string& out_dir,
                  bool selected_above);
  void RestoreNode(const Node& n, const std::string& rel, const std::string& out);
  void StartFile(const Node& n, const std::string& rel, const std::string& out);
  void DoneFile(const std::shared_ptr<RestoreFile>& f);
  void AddError(const std::string& path, const std::string& error);
  void MaybeReportProgress(bool force);
  void ApplyMetadata(const std::string& path, const Node& n, bool is_link);

  Repository& repo_;
  const RestoreOptions& options_;
  ByteBudget budget_;
  bool is_root_ = ::geteuid() == 0;
  std::atomic<uint64_t> tmp_counter_{0};
  std::mutex mu_;
  RestoreResult result_;
  std::vector<std::pair<std::string, Node>> dirs_;
  // Hard links: the first path restored for (device, inode), and the later paths to link.
  std::map<std::pair<uint64_t, uint64_t>, std::string> link_first_;
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> link_later_;
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> files_done_{0};
  uint64_t bytes_total_ = 0;
  std::chrono::steady_clock::time_point last_progress_{};
  WorkPool pool_;
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

void RestoreRun::DoneFile(const std::shared_ptr<RestoreFile>& f) {
  if (f->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  std::string error;
  {
    std::lock_guard lock(f->mu);
    error = f->error;
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
  f->tmp = (fs::path(out).parent_path() / (".lifeboat-tmp-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(tmp_counter_++)))
               .string();
  f->fd = ::open(f->tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f->fd < 0) {
    AddError(rel, std::string("creating ") + f->tmp + ": " + std::strerror(errno));
    return;
  }
  if (::ftruncate(f->fd, static_cast<off_t>(n.size)) != 0) {
    AddError(rel, std::string("sizing: ") + std::strerror(errno));
    ::close(f->fd);
    ::unlink(f->tmp.c_str());
    return;
  }
  uint64_t offset = 0;
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
    uint64_t len = loc->entry.raw_length;
    budget_.Acquire(len);
    f->pending++;
    pool_.Submit([this, f, id = e.id, offset, len] {
      bool failed;
      {
        std::lock_guard lock(f->mu);
        failed = !f->error.empty();
      }
      if (!failed) {
        auto data = repo_.LoadBlob(id);
        std::string err;
        if (!data.ok()) {
          err = data.status().message();
        } else {
          size_t done = 0;
          while (done < data->size()) {
            ssize_t w = ::pwrite(f->fd, data->data() + done, data->size() - done,
                                 static_cast<off_t>(offset + done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
              err = std::string("writing: ") + std::strerror(errno);
              break;
            }
            done += static_cast<size_t>(w);
          }
        }
        if (!err.empty()) {
          std::lock_guard lock(f->mu);
          if (f->error.empty()) f->error = err;
        }
      }
      bytes_done_ += len;
      budget_.Release(len);
      DoneFile(f);
    });
    offset += len;
    MaybeReportProgress(false);
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

void RestoreRun::RestoreNode(const Node& n, const std::string& rel, const std::string& out) {
  switch (n.type) {
    case NodeType::kFile:
      StartFile(n, rel, out);
      return;
    case NodeType::kSymlink: {
      std::string tmp = (fs::path(out).parent_path() /
                         (".lifeboat-tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(tmp_counter_++)))
                            .string();
      if (::symlink(n.target.c_str(), tmp.c_str()) != 0) {
        AddError(rel, std::string("symlink: ") + std::strerror(errno));
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
      mode_t kind = n.type == NodeType::kFifo     ? S_IFIFO
                    : n.type == NodeType::kCharDev ? S_IFCHR
                                                   : S_IFBLK;
      ::unlink(out.c_str());
      if (::mknod(out.c_str(), kind | (n.mode & 07777), static_cast<dev_t>(n.rdev)) != 0) {
        AddError(rel, std::string("mknod: ") + std::strerror(errno));
        return;
      }
      ApplyMetadata(out, n, false);
      return;
    }
    case NodeType::kDir:
      return;
  }
}

Status RestoreRun::WalkTree(const Digest& tree, const std::string& rel_dir,
                            const std::string& out_dir, bool selected_above) {
  auto blob = repo_.LoadBlob(tree);
  if (!blob.ok()) {
    AddError(rel_dir.empty() ? "." : rel_dir, "tree " + ToHex(tree) + ": " +
                                                  blob.status().message());
    return OkStatus();
  }
  auto nodes = DecodeTree(*blob);
  if (!nodes.ok()) {
    AddError(rel_dir.empty() ? "." : rel_dir, "tree " + ToHex(tree) + ": " +
                                                  nodes.status().message());
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
      if (::mkdir(out.c_str(), 0700) != 0 && errno != EEXIST) {
        AddError(rel, std::string("mkdir: ") + std::strerror(errno));
        continue;
      }
      if (selected) {
        std::lock_guard lock(mu_);
        dirs_.emplace_back(out, n);
        result_.dirs++;
      }
      RETURN_IF_ERROR(WalkTree(*n.subtree, rel, out, selected));
      continue;
    }
    if (selected) {
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
  RETURN_IF_ERROR(WalkTree(point.tree, "", target, false));
  pool_.Drain();
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
    ApplyMetadata(it->first, it->second, false);
  }
  MaybeReportProgress(true);
  return result_;
}

}  // namespace

StatusOr<RestoreResult> Restore(Repository& repo, const RestoreOptions& options) {
  RestoreRun run(repo, options);
  return run.Run();
}

}  // namespace lifeboat::vault
