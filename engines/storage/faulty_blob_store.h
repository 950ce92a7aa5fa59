#pragma once

// FaultyBlobStore: decorates a BlobStore and injects the faults a real device produces
// (STYLE.md §3.11): a Put that fails once a byte budget is spent (ENOSPC by default), optionally
// leaving a torn (truncated) blob behind as a non-atomic store would, and failing Gets.
#include <atomic>
#include <mutex>
#include <optional>

#include "engines/storage/blob_store.h"

namespace lifeboat::storage {

struct FaultPlan {
  // Puts succeed while the total bytes put stay within this budget; the Put that would cross it
  // fails with `put_failure` (every later Put fails too, like a full disk).
  std::optional<uint64_t> fail_after_bytes;
  StatusCode put_failure = StatusCode::kResourceExhausted;
  // The failing Put stores the bytes that fit in the budget under the final name.
  bool torn_write = false;
  // Gets of names starting with this prefix fail with kUnavailable.
  std::optional<std::string> fail_gets_with_prefix;
};

class FaultyBlobStore final : public BlobStore {
 public:
  explicit FaultyBlobStore(BlobStore& inner, FaultPlan plan = {}) : inner_(inner), plan_(plan) {}

  void SetPlan(FaultPlan plan);
  uint64_t bytes_put() const { return bytes_put_.load(); }
  int failed_puts() const { return failed_puts_.load(); }

  Status Put(std::string_view name, std::string_view data) override;
  using BlobStore::Get;
  StatusOr<std::string> Get(std::string_view name, ByteRange range) override;
  StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(std::string_view name) override { return inner_.Delete(name); }
  StatusOr<BlobInfo> Stat(std::string_view name) override { return inner_.Stat(name); }
  std::string Describe() const override { return "faulty(" + inner_.Describe() + ")"; }

 private:
  BlobStore& inner_;
  std::mutex mu_;
  FaultPlan plan_;
  std::atomic<uint64_t> bytes_put_{0};
  std::atomic<int> failed_puts_{0};
};

}  // namespace lifeboat::storage
