// forget (drop manifests by retention policy) and prune (garbage-collect packs), both under the
// exclusive lock. Prune order keeps the vault valid at every instant: repacked packs are
// written, then an index naming everything kept, then old index files go, then unused packs go.
#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <unordered_set>

#include "engines/vault/blob_saver.h"
#include "engines/vault/immutability.h"
#include "engines/vault/lock.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

namespace {
struct Rule {
  int remaining;
  int64_t (*bucket)(const std::tm&);
  std::optional<int64_t> last;
};

std::tm Utc(Clock::TimePoint t) {
  std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  return tm;
}

int64_t Year(const std::tm& t) { return t.tm_year + 1900; }
int64_t Month(const std::tm& t) { return Year(t) * 100 + t.tm_mon + 1; }
int64_t Day(const std::tm& t) { return Month(t) * 100 + t.tm_mday; }
int64_t Hour(const std::tm& t) { return Day(t) * 100 + t.tm_hour; }
int64_t Week(const std::tm& t) {
  char buf[16];
  std::strftime(buf, sizeof(buf), "%G%V", &t);
  return std::stoll(buf);
}

Status CollectUsed(Repository& repo, const Digest& tree,
                   std::unordered_set<Digest, DigestHash>& used) {
  if (!used.insert(tree).second) {
    return OkStatus();
  }
  auto blob = repo.LoadBlob(tree);
  if (!blob.ok()) {
    return DataLossError("prune refused: " + blob.status().message() +
                         "; run `lifeboat vault check` first");
  }
  ASSIGN_OR_RETURN(std::vector<Node> nodes, DecodeTree(*blob));
  for (const Node& n : nodes) {
    if (n.type == NodeType::kDir) {
      RETURN_IF_ERROR(CollectUsed(repo, *n.subtree, used));
    }
    for (const Extent& e : n.content) {
      if (!e.is_hole()) used.insert(e.id);
    }
  }
  return OkStatus();
}
}  // namespace

ForgetResult ApplyRetention(std::vector<Manifest> points, const RetentionPolicy& policy) {
  std::sort(points.begin(), points.end(),
            [](const Manifest& a, const Manifest& b) { return a.time > b.time; });
  ForgetResult out;
  if (policy.empty()) {
    out.keep = std::move(points);
    return out;
  }
  Rule rules[] = {{policy.keep_hourly, Hour, {}},   {policy.keep_daily, Day, {}},
                  {policy.keep_weekly, Week, {}},   {policy.keep_monthly, Month, {}},
                  {policy.keep_yearly, Year, {}}};
  int last_left = policy.keep_last;
  for (Manifest& m : points) {
    bool keep = false;
    if (last_left > 0) {
      last_left--;
      keep = true;
    }
    std::tm tm = Utc(m.time);
    for (Rule& r : rules) {
      if (r.remaining <= 0) continue;
      int64_t b = r.bucket(tm);
      if (!r.last.has_value() || *r.last != b) {
        r.last = b;
        r.remaining--;
        keep = true;
      }
    }
    (keep ? out.keep : out.remove).push_back(std::move(m));
  }
  return out;
}

StatusOr<ForgetResult> Forget(Repository& repo, const RetentionPolicy& policy, bool dry_run,
                              const Clock& clock) {
  if (policy.empty()) {
    return InvalidArgumentError("forget needs a retention policy (--keep-last, --keep-daily, ...)");
  }
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kExclusive, clock));
  ASSIGN_OR_RETURN(auto points, ListPoints(repo));
  ForgetResult result = ApplyRetention(std::move(points), policy);
  // Immutable points stay whatever the policy says (immutability.h).
  ASSIGN_OR_RETURN(auto expiries, LockExpiries(repo.store()));
  std::erase_if(result.remove, [&](Manifest& m) {
    if (CheckDeletable(expiries, m, clock).ok()) return false;
    result.keep.push_back(std::move(m));
    return true;
  });
  if (!dry_run) {
    for (const Manifest& m : result.remove) {
      Status s = repo.store().Delete(std::string(kSnapshotPrefix) + m.id);
      if (!s.ok() && !IsNotFound(s)) return s;
    }
  }
  return result;
}

StatusOr<PruneResult> Prune(Repository& repo, const PruneOptions& options, const Clock& clock) {
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kExclusive, clock));
  RETURN_IF_ERROR(repo.LoadIndex());
  if (!repo.IndexProblems().empty()) {
    return DataLossError("prune refused: " + repo.IndexProblems().front() +
                         "; run `lifeboat vault check`");
  }
  ASSIGN_OR_RETURN(auto points, ListPoints(repo));
  std::unordered_set<Digest, DigestHash> used;
  for (const Manifest& m : points) {
    RETURN_IF_ERROR(CollectUsed(repo, m.tree, used));
  }
  // Packs holding data of immutable points are never repacked or deleted (immutability.h).
  ASSIGN_OR_RETURN(auto expiries, LockExpiries(repo.store()));
  std::unordered_set<Digest, DigestHash> locked_used;
  for (const Manifest& m : points) {
    if (!CheckDeletable(expiries, m, clock).ok()) {
      RETURN_IF_ERROR(CollectUsed(repo, m.tree, locked_used));
    }
  }
  for (const Digest& id : used) {
    if (!repo.Lookup(id).has_value()) {
      return DataLossError("prune refused: blob " + ToHex(id) +
                           " is referenced but not indexed; run `lifeboat vault check`");
    }
  }
  // Per pack: the blobs the index places there, and whether each is still used.
  struct PackUse {
    uint64_t size = 0;
    uint64_t used_bytes = 0;
    uint64_t total_bytes = 0;
    bool locked = false;
    std::vector<PackEntry> entries;
  };
  std::map<Digest, PackUse> packs;
  for (const auto& [id, size] : repo.IndexedPacks()) packs[id].size = size;
  repo.ForEachBlob([&](const Digest& id, const BlobLocation& loc) {
    PackUse& p = packs[loc.pack];
    p.entries.push_back(loc.entry);
    p.total_bytes += loc.entry.length;
    if (used.contains(id)) p.used_bytes += loc.entry.length;
    if (locked_used.contains(id)) p.locked = true;
  });
  PruneResult result;
  std::vector<Digest> to_delete;
  std::vector<PackInfo> keep;
  BlobSaver saver(repo, 2);
  for (auto& [id, use] : packs) {
    uint64_t unused = use.size - std::min(use.size, use.used_bytes);
    if (use.used_bytes == 0) {
      to_delete.push_back(id);
      result.blobs_removed += use.entries.size();
      continue;
    }
    if (use.locked ||
        static_cast<double>(unused) <= options.max_unused_fraction * static_cast<double>(use.size)) {
      std::sort(use.entries.begin(), use.entries.end(),
                [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
      keep.push_back(PackInfo{id, use.size, use.entries});
      result.packs_kept++;
      continue;
    }
    // Repack: copy the used blobs (verified) into new packs; the old pack goes later.
    ASSIGN_OR_RETURN(std::string bytes, repo.store().Get(PackName(id)));
    for (const PackEntry& e : use.entries) {
      if (!used.contains(e.id)) {
        result.blobs_removed++;
        continue;
      }
      ASSIGN_OR_RETURN(std::string raw,
                       repo.DecodeBlob(e.id, e, std::string_view(bytes).substr(e.offset, e.length),
                                       id));
      RETURN_IF_ERROR(saver.Repack(e.type, e.id, raw));
    }
    to_delete.push_back(id);
    result.packs_repacked++;
    if (options.progress) {
      options.progress(Progress{"prune", result.packs_repacked, 0, 0, 0});
    }
  }
  std::vector<std::string> old_index = repo.IndexFiles();
  if (to_delete.empty()) {
    // Only stray packs (not in any index) may remain to be removed.
    old_index.clear();
  } else {
    RETURN_IF_ERROR(saver.FlushPacks());
    for (const PackInfo& p : saver.new_packs()) keep.push_back(p);
    if (!keep.empty()) {
      RETURN_IF_ERROR(repo.SaveFile(kIndexPrefix, EncodeIndex(keep), kAadIndex).status());
    }
    for (const std::string& name : old_index) {
      Status s = repo.store().Delete(name);
      if (!s.ok() && !IsNotFound(s)) return s;
    }
  }
  std::unordered_set<Digest, DigestHash> kept_ids;
  for (const PackInfo& p : keep) kept_ids.insert(p.id);
  if (to_delete.empty()) {
    for (const auto& [id, use] : packs) kept_ids.insert(id);
  }
  ASSIGN_OR_RETURN(auto stored, repo.store().List(kDataPrefix));
  for (const auto& s : stored) {
    Digest id;
    if (ParseDigest(std::string_view(s.name).substr(kDataPrefix.size()), &id) &&
        kept_ids.contains(id)) {
      continue;
    }
    Status d = repo.store().Delete(s.name);
    if (!d.ok() && !IsNotFound(d)) return d;
    result.packs_deleted++;
    result.bytes_freed += s.size;
  }
  RETURN_IF_ERROR(repo.LoadIndex());
  return result;
}

}  // namespace lifeboat::vault
