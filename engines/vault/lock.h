#pragma once

// Vault locks (FORMAT.md §8): a file under locks/ naming host, pid and a heartbeat time.
// Backups take shared locks, prune/forget an exclusive one. A lock is stale when its heartbeat is
// older than kStaleAfter or its process is gone (same host, pid not running); stale locks are
// removed by the next process that needs the vault, so a dead process never blocks it for good.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "engines/storage/blob_store.h"

namespace lifeboat::vault {

enum class LockKind { kShared, kExclusive };

constexpr std::chrono::minutes kLockStaleAfter{30};
constexpr std::chrono::minutes kLockRefreshEvery{5};

struct LockHolder {
  std::string name;  // locks/<id>
  std::string host;
  int64_t pid = 0;
  bool exclusive = false;
  Clock::TimePoint heartbeat;
};

class VaultLock {
 public:
  // Acquires a lock or fails with kUnavailable naming the holder ("locked exclusively by
  // host=h pid=12 since ...").
  static StatusOr<std::unique_ptr<VaultLock>> Acquire(storage::BlobStore& store, LockKind kind,
                                                      const Clock& clock);
  ~VaultLock();
  VaultLock(const VaultLock&) = delete;
  VaultLock& operator=(const VaultLock&) = delete;

  std::string name() const;

 private:
  VaultLock(storage::BlobStore& store, LockKind kind, const Clock& clock, std::string name);
  void RefreshLoop();

  storage::BlobStore& store_;
  LockKind kind_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string name_;
  std::thread refresher_;
};

// Every lock file, parsed (unparseable lock files are reported as stale holders with pid 0).
StatusOr<std::vector<LockHolder>> ListLocks(storage::BlobStore& store);
bool IsStale(const LockHolder& holder, const Clock& clock);

}  // namespace lifeboat::vault
