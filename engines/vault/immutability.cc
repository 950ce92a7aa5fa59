#include "engines/vault/immutability.h"

#include <sys/stat.h>

#include <cstdlib>

#include "api/json.h"
#include "engines/storage/local_blob_store.h"
#include "engines/vault/format.h"
#include "engines/vault/lock.h"

namespace lifeboat::vault {

namespace {

constexpr mode_t kWriteBits = S_IWUSR | S_IWGRP | S_IWOTH;

std::string LedgerName(const std::string& point, Clock::TimePoint until) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch());
  return std::string(kRetentionPrefix) + point + "." + std::to_string(seconds.count());
}

// Clears the write bits of the vault's files (not locks/, which live and die with processes).
StatusOr<uint64_t> MakeReadOnly(storage::LocalBlobStore& store) {
  ASSIGN_OR_RETURN(auto files, store.List(""));
  uint64_t changed = 0;
  for (const auto& f : files) {
    if (f.name.rfind(kLockPrefix, 0) == 0) {
      continue;
    }
    std::string path = store.PathOf(f.name).string();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      continue;  // removed meanwhile (prune)
    }
    if ((st.st_mode & kWriteBits) == 0) {
      continue;
    }
    if (::chmod(path.c_str(), st.st_mode & ~kWriteBits) != 0) {
      return PermissionDeniedError("immutability: cannot make " + path + " read-only");
    }
    ++changed;
  }
  return changed;
}

}  // namespace

StatusOr<std::vector<PointLock>> ListPointLocks(storage::BlobStore& store) {
  ASSIGN_OR_RETURN(auto files, store.List(kRetentionPrefix));
  std::vector<PointLock> locks;
  for (const auto& f : files) {
    std::string_view rest = std::string_view(f.name).substr(kRetentionPrefix.size());
    size_t dot = rest.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 >= rest.size()) {
      continue;
    }
    std::string seconds(rest.substr(dot + 1));
    char* end = nullptr;
    long long value = std::strtoll(seconds.c_str(), &end, 10);
    if (end == nullptr || *end != '\0') {
      continue;
    }
    locks.push_back(PointLock{std::string(rest.substr(0, dot)),
                              Clock::TimePoint(std::chrono::seconds(value)), f.name});
  }
  return locks;
}

StatusOr<std::map<std::string, Clock::TimePoint>> LockExpiries(storage::BlobStore& store) {
  ASSIGN_OR_RETURN(auto locks, ListPointLocks(store));
  std::map<std::string, Clock::TimePoint> out;
  for (const PointLock& l : locks) {
    auto [it, inserted] = out.emplace(l.point, l.until);
    if (!inserted && l.until > it->second) {
      it->second = l.until;
    }
  }
  return out;
}

StatusOr<ImmutabilityResult> ApplyImmutability(Repository& repo, int days, const Clock& clock) {
  if (days < 1) {
    return InvalidArgumentError("immutability.days must be at least 1, got " +
                                std::to_string(days));
  }
  ASSIGN_OR_RETURN(auto points, ListPoints(repo));
  ASSIGN_OR_RETURN(auto expiries, LockExpiries(repo.store()));
  ImmutabilityResult result;
  for (const Manifest& m : points) {
    Clock::TimePoint until =
        std::chrono::time_point_cast<std::chrono::seconds>(m.time + std::chrono::hours(24) * days);
    auto it = expiries.find(m.id);
    if (it != expiries.end() && it->second >= until) {
      continue;
    }
    Json entry = {{"point", m.id},
                  {"until", FormatRfc3339(until)},
                  {"days", days},
                  {"lockedAt", FormatRfc3339(clock.Now())}};
    Status s = repo.store().Put(LedgerName(m.id, until), entry.dump() + "\n");
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
      return s;
    }
    result.points_locked += s.ok() ? 1 : 0;
  }
  if (auto* local = dynamic_cast<storage::LocalBlobStore*>(&repo.store()); local != nullptr) {
    ASSIGN_OR_RETURN(result.files_made_read_only, MakeReadOnly(*local));
  }
  return result;
}

Status CheckDeletable(const std::map<std::string, Clock::TimePoint>& expiries,
                      const Manifest& point, const Clock& clock) {
  auto it = expiries.find(point.id);
  if (it == expiries.end() || it->second <= clock.Now()) {
    return OkStatus();
  }
  return FailedPreconditionError("recovery point " + point.id + " (taken " +
                                 FormatRfc3339(point.time) + ") is immutable until " +
                                 FormatRfc3339(it->second) +
                                 " (Vault.spec.immutability); it cannot be deleted before then");
}

StatusOr<Manifest> ForgetPoint(Repository& repo, const std::string& ref, const Clock& clock) {
  ASSIGN_OR_RETURN(auto lock, VaultLock::Acquire(repo.store(), LockKind::kExclusive, clock));
  ASSIGN_OR_RETURN(Manifest point, FindPoint(repo, ref));
  ASSIGN_OR_RETURN(auto expiries, LockExpiries(repo.store()));
  RETURN_IF_ERROR(CheckDeletable(expiries, point, clock));
  Status s = repo.store().Delete(std::string(kSnapshotPrefix) + point.id);
  if (!s.ok() && s.code() != StatusCode::kNotFound) {
    return s;
  }
  return point;
}

}  // namespace lifeboat::vault
