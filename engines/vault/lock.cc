#include "engines/vault/lock.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "api/json.h"
#include "engines/vault/crypto.h"
#include "engines/vault/format.h"

namespace lifeboat::vault {

namespace {
std::string HostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

StatusOr<std::string> WriteLock(storage::BlobStore& store, LockKind kind, const Clock& clock) {
  Json doc = {{"host", HostName()},
              {"pid", static_cast<int64_t>(::getpid())},
              {"exclusive", kind == LockKind::kExclusive},
              {"heartbeat_unix",
               std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch())
                   .count()},
              {"heartbeat", FormatRfc3339(clock.Now())}};
  uint8_t id[16];
  RandomBytes(id, sizeof(id));
  std::string name = std::string(kLockPrefix) + ToHex(id, sizeof(id));
  RETURN_IF_ERROR(store.Put(name, doc.dump()));
  return name;
}

bool Conflicts(LockKind mine, const LockHolder& other) {
  return mine == LockKind::kExclusive || other.exclusive;
}
}  // namespace

StatusOr<std::vector<LockHolder>> ListLocks(storage::BlobStore& store) {
  ASSIGN_OR_RETURN(auto files, store.List(kLockPrefix));
  std::vector<LockHolder> out;
  for (const auto& f : files) {
    auto text = store.Get(f.name);
    if (!text.ok()) {
      continue;  // Removed while we listed.
    }
    LockHolder h;
    h.name = f.name;
    Json doc = Json::parse(*text, nullptr, false);
    if (doc.is_object()) {
      h.host = doc.value("host", "");
      h.pid = doc.value("pid", int64_t{0});
      h.exclusive = doc.value("exclusive", true);
      h.heartbeat = Clock::TimePoint(std::chrono::seconds(doc.value("heartbeat_unix", int64_t{0})));
    }
    out.push_back(std::move(h));
  }
  return out;
}

bool IsStale(const LockHolder& holder, const Clock& clock) {
  if (holder.pid == 0 || clock.Now() - holder.heartbeat > kLockStaleAfter) {
    return true;
  }
  if (holder.host == HostName() && holder.pid != ::getpid()) {
    return ::kill(static_cast<pid_t>(holder.pid), 0) != 0 && errno == ESRCH;
  }
  return false;
}

StatusOr<std::unique_ptr<VaultLock>> VaultLock::Acquire(storage::BlobStore& store, LockKind kind,
                                                        const Clock& clock) {
  auto check = [&](const std::string& own) -> Status {
    ASSIGN_OR_RETURN(auto holders, ListLocks(store));
    for (const LockHolder& h : holders) {
      if (h.name == own || !Conflicts(kind, h)) {
        continue;
      }
      if (IsStale(h, clock)) {
        store.Delete(h.name).IgnoreError();
        continue;
      }
      return UnavailableError(std::string("vault ") + store.Describe() + " is locked " +
                              (h.exclusive ? "exclusively" : "by a backup") + " by host=" +
                              h.host + " pid=" + std::to_string(h.pid) +
                              " (heartbeat " + FormatRfc3339(h.heartbeat) + ", lock " + h.name +
                              ")");
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(check(""));
  ASSIGN_OR_RETURN(std::string name, WriteLock(store, kind, clock));
  // Someone may have written a conflicting lock between our check and our write: check again,
  // and back off if so (both may back off; never both proceed).
  if (Status s = check(name); !s.ok()) {
    store.Delete(name).IgnoreError();
    return s;
  }
  return std::unique_ptr<VaultLock>(new VaultLock(store, kind, clock, std::move(name)));
}

VaultLock::VaultLock(storage::BlobStore& store, LockKind kind, const Clock& clock,
                     std::string name)
    : store_(store), kind_(kind), clock_(clock), name_(std::move(name)) {
  refresher_ = std::thread([this] { RefreshLoop(); });
}

VaultLock::~VaultLock() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  refresher_.join();
  store_.Delete(name_).IgnoreError();
}

std::string VaultLock::name() const {
  std::lock_guard lock(mu_);
  return name_;
}

void VaultLock::RefreshLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    clock_.WaitUntil(lock, cv_, clock_.Now() + kLockRefreshEvery, [&] { return stopping_; });
    if (stopping_) {
      return;
    }
    // Files are written once: a heartbeat is a new lock file, then the old one goes.
    std::string old = name_;
    lock.unlock();
    auto fresh = WriteLock(store_, kind_, clock_);
    lock.lock();
    if (fresh.ok()) {
      name_ = *fresh;
      store_.Delete(old).IgnoreError();
    }
  }
}

}  // namespace lifeboat::vault
