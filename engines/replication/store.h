#pragma once

// The target side's storage for one replicated policy, under
// <root>/<source site>/<namespace>/<policy>/:
//   packs/<16 hex>.pack   chunk data, written once (temp name, fsync, rename); footer = index
//   points/<id>.point     one recovery point: its full manifest (zstd), temp name + fsync + rename
// The content index lives in memory, rebuilt from pack footers when the repo is opened. A pack is
// complete or absent, so an interrupted transfer keeps every batch that arrived and the next
// negotiation finds it. Retention deletes point files by age (never the latest) and then
// garbage-collects packs whose chunks no retained point references (repacking mostly-dead packs).
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engines/replication/manifest.h"

namespace lifeboat::replication {

struct HashHasher {
  size_t operator()(const Hash& h) const {
    size_t v = 0;
    for (size_t i = 0; i < sizeof(v); ++i) {
      v = (v << 8) | h[i];
    }
    return v;
  }
};

struct RepoOptions {
  // Packs younger than this are never garbage-collected: they may belong to a transfer that has
  // not committed yet.
  std::chrono::seconds gc_grace{600};
};

struct GcStats {
  // Retention found a materialise reading the repo and did nothing: it runs at a later commit.
  bool deferred = false;
  size_t points_deleted = 0;
  size_t packs_deleted = 0;
  size_t packs_rewritten = 0;
  uint64_t bytes_freed = 0;
};

struct MaterializeOptions {
  bool verify = false;  // re-hash every chunk read (slower; default trusts the verified store)
  // Only this top-level entry of the point (a volume's name) and what lies under it; empty = all.
  std::string volume;
};

struct MaterializeStats {
  uint64_t files = 0;
  uint64_t bytes = 0;  // logical bytes of the files written
};

// Validates a site, namespace or policy name used as a directory name.
Status ValidateRepoName(std::string_view what, std::string_view name);

class Repo {
 public:
  static StatusOr<std::unique_ptr<Repo>> Open(const std::filesystem::path& dir, const Clock& clock,
                                              RepoOptions options);
  ~Repo();

  const std::filesystem::path& dir() const { return dir_; }

  // The hashes of `hashes` the store does not hold, in order.
  std::vector<Hash> Missing(std::span<const Hash> hashes) const;
  // `records`: repeated [32-byte hash][u32 length][bytes]. Every hash is verified, then the batch
  // is written as one pack. kInvalidArgument on a malformed body or a hash mismatch.
  Status AddChunks(std::string_view records);
  // Commits a recovery point from a full or delta manifest: every referenced chunk must be
  // present (kFailedPrecondition otherwise, naming how many are missing). Assigns the point id.
  StatusOr<PointInfo> Commit(Manifest manifest);
  // Deletes points older than `max_age` before now (keeping the latest), then collects garbage.
  // While a materialise reads the repo (this process or another) it does nothing and answers
  // with `deferred` set: replication is never held up by a test failover.
  StatusOr<GcStats> ApplyRetention(std::chrono::seconds max_age);
  // Deletes one point (failover cleanup), then collects garbage. Waits for materialisations.
  StatusOr<GcStats> DeletePoint(const std::string& id);

  std::vector<PointInfo> Points() const;  // oldest first
  StatusOr<Manifest> LoadPoint(const std::string& id) const;
  // Writes point `id` into `target_dir` (absent or empty): byte-identical, holes stay holes.
  // Holds the repo's shared lock (<dir>/lock, flock) throughout: retention, garbage collection
  // and point deletion (which take it exclusively) neither remove nor move what it reads.
  StatusOr<MaterializeStats> Materialize(const std::string& id,
                                         const std::filesystem::path& target_dir,
                                         const MaterializeOptions& options) const;
  uint64_t stored_bytes() const;

 private:
  struct Location {
    uint32_t pack = 0;
    uint32_t length = 0;
    uint64_t offset = 0;
  };
  struct Pack {
    std::string name;
    uint64_t size = 0;
    std::chrono::system_clock::time_point mtime;
    std::vector<std::pair<Hash, Location>> entries;
    bool live = true;
  };
  Repo(std::filesystem::path dir, const Clock& clock, RepoOptions options);
  Status Load();
  // Both answer the new pack's id (its index in packs_).
  StatusOr<uint32_t> LoadPack(const std::string& name);
  StatusOr<uint32_t> WritePack(const std::vector<std::pair<Hash, std::string_view>>& chunks);
  StatusOr<GcStats> CollectGarbage(GcStats stats);
  Status ReadChunk(const Location& loc, std::string* out) const;
  int PackFd(uint32_t pack) const;

  std::filesystem::path dir_;
  const Clock& clock_;
  RepoOptions options_;
  mutable std::mutex mu_;
  std::mutex commit_mu_;  // commits, retention and GC, one at a time
  std::unordered_map<Hash, Location, HashHasher> index_;
  std::vector<Pack> packs_;
  std::map<std::string, PointInfo> points_;
  mutable std::unordered_map<uint32_t, int> fds_;
};

// Opens each repo once and hands out the same object (the receiver's request handlers share it).
class RepoSet {
 public:
  RepoSet(std::filesystem::path root, const Clock& clock, RepoOptions options);
  // The pointer stays valid until Remove of the same repo.
  StatusOr<Repo*> Get(const std::string& site, const std::string& ns, const std::string& policy);
  // Same, shared: stays usable (its files gone) when Remove runs meanwhile.
  StatusOr<std::shared_ptr<Repo>> Share(const std::string& site, const std::string& ns,
                                        const std::string& policy);
  // Deletes the replica <root>/<site>/<ns>/<policy> (after failback): waits for materialisations
  // of it, forgets the open repo, moves the directory aside and deletes it. OK when absent.
  Status Remove(const std::string& site, const std::string& ns, const std::string& policy);
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  const Clock& clock_;
  RepoOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Repo>> repos_;
};

struct PointRef {
  std::filesystem::path root;  // the receiver's --root
  std::string site;
  std::string ns;
  std::string policy;
};

// The target-side API for failover: list, materialise and delete retained points.
StatusOr<std::vector<PointInfo>> ListPoints(const PointRef& ref);
StatusOr<MaterializeStats> Materialize(const PointRef& ref, const std::string& point,
                                       const std::filesystem::path& target_dir,
                                       const MaterializeOptions& options = {});
Status DeletePoint(const PointRef& ref, const std::string& point);

}  // namespace lifeboat::replication
