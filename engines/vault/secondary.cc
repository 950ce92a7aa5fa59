#include "engines/vault/secondary.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "engines/vault/format.h"
#include "engines/vault/immutability.h"

namespace lifeboat::vault {

namespace {

constexpr size_t kRecentFiles = 8;

// The SHA-256 a content-addressed file's name promises (data/, index/, snapshots/), if any.
std::optional<std::string> PromisedHash(std::string_view name) {
  for (std::string_view prefix : {kDataPrefix, kIndexPrefix, kSnapshotPrefix}) {
    if (name.substr(0, prefix.size()) == prefix) {
      std::string_view hex = name.substr(prefix.size());
      Digest d;
      if (ParseDigest(hex, &d)) {
        return std::string(hex);
      }
    }
  }
  return std::nullopt;
}

bool Intact(std::string_view name, const std::string& bytes) {
  std::optional<std::string> hash = PromisedHash(name);
  return !hash || ToHex(Sha256(bytes)) == *hash;
}

// Whether a primary failure is one the secondary may cover (not a caller's mistake).
bool Recoverable(const Status& s) {
  return s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kOutOfRange;
}

}  // namespace

StatusOr<SyncResult> SyncSecondary(Repository& primary, storage::BlobStore& secondary,
                                   ProgressFn progress) {
  SyncResult result;
  ASSIGN_OR_RETURN(result.copied, Copy(primary, secondary, std::move(progress)));
  ASSIGN_OR_RETURN(auto want, primary.store().List(kRetentionPrefix));
  ASSIGN_OR_RETURN(auto have, secondary.List(kRetentionPrefix));
  std::set<std::string> present;
  for (const auto& h : have) {
    present.insert(h.name);
  }
  for (const auto& w : want) {
    if (present.contains(w.name)) {
      continue;
    }
    ASSIGN_OR_RETURN(std::string bytes, primary.store().Get(w.name));
    Status s = secondary.Put(w.name, bytes);
    if (!s.ok() && !IsAlreadyExists(s)) {
      return s;
    }
    result.ledger_files_copied++;
  }
  return result;
}

StatusOr<double> SecondaryLagSeconds(Repository& primary, storage::BlobStore& secondary,
                                     const Clock& clock) {
  ASSIGN_OR_RETURN(auto points, ListPoints(primary));
  ASSIGN_OR_RETURN(auto have, secondary.List(kSnapshotPrefix));
  std::set<std::string> present;
  for (const auto& h : have) {
    present.insert(h.name);
  }
  std::optional<Clock::TimePoint> newest_missing;
  for (const Manifest& m : points) {
    if (present.contains(std::string(kSnapshotPrefix) + m.id)) {
      continue;
    }
    if (!newest_missing || m.time > *newest_missing) {
      newest_missing = m.time;
    }
  }
  if (!newest_missing) {
    return 0.0;
  }
  return std::max(0.0, std::chrono::duration<double>(clock.Now() - *newest_missing).count());
}

StatusOr<std::vector<StoreDifference>> CompareStores(storage::BlobStore& primary,
                                                     storage::BlobStore& secondary,
                                                     const CompareOptions& options) {
  ASSIGN_OR_RETURN(auto a, primary.List(""));
  ASSIGN_OR_RETURN(auto b, secondary.List(""));
  std::map<std::string, uint64_t> left;
  std::map<std::string, uint64_t> right;
  auto skip = [](const std::string& name) { return name.rfind(kLockPrefix, 0) == 0; };
  for (const auto& f : a) {
    if (!skip(f.name)) left[f.name] = f.size;
  }
  for (const auto& f : b) {
    if (!skip(f.name)) right[f.name] = f.size;
  }
  std::vector<StoreDifference> out;
  for (const auto& [name, size] : left) {
    auto it = right.find(name);
    if (it == right.end()) {
      out.push_back({name, "missing on the secondary " + secondary.Describe()});
      continue;
    }
    if (it->second != size) {
      out.push_back({name, "size " + std::to_string(size) + " on the primary, " +
                               std::to_string(it->second) + " on the secondary"});
      continue;
    }
    if (options.read_data) {
      ASSIGN_OR_RETURN(std::string x, primary.Get(name));
      ASSIGN_OR_RETURN(std::string y, secondary.Get(name));
      if (x != y) {
        bool x_ok = Intact(name, x);
        bool y_ok = Intact(name, y);
        out.push_back({name, std::string("content differs") +
                                 (x_ok ? "" : "; the primary's copy is damaged") +
                                 (y_ok ? "" : "; the secondary's copy is damaged")});
      }
    }
  }
  for (const auto& [name, size] : right) {
    if (!left.contains(name)) {
      out.push_back({name, "only on the secondary (pruned from the primary, or lost there)"});
    }
  }
  return out;
}

FallbackBlobStore::FallbackBlobStore(storage::BlobStore& primary, storage::BlobStore& secondary)
    : primary_(primary), secondary_(secondary) {}

Status FallbackBlobStore::Put(std::string_view name, std::string_view data) {
  return primary_.Put(name, data);
}

void FallbackBlobStore::Repair(std::string_view name, const std::string& good) {
  Status removed = primary_.Delete(name);
  if (!removed.ok() && !IsNotFound(removed)) {
    spdlog::warn("Failed to repair vault file name={} store={} error=\"{}\"", name,
                 primary_.Describe(), removed.message());
    return;
  }
  Status put = primary_.Put(name, good);
  if (put.ok()) {
    repairs_++;
    spdlog::info("Repaired vault file name={} store={} from={}", name, primary_.Describe(),
                 secondary_.Describe());
  } else {
    spdlog::warn("Failed to repair vault file name={} store={} error=\"{}\"", name,
                 primary_.Describe(), put.message());
  }
}

std::shared_ptr<const std::string> FallbackBlobStore::Recent(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [cached, bytes] : recent_) {
    if (cached == name) {
      return bytes;
    }
  }
  return nullptr;
}

StatusOr<std::shared_ptr<const std::string>> FallbackBlobStore::Whole(std::string_view name) {
  if (auto cached = Recent(name)) {
    return cached;
  }
  StatusOr<std::string> first = primary_.Get(name);
  std::shared_ptr<const std::string> good;
  if (first.ok() && Intact(name, *first)) {
    good = std::make_shared<const std::string>(std::move(*first));
  } else {
    if (!first.ok() && !Recoverable(first.status())) {
      return first.status();
    }
    // Concurrent readers of one damaged file: the first repairs it, the others reuse its copy.
    std::lock_guard<std::mutex> fallback(fallback_mu_);
    if (auto cached = Recent(name)) {
      return cached;
    }
    std::string why =
        first.ok() ? "damaged (content does not match its name)" : first.status().ToString();
    StatusOr<std::string> second = secondary_.Get(name);
    if (!second.ok() || !Intact(name, *second)) {
      if (!first.ok()) {
        return first.status();
      }
      return DataLossError("vault file " + std::string(name) + " is damaged in " +
                           primary_.Describe() + " and has no good copy in " +
                           secondary_.Describe());
    }
    fallbacks_++;
    spdlog::warn("Read vault file from the secondary name={} primary_error=\"{}\"", name, why);
    good = std::make_shared<const std::string>(std::move(*second));
    // Repair only what is wrong on a primary that answers (an unreachable one stays as it is).
    if (first.ok() || IsNotFound(first.status())) {
      Repair(name, *good);
    }
    Remember(name, good);
    return good;
  }
  Remember(name, good);
  return good;
}

void FallbackBlobStore::Remember(std::string_view name,
                                 const std::shared_ptr<const std::string>& bytes) {
  if (!PromisedHash(name)) {
    return;  // only files whose content cannot change under the same name
  }
  std::lock_guard<std::mutex> lock(mu_);
  recent_.emplace_back(std::string(name), bytes);
  if (recent_.size() > kRecentFiles) {
    recent_.erase(recent_.begin());
  }
}

StatusOr<std::string> FallbackBlobStore::Get(std::string_view name, storage::ByteRange range) {
  RETURN_IF_ERROR(storage::ValidateBlobName(name));
  ASSIGN_OR_RETURN(std::shared_ptr<const std::string> whole, Whole(name));
  ASSIGN_OR_RETURN(auto span, storage::ResolveRange(name, whole->size(), range));
  return whole->substr(span.first, span.second - span.first);
}

StatusOr<std::vector<storage::BlobInfo>> FallbackBlobStore::List(std::string_view prefix) {
  StatusOr<std::vector<storage::BlobInfo>> listed = primary_.List(prefix);
  if (listed.ok() || !Recoverable(listed.status()) || IsNotFound(listed.status())) {
    return listed;
  }
  fallbacks_++;
  spdlog::warn("Listed vault files on the secondary prefix={} primary_error=\"{}\"", prefix,
               listed.status().message());
  return secondary_.List(prefix);
}

Status FallbackBlobStore::Delete(std::string_view name) { return primary_.Delete(name); }

StatusOr<storage::BlobInfo> FallbackBlobStore::Stat(std::string_view name) {
  StatusOr<storage::BlobInfo> info = primary_.Stat(name);
  if (info.ok() || !Recoverable(info.status())) {
    return info;
  }
  StatusOr<storage::BlobInfo> other = secondary_.Stat(name);
  return other.ok() ? other : info;
}

std::string FallbackBlobStore::Describe() const {
  return primary_.Describe() + " (secondary " + secondary_.Describe() + ")";
}

}  // namespace lifeboat::vault
