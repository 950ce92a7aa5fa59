// check: structure (every index names existing packs of the right size, every point's trees
// load and every chunk they name is indexed) and, with read_data, every byte of every pack
// (name = SHA-256 of content, header matches index, every blob decrypts and matches its ID).
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_set>

#include "engines/vault/lock.h"
#include "engines/vault/vault.h"
#include "engines/vault/work_pool.h"

namespace lifeboat::vault {

namespace {
constexpr size_t kMaxMissingReported = 50;

struct CheckRun {
  Repository& repo;
  const CheckOptions& options;
  CheckResult result;
  std::mutex mu;

  void Error(std::string e) {
    std::lock_guard lock(mu);
    result.errors.push_back(std::move(e));
  }

  void CheckTrees(const std::vector<Manifest>& points) {
    std::unordered_set<Digest, DigestHash> seen;
    size_t missing = 0;
    std::function<void(const Digest&, const std::string&, const std::string&)> walk =
        [&](const Digest& tree, const std::string& point, const std::string& dir) {
          if (!seen.insert(tree).second) {
            return;
          }
          result.trees++;
          auto blob = repo.LoadBlob(tree);
          if (!blob.ok()) {
            Error("point " + point + " directory " + (dir.empty() ? "/" : dir) + ": tree " +
                  ToHex(tree) + ": " + blob.status().message());
            return;
          }
          auto nodes = DecodeTree(*blob);
          if (!nodes.ok()) {
            Error("point " + point + " tree " + ToHex(tree) + ": " + nodes.status().message());
            return;
          }
          for (const Node& n : *nodes) {
            std::string path = dir + "/" + n.name;
            if (n.type == NodeType::kDir) {
              walk(*n.subtree, point, path);
              continue;
            }
            uint64_t covered = 0;
            for (const Extent& e : n.content) {
              if (e.is_hole()) {
                covered += e.hole;
                continue;
              }
              auto loc = repo.Lookup(e.id);
              if (!loc.has_value()) {
                if (missing++ < kMaxMissingReported) {
                  Error("point " + point + " file " + path + ": chunk " + ToHex(e.id) +
                        " is not in any index file");
                }
                covered = n.size;  // size cannot be judged without the chunk
                break;
              }
              covered += loc->entry.raw_length;
            }
            if (n.type == NodeType::kFile && covered != n.size) {
              Error("point " + point + " file " + path + ": content covers " +
                    std::to_string(covered) + " bytes but the file has " +
                    std::to_string(n.size));
            }
          }
        };
    for (const Manifest& m : points) {
      walk(m.tree, m.id.substr(0, 8), "");
    }
    if (missing > kMaxMissingReported) {
      Error(std::to_string(missing - kMaxMissingReported) + " more chunks are not indexed");
    }
  }

  void ReadPack(const Digest& id, uint64_t size,
                const std::map<Digest, std::vector<PackEntry>>& indexed_entries) {
    std::string name = PackName(id);
    auto bytes = repo.store().Get(name);
    if (!bytes.ok()) {
      Error("pack " + name + ": " + bytes.status().message());
      return;
    }
    bool damaged = ToHex(Sha256(*bytes)) != ToHex(id);
    auto header = ReadPackHeader(repo.key().encryption, *bytes, bytes->size());
    if (!header.ok()) {
      Error("pack " + name + ": header: " + header.status().message());
      return;
    }
    auto it = indexed_entries.find(id);
    std::map<Digest, PackEntry> by_id;
    for (const PackEntry& e : *header) by_id[e.id] = e;
    if (it != indexed_entries.end()) {
      for (const PackEntry& e : it->second) {
        auto h = by_id.find(e.id);
        if (h == by_id.end() || h->second.offset != e.offset || h->second.length != e.length) {
          Error("pack " + name + " " + BlobTypeName(e.type) + " blob " + ToHex(e.id) +
                ": the index and the pack header disagree");
        }
      }
    }
    size_t bad = 0;
    for (const PackEntry& e : *header) {
      auto raw = repo.DecodeBlob(e.id, e, std::string_view(*bytes).substr(e.offset, e.length), id);
      if (!raw.ok()) {
        Error(raw.status().message());
        bad++;
      }
      std::lock_guard lock(mu);
      result.blobs++;
    }
    if (damaged && bad == 0) {
      Error("pack " + name + ": content does not match its name (damaged outside any blob)");
    }
    (void)size;
  }
};
}  // namespace

StatusOr<CheckResult> Check(Repository& repo, const CheckOptions& options) {
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kShared,
                                                 SystemClock()));
  RETURN_IF_ERROR(repo.LoadIndex());
  CheckRun run{repo, options, {}, {}};
  for (const std::string& p : repo.IndexProblems()) {
    run.Error(p);
  }
  // Packs: the index's view against the store's.
  ASSIGN_OR_RETURN(auto stored, repo.store().List(kDataPrefix));
  std::map<std::string, uint64_t> stored_sizes;
  for (const auto& s : stored) stored_sizes[s.name] = s.size;
  auto indexed = repo.IndexedPacks();
  for (const auto& [id, size] : indexed) {
    std::string name = PackName(id);
    auto it = stored_sizes.find(name);
    if (it == stored_sizes.end()) {
      run.Error("pack " + name + " named by an index file is missing");
    } else if (it->second != size) {
      run.Error("pack " + name + " has " + std::to_string(it->second) +
                " bytes but the index says " + std::to_string(size) + " (truncated or damaged)");
    }
  }
  for (const auto& [name, size] : stored_sizes) {
    Digest id;
    if (!ParseDigest(std::string_view(name).substr(kDataPrefix.size()), &id) ||
        !indexed.contains(id)) {
      run.result.warnings.push_back("pack " + name +
                                    " is not named by any index (left by an interrupted run; "
                                    "prune removes it)");
    }
  }
  run.result.packs = indexed.size();

  // Points and their trees.
  ASSIGN_OR_RETURN(auto snapshot_files, repo.store().List(kSnapshotPrefix));
  std::vector<Manifest> points;
  for (const auto& f : snapshot_files) {
    auto plain = repo.LoadFile(f.name, kAadSnapshot);
    if (!plain.ok()) {
      run.Error(plain.status().message());
      continue;
    }
    auto m = DecodeManifest(*plain);
    if (!m.ok()) {
      run.Error(f.name + ": " + m.status().message());
      continue;
    }
    m->id = f.name.substr(kSnapshotPrefix.size());
    points.push_back(std::move(m).value());
  }
  run.result.points = points.size();
  run.CheckTrees(points);

  if (options.read_data) {
    std::map<Digest, std::vector<PackEntry>> entries;
    repo.ForEachBlob([&](const Digest&, const BlobLocation& loc) {
      entries[loc.pack].push_back(loc.entry);
    });
    uint64_t total = 0;
    for (const auto& [id, size] : indexed) total += size;
    std::atomic<uint64_t> done{0};
    {
      WorkPool pool(IoThreads(0));
      ByteBudget budget(64 << 20);
      for (const auto& [id, size] : indexed) {
        if (!stored_sizes.contains(PackName(id))) continue;
        budget.Acquire(size);
        pool.Submit([&, id = id, size = size] {
          run.ReadPack(id, size, entries);
          done += size;
          budget.Release(size);
        });
        if (options.progress) {
          options.progress(Progress{"check", 0, 0, done.load(), total});
        }
      }
      pool.Drain();
    }
  } else {
    run.result.blobs = repo.BlobCount();
  }
  return run.result;
}

}  // namespace lifeboat::vault
