// Read-only operations: list and find points, ls, diff, stats, and copy to a second store.
#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>

#include "engines/vault/lock.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

namespace {
constexpr size_t kMinPrefix = 4;

Status WalkEntries(Repository& repo, const Digest& tree, const std::string& dir,
                   const std::function<Status(const Entry&)>& fn) {
  auto blob = repo.LoadBlob(tree);
  if (!blob.ok()) {
    return blob.status().WithPrefix("tree of " + (dir.empty() ? std::string(".") : dir));
  }
  ASSIGN_OR_RETURN(std::vector<Node> nodes, DecodeTree(*blob));
  for (Node& n : nodes) {
    Entry e{dir.empty() ? n.name : dir + "/" + n.name, std::move(n)};
    RETURN_IF_ERROR(fn(e));
    if (e.node.type == NodeType::kDir) {
      RETURN_IF_ERROR(WalkEntries(repo, *e.node.subtree, e.path, fn));
    }
  }
  return OkStatus();
}

StatusOr<std::map<std::string, Node>> ChildrenOf(Repository& repo, const Digest& tree) {
  ASSIGN_OR_RETURN(std::string blob, repo.LoadBlob(tree));
  ASSIGN_OR_RETURN(std::vector<Node> nodes, DecodeTree(blob));
  std::map<std::string, Node> out;
  for (Node& n : nodes) {
    std::string name = n.name;
    out.emplace(std::move(name), std::move(n));
  }
  return out;
}

Status DiffTrees(Repository& repo, const std::optional<Digest>& a, const std::optional<Digest>& b,
                 const std::string& dir, std::vector<Change>& out) {
  if (a.has_value() && b.has_value() && *a == *b) {
    return OkStatus();  // identical subtrees: nothing below differs
  }
  std::map<std::string, Node> left, right;
  if (a.has_value()) {
    ASSIGN_OR_RETURN(left, ChildrenOf(repo, *a));
  }
  if (b.has_value()) {
    ASSIGN_OR_RETURN(right, ChildrenOf(repo, *b));
  }
  auto path_of = [&](const std::string& name) { return dir.empty() ? name : dir + "/" + name; };
  auto all_below = [&](const Node& n, char kind) -> Status {
    out.push_back({kind, path_of(n.name)});
    if (n.type == NodeType::kDir) {
      return DiffTrees(repo, kind == '-' ? n.subtree : std::nullopt,
                       kind == '+' ? n.subtree : std::nullopt, path_of(n.name), out);
    }
    return OkStatus();
  };
  for (const auto& [name, l] : left) {
    auto it = right.find(name);
    if (it == right.end()) {
      RETURN_IF_ERROR(all_below(l, '-'));
      continue;
    }
    const Node& r = it->second;
    if (l.type != r.type) {
      out.push_back({'T', path_of(name)});
      continue;
    }
    if (l.type == NodeType::kDir) {
      if (l.mode != r.mode || l.uid != r.uid || l.gid != r.gid) {
        out.push_back({'U', path_of(name)});
      }
      RETURN_IF_ERROR(DiffTrees(repo, l.subtree, r.subtree, path_of(name), out));
      continue;
    }
    bool content = l.size != r.size || l.target != r.target || l.content.size() != r.content.size();
    for (size_t i = 0; !content && i < l.content.size(); ++i) {
      content = l.content[i].id != r.content[i].id || l.content[i].hole != r.content[i].hole;
    }
    if (content) {
      out.push_back({'M', path_of(name)});
    } else if (l.mode != r.mode || l.uid != r.uid || l.gid != r.gid || l.mtime_ns != r.mtime_ns) {
      out.push_back({'U', path_of(name)});
    }
  }
  for (const auto& [name, r] : right) {
    if (!left.contains(name)) {
      RETURN_IF_ERROR(all_below(r, '+'));
    }
  }
  return OkStatus();
}
}  // namespace

StatusOr<std::vector<Manifest>> ListPoints(Repository& repo) {
  ASSIGN_OR_RETURN(auto files, repo.store().List(kSnapshotPrefix));
  std::vector<Manifest> out;
  for (const auto& f : files) {
    ASSIGN_OR_RETURN(std::string plain, repo.LoadFile(f.name, kAadSnapshot));
    auto m = DecodeManifest(plain);
    if (!m.ok()) {
      return m.status().WithPrefix(f.name);
    }
    m->id = f.name.substr(kSnapshotPrefix.size());
    out.push_back(std::move(m).value());
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
  return out;
}

StatusOr<Manifest> FindPoint(Repository& repo, const std::string& ref) {
  if (ref.empty()) {
    return InvalidArgumentError("recovery point: empty reference (use an ID or \"latest\")");
  }
  if (ref == "latest") {
    ASSIGN_OR_RETURN(auto points, ListPoints(repo));
    if (points.empty()) {
      return NotFoundError("the vault has no recovery points yet");
    }
    return points.back();
  }
  if (ref.size() < kMinPrefix) {
    return InvalidArgumentError("recovery point \"" + ref +
                                "\": give at least 4 hex digits of its ID");
  }
  ASSIGN_OR_RETURN(auto files, repo.store().List(std::string(kSnapshotPrefix) + ref));
  if (files.empty()) {
    return NotFoundError("recovery point " + ref + " not found");
  }
  if (files.size() > 1) {
    return InvalidArgumentError("recovery point prefix " + ref + " is ambiguous (" +
                                std::to_string(files.size()) + " points match)");
  }
  ASSIGN_OR_RETURN(std::string plain, repo.LoadFile(files[0].name, kAadSnapshot));
  ASSIGN_OR_RETURN(Manifest m, DecodeManifest(plain));
  m.id = files[0].name.substr(kSnapshotPrefix.size());
  return m;
}

Status Ls(Repository& repo, const std::string& point, const std::string& pattern,
          const std::function<void(const Entry&)>& fn) {
  ASSIGN_OR_RETURN(Manifest m, FindPoint(repo, point));
  return WalkEntries(repo, m.tree, "", [&](const Entry& e) {
    if (pattern.empty() || MatchPath(pattern, e.path) ||
        e.path.rfind(pattern + "/", 0) == 0 || e.path == pattern) {
      fn(e);
    }
    return OkStatus();
  });
}

StatusOr<std::vector<Change>> Diff(Repository& repo, const std::string& a, const std::string& b) {
  ASSIGN_OR_RETURN(Manifest left, FindPoint(repo, a));
  ASSIGN_OR_RETURN(Manifest right, FindPoint(repo, b));
  std::vector<Change> out;
  RETURN_IF_ERROR(DiffTrees(repo, left.tree, right.tree, "", out));
  return out;
}

StatusOr<VaultStats> Stats(Repository& repo) {
  VaultStats s;
  ASSIGN_OR_RETURN(auto points, ListPoints(repo));
  s.points = points.size();
  for (const Manifest& m : points) {
    s.logical_bytes += m.summary.bytes;
  }
  ASSIGN_OR_RETURN(auto files, repo.store().List(""));
  uint64_t packed = 0;
  for (const auto& f : files) {
    if (f.name.rfind(kLockPrefix, 0) == 0) continue;
    s.stored_bytes += f.size;
    if (f.name.rfind(kDataPrefix, 0) == 0) {
      packed += f.size;
      s.packs++;
    }
  }
  repo.ForEachBlob([&](const Digest&, const BlobLocation& loc) {
    s.blobs++;
    s.unique_bytes += loc.entry.raw_length;
  });
  s.dedup_ratio = s.stored_bytes > 0 ? static_cast<double>(s.logical_bytes) /
                                           static_cast<double>(s.stored_bytes)
                                     : 0;
  s.compression_ratio =
      packed > 0 ? static_cast<double>(s.unique_bytes) / static_cast<double>(packed) : 0;
  return s;
}

StatusOr<CopyResult> Copy(Repository& repo, storage::BlobStore& target, ProgressFn progress) {
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kShared,
                                                 SystemClock()));
  storage::BlobStore& source = repo.store();
  auto source_config = source.Get(kConfigName);
  if (!source_config.ok()) {
    return source_config.status();
  }
  auto target_config = target.Get(kConfigName);
  if (target_config.ok() && *target_config != *source_config) {
    return FailedPreconditionError("target " + target.Describe() +
                                   " holds a different vault; copy needs an empty store or a "
                                   "replica of this vault");
  }
  CopyResult result;
  auto copy_missing = [&](std::string_view prefix, bool is_pack) -> Status {
    ASSIGN_OR_RETURN(auto have, target.List(prefix));
    ASSIGN_OR_RETURN(auto want, source.List(prefix));
    std::set<std::string> present;
    for (const auto& h : have) present.insert(h.name);
    auto indexed = repo.IndexedPacks();
    uint64_t total = 0;
    for (const auto& w : want) total += present.contains(w.name) ? 0 : w.size;
    uint64_t done = 0;
    for (const auto& w : want) {
      if (present.contains(w.name)) continue;
      if (is_pack) {
        Digest id;
        if (!ParseDigest(w.name.substr(kDataPrefix.size()), &id) || !indexed.contains(id)) {
          continue;  // not referenced by any index: garbage of an interrupted run
        }
      }
      ASSIGN_OR_RETURN(std::string bytes, source.Get(w.name));
      if (is_pack && ToHex(Sha256(bytes)) != w.name.substr(kDataPrefix.size())) {
        return DataLossError("pack " + w.name + " in " + source.Describe() +
                             " does not match its name; run check --read-data");
      }
      Status s = target.Put(w.name, bytes);
      if (!s.ok() && !IsAlreadyExists(s)) return s;
      ASSIGN_OR_RETURN(auto info, target.Stat(w.name));
      if (info.size != bytes.size()) {
        return DataLossError("copy of " + w.name + " to " + target.Describe() +
                             " has the wrong size");
      }
      if (is_pack) {
        result.packs_copied++;
      } else {
        result.files_copied++;
      }
      result.bytes_copied += bytes.size();
      done += bytes.size();
      if (progress) {
        progress(Progress{"copy", 0, 0, done, total});
      }
    }
    return OkStatus();
  };
  // Keys and config first (a replica must open with the same credentials), then the write order.
  RETURN_IF_ERROR(copy_missing(kKeyPrefix, false));
  if (!target_config.ok()) {
    RETURN_IF_ERROR(target.Put(kConfigName, *source_config));
    result.files_copied++;
  }
  RETURN_IF_ERROR(copy_missing(kDataPrefix, true));
  RETURN_IF_ERROR(copy_missing(kIndexPrefix, false));
  RETURN_IF_ERROR(copy_missing(kSnapshotPrefix, false));
  return result;
}

}  // namespace lifeboat::vault
